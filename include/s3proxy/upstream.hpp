#pragma once
// Connections to the upstream S3 service: TLS context, resolver and a keep-alive pool.
// One pool per worker thread, so no locking on the request path.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace s3proxy {

class Metrics;

struct UpstreamConnection {
  std::variant<plain_stream, tls_stream> stream;
  std::string host;  // the Host (and SNI name) this connection was opened for
  std::chrono::steady_clock::time_point idle_since;
  bool reused = false;

  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return lowest(s); }, stream);
  }
};
using UpstreamConnectionPtr = std::unique_ptr<UpstreamConnection>;

// Builds the client-side TLS context for https upstreams (peer verification and SNI on by default).
std::shared_ptr<ssl::context> make_upstream_tls_context(const UpstreamConfig&);

class UpstreamPool {
 public:
  UpstreamPool(asio::any_io_executor ex, const UpstreamConfig& cfg, std::shared_ptr<ssl::context> tls, Metrics& metrics);
  ~UpstreamPool();

  // An idle connection to `host` if one is alive, else a new one (resolve, connect, TLS handshake).
  asio::awaitable<std::pair<error_code, UpstreamConnectionPtr>> acquire(const std::string& host);
  // Returns a connection whose last exchange completed cleanly and may be reused.
  void release(UpstreamConnectionPtr conn);
  // Drops a connection that must not be reused (error, aborted request, Connection: close).
  void discard(UpstreamConnectionPtr conn);
  void close_idle();

 private:
  asio::any_io_executor ex_;
  const UpstreamConfig& cfg_;
  std::shared_ptr<ssl::context> tls_;
  Metrics& metrics_;
  tcp::resolver resolver_;
  std::vector<UpstreamConnectionPtr> idle_;
};

}  // namespace s3proxy
