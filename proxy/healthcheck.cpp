#include "s3proxy/healthcheck.hpp"

#include "s3proxy/cli.hpp"
#include "s3proxy/net.hpp"

#include <ostream>

namespace s3proxy {

namespace {

// /healthz answers "ok\n"; anything much larger is not the proxy's admin listener.
constexpr std::uint32_t kMaxHealthzBody = 4 * 1024;

struct ProbeResult {
  unsigned status = 0;  // 0: no HTTP answer
  std::string error;    // why there was none
};

asio::awaitable<ProbeResult> probe(HostPort target) {
  const auto ex = co_await asio::this_coro::executor;
  error_code ec;
  const auto address = asio::ip::make_address(target.host, ec);
  if (ec) co_return ProbeResult{0, "bad address " + target.host + ": " + ec.message()};
  beast::tcp_stream stream(ex);
  stream.expires_after(kHealthcheckTimeout);
  std::tie(ec) = co_await stream.async_connect(tcp::endpoint(address, target.port), use_nothrow);
  if (ec) co_return ProbeResult{0, "connect: " + ec.message()};
  http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, to_string(target));
  req.set(http::field::connection, "close");
  std::size_t n = 0;
  std::tie(ec, n) = co_await http::async_write(stream, req, use_nothrow);
  if (ec) co_return ProbeResult{0, "write: " + ec.message()};
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxHealthzBody);
  std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (ec) co_return ProbeResult{0, "read: " + ec.message()};
  co_return ProbeResult{parser.get().result_int(), {}};
}

}  // namespace

std::variant<HostPort, std::string> healthcheck_target(const std::optional<HostPort>& admin_listen) {
  if (!admin_listen) return std::string("server.admin_listen is not set: there is no /healthz to probe");
  if (admin_listen->port == 0)
    return std::string("server.admin_listen has port 0 (picked at start): there is no known port to probe");
  HostPort target = *admin_listen;
  if (target.host == "0.0.0.0") target.host = "127.0.0.1";
  if (target.host == "::") target.host = "::1";
  return target;
}

int run_healthcheck_command(const Config& config, std::ostream& out, std::ostream& err) {
  auto chosen = healthcheck_target(config.server.admin_listen);
  if (auto* why = std::get_if<std::string>(&chosen)) {
    err << "s3-acl-proxy healthcheck: " << *why << "\n";
    return kExitBadUsage;
  }
  const HostPort target = std::get<HostPort>(chosen);
  const std::string url = "http://" + to_string(target) + "/healthz";
  asio::io_context ioc;
  std::optional<ProbeResult> result;
  asio::co_spawn(ioc, probe(target), [&](std::exception_ptr e, ProbeResult r) {
    if (e) r = ProbeResult{0, "internal error"};
    result = std::move(r);
  });
  // The stream's own deadline ends every step; this bounds the whole probe all the same.
  ioc.run_for(kHealthcheckTimeout + std::chrono::seconds(1));
  if (!result) result = ProbeResult{0, "no answer within the timeout"};
  if (result->status == 200) {
    out << "healthy: " << url << " answered 200\n";
    return kExitOk;
  }
  if (result->status != 0)
    err << "s3-acl-proxy healthcheck: " << url << " answered " << result->status << "\n";
  else
    err << "s3-acl-proxy healthcheck: " << url << ": " << result->error << "\n";
  return kExitRuntimeFailure;
}

}  // namespace s3proxy
