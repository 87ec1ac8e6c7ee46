#include "s3proxy/server.hpp"

#include "s3proxy/admin.hpp"
#include "s3proxy/canary.hpp"
#include "s3proxy/audit.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/relay.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/upstream_health.hpp"
#include "s3proxy/upstream.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <iostream>
#include <list>
#include <memory>
#include <thread>

namespace s3proxy {

namespace {

using namespace std::chrono_literals;

// Requests in flight at shutdown get this long to finish (Kubernetes' default grace
// period is 30 s; leave room for the process to exit inside it).
constexpr auto kDrainTimeout = 25s;
constexpr auto kDrainPoll = 50ms;
constexpr int kListenBacklog = 1024;

tcp::endpoint endpoint_of(const HostPort& hp) {
  return {asio::ip::make_address(hp.host), hp.port};
}

struct Worker {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<UpstreamPool> pool;
  std::unique_ptr<S3Client> client;
  std::unique_ptr<WorkerState> state;
  std::thread thread;
};

asio::awaitable<void> accept_loop(Worker& w, ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await w.acceptor.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !w.acceptor.is_open()) co_return;
      continue;  // EMFILE and the like: keep serving the connections we have
    }
    if (tls) asio::co_spawn(w.ioc, serve_tls_connection(std::move(socket), *tls, *w.state), asio::detached);
    else asio::co_spawn(w.ioc, serve_connection(std::move(socket), *w.state), asio::detached);
  }
}

std::shared_ptr<ssl::context> make_server_tls(const ServerConfig& s) {
  if (s.tls_cert_file.empty()) return nullptr;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(s.tls_cert_file);
  ctx->use_private_key_file(s.tls_key_file, ssl::context::pem);
  return ctx;
}

}  // namespace

int run_server(const Config& config, AuditLog& audit, Metrics& metrics) {
  UpstreamHealth health(config.server.ready_window);
  ProxyServices services{config, audit, metrics};
  services.health = &health;
  std::atomic<bool> stopping{false};
  std::atomic<long> in_flight{0};

  std::shared_ptr<ssl::context> server_tls;
  std::shared_ptr<ssl::context> upstream_tls;
  try {
    server_tls = make_server_tls(config.server);
    if (config.upstream.scheme == Scheme::https) upstream_tls = make_upstream_tls_context(config.upstream);
  } catch (const std::exception& e) {
    std::cerr << "s3-acl-proxy: TLS set-up failed: " << e.what() << "\n";
    return 1;
  }

  const unsigned threads = effective_threads(config.server);
  std::list<Worker> workers;  // stable addresses
  try {
    const auto ep = endpoint_of(config.server.listen);
    for (unsigned i = 0; i < threads; ++i) {
      auto& w = workers.emplace_back();
      w.acceptor.open(ep.protocol());
      w.acceptor.set_option(asio::socket_base::reuse_address(true));
      int one = 1;
      ::setsockopt(w.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      if (ep.address().is_v6()) w.acceptor.set_option(asio::ip::v6_only(true));
      w.acceptor.bind(ep);
      w.acceptor.listen(kListenBacklog);
      w.pool = std::make_unique<UpstreamPool>(w.ioc.get_executor(), config.upstream, upstream_tls, metrics);
      w.client = std::make_unique<S3Client>(*w.pool, config.upstream);
      w.state = std::make_unique<WorkerState>(WorkerState{services, *w.pool, *w.client, stopping, in_flight});
    }
  } catch (const std::exception& e) {
    std::cerr << "s3-acl-proxy: cannot listen on " << to_string(config.server.listen) << ": " << e.what() << "\n";
    return 1;
  }

  // The main thread runs signals, the admin listener, the readiness probe and the canary.
  asio::io_context main_ioc{1};
  UpstreamProbe probe(main_ioc, config.upstream, upstream_tls, metrics, health,
                      config.canary ? config.canary->bucket : std::string());
  std::unique_ptr<Canary> canary;
  if (config.canary && config.canary->interval.count() > 0) {
    canary = std::make_unique<Canary>(main_ioc, config.upstream, *config.canary, upstream_tls, audit, metrics, &health);
  }
  std::unique_ptr<AdminServer> admin;
  if (config.server.admin_listen) {
    try {
      admin = std::make_unique<AdminServer>(
          main_ioc, endpoint_of(*config.server.admin_listen), metrics,
          [&health, &canary] { return readiness_reason(health, canary.get(), std::chrono::steady_clock::now()); });
    } catch (const std::exception& e) {
      std::cerr << "s3-acl-proxy: cannot listen on " << to_string(*config.server.admin_listen) << " (admin): "
                << e.what() << "\n";
      return 1;
    }
  }

  probe.start();
  if (canary) canary->start();
  for (auto& w : workers) {
    asio::co_spawn(w.ioc, accept_loop(w, server_tls.get()), asio::detached);
    w.thread = std::thread([&w] { w.ioc.run(); });
  }

  audit.event(Level::info, "start",
              boost::json::object{{"listen", to_string(config.server.listen)},
                                  {"upstream", fmt::format("{}://{}", to_string(config.upstream.scheme),
                                                           config.upstream.host_header)},
                                  {"acl_mode", to_string(config.acl.mode)},
                                  {"acl_requests", to_string(config.acl.acl_requests)},
                                  {"threads", threads}});

  asio::signal_set signals(main_ioc, SIGINT, SIGTERM);
  asio::steady_timer drain(main_ioc);
  std::chrono::steady_clock::time_point deadline;
  std::function<void()> poll_drain = [&] {
    if (in_flight.load() == 0 || std::chrono::steady_clock::now() >= deadline) {
      main_ioc.stop();
      return;
    }
    drain.expires_after(kDrainPoll);
    drain.async_wait([&](const error_code&) { poll_drain(); });
  };
  signals.async_wait([&](const error_code& ec, int signo) {
    if (ec) return;
    stopping = true;
    audit.event(Level::info, "shutdown", boost::json::object{{"signal", signo}, {"in_flight", in_flight.load()}});
    for (auto& w : workers) {
      asio::post(w.ioc, [&w] {
        error_code ignored;
        w.acceptor.close(ignored);
      });
    }
    if (admin) admin->close();
    probe.stop();
    if (canary) canary->stop();
    deadline = std::chrono::steady_clock::now() + kDrainTimeout;
    poll_drain();
  });
  main_ioc.run();

  for (auto& w : workers) {
    w.ioc.stop();
  }
  for (auto& w : workers) {
    if (w.thread.joinable()) w.thread.join();
  }
  audit.event(Level::info, "stopped", boost::json::object{{"in_flight", in_flight.load()}});
  audit.flush();
  return 0;
}

}  // namespace s3proxy
