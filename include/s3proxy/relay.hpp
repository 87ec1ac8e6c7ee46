#pragma once
// The per-connection coroutine: read a request, verify, apply the ACL policy, re-sign,
// relay body and response, audit, keep-alive.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <atomic>
#include <chrono>
#include <functional>

namespace s3proxy {

class AuditLog;
class Metrics;
class S3Client;
class UpstreamHealth;
class UpstreamPool;

// Process-wide services shared by every worker thread (all thread-safe).
struct ProxyServices {
  const Config& config;
  AuditLog& audit;
  Metrics& metrics;
  UpstreamHealth* health = nullptr;  // told of every upstream answer (readiness)
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// What one worker thread owns: its upstream pool and the drain state.
struct WorkerState {
  ProxyServices& services;
  UpstreamPool& pool;
  S3Client& client;                   // the proxy's own requests (write verification)
  const std::atomic<bool>& stopping;  // set on SIGTERM: finish the current request, then close
  std::atomic<long>& in_flight;       // requests being handled, across all workers
};

asio::awaitable<void> serve_connection(tcp::socket socket, WorkerState& worker);
asio::awaitable<void> serve_tls_connection(tcp::socket socket, ssl::context& tls, WorkerState& worker);

}  // namespace s3proxy
