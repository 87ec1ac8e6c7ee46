#pragma once
// The admin listener (never the S3 port): GET /healthz, /readyz and /metrics.
#include "s3proxy/net.hpp"

#include <functional>
#include <optional>
#include <string>

namespace s3proxy {

class Metrics;

// Why the proxy is not ready, or nullopt when it is.
using ReadinessCheck = std::function<std::optional<std::string>()>;

struct AdminResponse {
  unsigned status;
  std::string content_type;
  std::string body;
};
// The routing, without a socket.
AdminResponse admin_route(std::string_view method, std::string_view target, const Metrics& metrics,
                          const ReadinessCheck& ready);

class AdminServer {
 public:
  AdminServer(asio::io_context& ioc, const tcp::endpoint& ep, const Metrics& metrics, ReadinessCheck ready = {});
  void close();

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);

  tcp::acceptor acceptor_;
  const Metrics& metrics_;
  ReadinessCheck ready_;
};

}  // namespace s3proxy
