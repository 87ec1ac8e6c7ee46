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
class BufferPool;
class ConfigStore;
class ConnectionRegistry;
class Metrics;
class RateLimiter;
class S3Client;
class UpstreamHealth;
class UpstreamPool;
namespace suspension {
class TagGate;
}

// Process-wide services shared by every worker thread (all thread-safe).
struct ProxyServices {
  ConfigStore& config;  // the running configuration; each request takes a snapshot of it
  AuditLog& audit;
  Metrics& metrics;
  UpstreamHealth* health = nullptr;  // told of every upstream answer (readiness)
  RateLimiter* limiter = nullptr;    // per-access-key request rates; null: no limits
  suspension::TagGate* tag_gate = nullptr;  // one tag update per object at a time; null: none
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// What one worker thread owns: its upstream pool, its connections and the drain state.
struct WorkerState {
  ProxyServices& services;
  UpstreamPool& pool;
  S3Client& client;                   // the proxy's own requests (write verification)
  const std::atomic<bool>& stopping;  // set on SIGTERM: finish the current request, then close
  ConnectionRegistry& connections;    // this worker's client connections (shutdown reaches them here)
  BufferPool& buffers;                // body buffers, lent per request
};

// The boundary of a connection's coroutine: nothing escapes it. An exception from the
// session is caught here, written as one internal_error audit record, and the connection
// closed; the worker keeps serving. A connection over server.max_connections (or arriving
// during shutdown) is answered 503 SlowDown and closed.
asio::awaitable<void> serve_connection(tcp::socket socket, WorkerState& worker);
asio::awaitable<void> serve_tls_connection(tcp::socket socket, ssl::context& tls, WorkerState& worker);

}  // namespace s3proxy
