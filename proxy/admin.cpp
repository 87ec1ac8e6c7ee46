#include "s3proxy/admin.hpp"

#include "s3proxy/metrics.hpp"
#include "s3proxy/overload.hpp"

namespace s3proxy {

namespace {
// Admin requests are tiny GETs from a scraper or a probe.
constexpr std::uint32_t kMaxAdminHeader = 8 * 1024;
constexpr auto kAdminTimeout = std::chrono::seconds(10);
}  // namespace

AdminResponse admin_route(std::string_view method, std::string_view target, const Metrics& metrics,
                          const ReadinessCheck& ready) {
  const auto path = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") return {405, "text/plain", "method not allowed\n"};
  if (path == "/healthz") return {200, "text/plain", "ok\n"};
  if (path == "/readyz") {
    if (auto why = ready ? ready() : std::nullopt) return {503, "text/plain", *why + "\n"};
    return {200, "text/plain", "ready\n"};
  }
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()};
  return {404, "text/plain", "not found\n"};
}

AdminServer::AdminServer(asio::io_context& ioc, const tcp::endpoint& ep, const Metrics& metrics, ReadinessCheck ready)
    : acceptor_(ioc, ep), metrics_(metrics), ready_(std::move(ready)) {
  asio::co_spawn(ioc, accept_loop(), asio::detached);
}

void AdminServer::close() {
  error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  AcceptBackoff backoff;
  asio::steady_timer pause(acceptor_.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      // EMFILE and the like: retrying at once would spin the main thread (see AcceptBackoff).
      pause.expires_after(backoff.failed());
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    backoff.succeeded();
    asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxAdminHeader);
    stream.expires_after(kAdminTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec) co_return;
    const auto& req = parser.get();
    auto routed = admin_route(req.method_string(), req.target(), metrics_, ready_);
    http::response<http::string_body> res{static_cast<http::status>(routed.status), req.version()};
    res.set(http::field::content_type, routed.content_type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(routed.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
    if (wec || !res.keep_alive()) co_return;
  }
}

}  // namespace s3proxy
