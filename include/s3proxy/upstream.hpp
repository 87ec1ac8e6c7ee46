#pragma once
// Connections to the upstream S3 service: TLS context, resolver and a keep-alive pool.
// One pool per worker thread, so no locking on the request path.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_set>
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
  bool counted = false;          // connected and counted in the upstream_connections gauge

  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return lowest(s); }, stream);
  }
};
using UpstreamConnectionPtr = std::unique_ptr<UpstreamConnection>;

// Builds the client-side TLS context for https upstreams (peer verification and SNI on by default).
std::shared_ptr<ssl::context> make_upstream_tls_context(const UpstreamConfig&);

// Idle connections are swept every kIdleSweepInterval while there are any: one the upstream
// closed (or sent anything to, which no request asked for) is dropped then, rather than
// sitting in CLOSE_WAIT until the next request finds it dead. A sweep, not a readiness wait
// per connection: a wait costs an epoll_ctl and a cancelled handler on every request.
class UpstreamPool {
 public:
  // Bounds how long a connection the upstream closed stays in CLOSE_WAIT here.
  static constexpr std::chrono::milliseconds kIdleSweepInterval{500};

  // Keeps its own copy of the connection settings (endpoint, timeouts, TLS; no secret):
  // the pool outlives any one configuration snapshot.
  UpstreamPool(asio::any_io_executor ex, const UpstreamConfig& cfg, std::shared_ptr<ssl::context> tls, Metrics& metrics);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `host` if one is alive, else a new one (resolve, connect, TLS
  // handshake). `fresh`: always a new one (a retry after a pooled connection turned out dead:
  // the others may be as dead, after the upstream restarted).
  asio::awaitable<std::pair<error_code, UpstreamConnectionPtr>> acquire(const std::string& host, bool fresh = false);
  // Returns a connection whose last exchange completed cleanly and may be reused.
  void release(UpstreamConnectionPtr conn);
  // Drops a connection that must not be reused (error, aborted request, Connection: close).
  void discard(UpstreamConnectionPtr conn);
  // Closes every idle connection (and ends the sweeps, so a run() of the executor can return).
  void close_idle();
  // The end of a shutdown's grace period: closes every connection handed out and not yet
  // returned (their exchanges end with an error at once) and refuses new ones.
  void cancel_all();

  [[nodiscard]] std::size_t idle_count() const { return idle_.size(); }
  [[nodiscard]] std::size_t in_use_count() const { return in_use_.size(); }

 private:
  void arm_sweep();
  void sweep_idle();
  void close_socket(UpstreamConnection& conn);

  asio::any_io_executor ex_;
  UpstreamConfig cfg_;
  std::shared_ptr<ssl::context> tls_;
  Metrics& metrics_;
  tcp::resolver resolver_;
  std::vector<UpstreamConnectionPtr> idle_;
  std::unordered_set<UpstreamConnection*> in_use_;
  asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
  bool cancelled_ = false;
  // A sweep whose timer expired just before the pool's end may still be queued; it checks this first.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace s3proxy
