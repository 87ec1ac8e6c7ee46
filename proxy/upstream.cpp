#include "s3proxy/upstream.hpp"

#include "s3proxy/metrics.hpp"

#include <openssl/ssl.h>

#include <algorithm>

#include <sys/socket.h>

namespace s3proxy {

namespace {

// An idle upstream connection older than this is closed rather than reused: servers
// drop idle keep-alive connections (AWS after about 20 s, RGW's beast frontend after its
// request_timeout_ms, 65 s by default), and a request sent into a closing connection fails
// for no reason.
constexpr std::chrono::seconds kMaxIdleAge{15};
// A connection idle longer than this is checked for a close (one recv) before it is reused.
// One returned moments ago is not: a server closes a keep-alive connection after seconds of
// idleness (RGW 65 s, AWS about 20 s, nginx 75 s) or says so in the response it just sent,
// and under load the check was one system call more per request. Either way the sweep looks
// at every idle connection within kIdleSweepInterval, and a request on a connection found
// dead before any of its body moved is retried once on a fresh one.
constexpr std::chrono::milliseconds kCheckAfterIdle{100};

// True when the peer has not closed an idle connection (no EOF and no stray bytes pending).
bool still_open(beast::tcp_stream& s) {
  auto& sock = s.socket();
  if (!sock.is_open()) return false;
  char byte;
  const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::shared_ptr<ssl::context> make_upstream_tls_context(const UpstreamConfig& cfg) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (cfg.verify_peer) {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!cfg.ca_file.empty()) ctx->load_verify_file(cfg.ca_file);
    else ctx->set_default_verify_paths();
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

UpstreamPool::UpstreamPool(asio::any_io_executor ex, const UpstreamConfig& cfg, std::shared_ptr<ssl::context> tls,
                           Metrics& metrics)
    : ex_(std::move(ex)), cfg_(cfg), tls_(std::move(tls)), metrics_(metrics), resolver_(ex_), sweep_timer_(ex_) {
  cfg_.secret_access_key = Secret();  // the pool connects; it never signs
}

UpstreamPool::~UpstreamPool() {
  close_idle();
  for (auto* conn : in_use_) close_socket(*conn);  // owned by requests that will never run again
}

void UpstreamPool::close_idle() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& c : idle) discard(std::move(c));
  sweep_timer_.cancel();
  sweep_armed_ = false;
}

void UpstreamPool::cancel_all() {
  cancelled_ = true;
  close_idle();
  // The requests holding these still own them and hand them back to discard().
  for (auto* conn : in_use_) close_socket(*conn);
}

asio::awaitable<std::pair<error_code, UpstreamConnectionPtr>> UpstreamPool::acquire(const std::string& host,
                                                                                bool fresh) {
  if (cancelled_) co_return std::pair{error_code(asio::error::operation_aborted), UpstreamConnectionPtr{}};
  const auto now = std::chrono::steady_clock::now();
  while (!fresh && !idle_.empty()) {
    // Most recently used first: it is the least likely to have been closed.
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    const auto idle_for = now - conn->idle_since;
    if (conn->host == host && idle_for < kMaxIdleAge && (idle_for < kCheckAfterIdle || still_open(conn->tcp()))) {
      conn->reused = true;
      metrics_.upstream_connection_reused();
      in_use_.insert(conn.get());
      co_return std::pair{error_code{}, std::move(conn)};
    }
    discard(std::move(conn));
  }

  const std::string port = std::to_string(cfg_.port);  // named: see relay.cpp on temporaries in co_await
  auto [rec, endpoints] = co_await resolver_.async_resolve(cfg_.host, port, use_nothrow);
  if (rec) co_return std::pair{rec, UpstreamConnectionPtr{}};
  if (cancelled_) co_return std::pair{error_code(asio::error::operation_aborted), UpstreamConnectionPtr{}};

  auto conn = std::make_unique<UpstreamConnection>(UpstreamConnection{
      cfg_.scheme == Scheme::https ? std::variant<plain_stream, tls_stream>(std::in_place_type<tls_stream>, ex_, *tls_)
                                   : std::variant<plain_stream, tls_stream>(std::in_place_type<plain_stream>, ex_),
      host, now, false});
  auto& tcp = conn->tcp();
  in_use_.insert(conn.get());  // from here on a shutdown can cut the connect and the handshake
  tcp.expires_after(cfg_.connect_timeout);
  auto [cec, ep] = co_await tcp.async_connect(endpoints, use_nothrow);
  if (cec || !tcp.socket().is_open()) {
    in_use_.erase(conn.get());
    co_return std::pair{cec ? cec : error_code(asio::error::operation_aborted), UpstreamConnectionPtr{}};
  }
  tcp.socket().set_option(tcp::no_delay(true));
  metrics_.upstream_connection(+1);
  conn->counted = true;

  if (auto* tls = std::get_if<tls_stream>(&conn->stream)) {
    // SNI and host name verification use the name the request addresses (bucket.host in
    // virtual-hosted style); strip a :port suffix.
    std::string name = host.substr(0, host.rfind(':') != std::string::npos && host.front() != '[' ? host.rfind(':')
                                                                                                  : host.size());
    if (!SSL_set_tlsext_host_name(tls->native_handle(), name.c_str())) {
      discard(std::move(conn));
      co_return std::pair{error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()),
                          UpstreamConnectionPtr{}};
    }
    if (cfg_.verify_peer) tls->set_verify_callback(ssl::host_name_verification(name));
    auto [hec] = co_await tls->async_handshake(ssl::stream_base::client, use_nothrow);
    if (hec) {
      discard(std::move(conn));
      co_return std::pair{hec, UpstreamConnectionPtr{}};
    }
  }
  co_return std::pair{error_code{}, std::move(conn)};
}

void UpstreamPool::release(UpstreamConnectionPtr conn) {
  if (!conn) return;
  if (cancelled_ || idle_.size() >= cfg_.max_idle_connections || !conn->tcp().socket().is_open()) {
    discard(std::move(conn));
    return;
  }
  in_use_.erase(conn.get());
  conn->idle_since = std::chrono::steady_clock::now();
  conn->tcp().expires_never();
  idle_.push_back(std::move(conn));
  arm_sweep();
}

void UpstreamPool::discard(UpstreamConnectionPtr conn) {
  if (!conn) return;
  in_use_.erase(conn.get());
  close_socket(*conn);
}

void UpstreamPool::close_socket(UpstreamConnection& conn) {
  auto& socket = conn.tcp().socket();
  if (socket.is_open()) {
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
  // Once per connection, and only for one that got as far as being counted (a shutdown may
  // close one while it is still connecting).
  if (conn.counted) metrics_.upstream_connection(-1);
  conn.counted = false;
}

void UpstreamPool::arm_sweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(kIdleSweepInterval);
  // Aborted: the pool closed its idle connections or is being destroyed; touch nothing.
  sweep_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const error_code& ec) {
    if (ec || alive.expired()) return;
    sweep_armed_ = false;
    sweep_idle();
  });
}

void UpstreamPool::sweep_idle() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<UpstreamConnectionPtr> keep;
  keep.reserve(idle_.size());
  for (auto& conn : idle_) {
    // Readable while idle means EOF, a reset or bytes no request asked for: never reusable.
    const bool closed_by_peer = !still_open(conn->tcp());
    if (!closed_by_peer && now - conn->idle_since < kMaxIdleAge) {
      keep.push_back(std::move(conn));
      continue;
    }
    if (closed_by_peer) metrics_.upstream_idle_closed();
    discard(std::move(conn));
  }
  idle_ = std::move(keep);
  if (!idle_.empty()) arm_sweep();
}

}  // namespace s3proxy
