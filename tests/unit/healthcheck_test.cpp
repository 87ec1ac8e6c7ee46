#include "s3proxy/healthcheck.hpp"

#include "s3proxy/net.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>

namespace s3proxy {
namespace {

HostPort target(const std::optional<HostPort>& admin) {
  auto r = healthcheck_target(admin);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *e;
    return {};
  }
  return std::get<HostPort>(r);
}

TEST(HealthcheckTarget, WildcardIPv4IsProbedOnLoopback) {
  EXPECT_EQ(target(HostPort{"0.0.0.0", 9090}), (HostPort{"127.0.0.1", 9090}));
}

TEST(HealthcheckTarget, WildcardIPv6IsProbedOnLoopback) {
  EXPECT_EQ(target(HostPort{"::", 9090}), (HostPort{"::1", 9090}));
}

TEST(HealthcheckTarget, SpecificAddressIsProbedAsGiven) {
  EXPECT_EQ(target(HostPort{"10.1.2.3", 9191}), (HostPort{"10.1.2.3", 9191}));
}

TEST(HealthcheckTarget, NoAdminListenerIsAnError) {
  auto r = healthcheck_target(std::nullopt);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("server.admin_listen is not set"), std::string::npos);
}

TEST(HealthcheckTarget, PortZeroIsAnError) {
  EXPECT_TRUE(std::holds_alternative<std::string>(healthcheck_target(HostPort{"127.0.0.1", 0})));
}

// One connection on a loopback port, answered with `response` after reading the request.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response)
      : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), response_(std::move(response)) {
    thread_ = std::thread([this] {
      error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec) return;
      beast::flat_buffer buf;
      http::request<http::empty_body> req;
      http::read(s, buf, req, ec);
      target_ = std::string(req.target());
      asio::write(s, asio::buffer(response_), ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    });
  }
  ~OneShotServer() { join(); }
  std::uint16_t port() const { return port_; }
  // The request target the server read; waits for the connection to end.
  std::string target() {
    join();
    return target_;
  }

 private:
  void join() {
    if (!thread_.joinable()) return;
    error_code ec;
    acceptor_.close(ec);  // an accept never reached ends here
    thread_.join();
  }
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = acceptor_.local_endpoint().port();
  std::string response_;
  std::string target_;
  std::thread thread_;
};

Config with_admin(std::uint16_t port) {
  Config c;
  c.server.admin_listen = HostPort{"0.0.0.0", port};
  return c;
}

TEST(HealthcheckCommand, ExitsZeroWhenHealthzAnswers200) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_healthcheck_command(with_admin(server.port()), out, err), 0) << err.str();
  EXPECT_EQ(server.target(), "/healthz");
  EXPECT_NE(out.str().find("/healthz answered 200"), std::string::npos) << out.str();
}

TEST(HealthcheckCommand, ExitsOneWhenHealthzAnswersOtherwise) {
  OneShotServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_healthcheck_command(with_admin(server.port()), out, err), 1);
  EXPECT_NE(err.str().find("answered 503"), std::string::npos) << err.str();
}

TEST(HealthcheckCommand, ExitsOneWhenNothingListens) {
  std::uint16_t port = 0;
  {
    OneShotServer closed("");
    port = closed.port();
  }
  std::ostringstream out, err;
  EXPECT_EQ(run_healthcheck_command(with_admin(port), out, err), 1);
  EXPECT_NE(err.str().find("connect:"), std::string::npos) << err.str();
}

TEST(HealthcheckCommand, ExitsOneWhenTheAnswerIsNotHttp) {
  OneShotServer server("SSH-2.0-OpenSSH_9.2\r\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_healthcheck_command(with_admin(server.port()), out, err), 1);
  EXPECT_NE(err.str().find("read:"), std::string::npos) << err.str();
}

TEST(HealthcheckCommand, ExitsTwoWithoutAdminListener) {
  std::ostringstream out, err;
  EXPECT_EQ(run_healthcheck_command(Config{}, out, err), 2);
  EXPECT_NE(err.str().find("server.admin_listen is not set"), std::string::npos);
}

}  // namespace
}  // namespace s3proxy
