#include "s3proxy/server.hpp"
#include "s3proxy/suspension.hpp"

#include "s3proxy/admin.hpp"
#include "s3proxy/audit.hpp"
#include "s3proxy/buffer_pool.hpp"
#include "s3proxy/canary.hpp"
#include "s3proxy/config_store.hpp"
#include "s3proxy/heap.hpp"
#include "s3proxy/lifecycle.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/overload.hpp"
#include "s3proxy/rate_limit.hpp"
#include "s3proxy/relay.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/upstream.hpp"
#include "s3proxy/upstream_health.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <exception>
#include <iostream>
#include <list>
#include <memory>
#include <thread>

namespace s3proxy {

// How often freed heap memory is returned to the system (heap::release_free_memory: by the
// main thread, and by every worker for its own heap where heaps are per thread): often enough
// that RSS follows the load down within seconds.
constexpr std::chrono::seconds kMemoryTrimInterval{5};

namespace {

using namespace std::chrono_literals;

constexpr int kListenBacklog = 1024;
// Once the grace period has ended every connection is closed, and their coroutines end
// (writing their audit lines) within a few turns of the event loops. This bounds the wait
// for them should one not.
constexpr auto kCancelWait = 2s;

tcp::endpoint endpoint_of(const HostPort& hp) {
  return {asio::ip::make_address(hp.host), hp.port};
}

struct Worker {
  Worker(Activity& activity, const ConfigStore& config, AuditLog& audit, Metrics& metrics)
      : connections(activity, config, audit, metrics) {}

  // Declared first so that it is destroyed last: the coroutine frames the io_context destroys
  // hold guards registered with it.
  ConnectionRegistry connections;
  BufferPool buffers;  // likewise: those frames hold buffers lent from it
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<UpstreamPool> pool;
  std::unique_ptr<S3Client> client;
  std::unique_ptr<WorkerState> state;
  std::thread thread;
};

// An exception that got past a boundary meant to catch it: never silent.
void report_escaped(AuditLog& audit, Metrics& metrics, std::string_view where, std::exception_ptr e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  metrics.internal_error();
  audit.event(Level::error, "internal_error",
              boost::json::object{{"where", where}, {"error", what.substr(0, kMaxInternalErrorText)}});
}

void spawn_connection(Worker& w, tcp::socket socket, ssl::context* tls, AuditLog& audit, Metrics& metrics) {
  // serve_connection catches everything itself; this handler only sees what its guard's
  // constructor might throw (an allocation failure).
  auto on_done = [&audit, &metrics](std::exception_ptr e) {
    if (e) report_escaped(audit, metrics, "connection", e);
  };
  if (tls) asio::co_spawn(w.ioc, serve_tls_connection(std::move(socket), *tls, *w.state), on_done);
  else asio::co_spawn(w.ioc, serve_connection(std::move(socket), *w.state), on_done);
}

asio::awaitable<void> accept_loop(Worker& w, ssl::context* tls, AuditLog& audit, Metrics& metrics) {
  AcceptBackoff backoff;
  asio::steady_timer pause(w.ioc);
  while (w.acceptor.is_open()) {
    auto [ec, socket] = co_await w.acceptor.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !w.acceptor.is_open()) co_return;
      // EMFILE and the like: the pending connection stays in the backlog, so retrying at once
      // would spin. Pause, doubling up to a second, and report once per burst.
      metrics.accept_error();
      const auto delay = backoff.failed();
      if (backoff.burst_started()) {
        audit.event(Level::error, "accept_failed",
                    boost::json::object{{"error", ec.message()}, {"errno", ec.value()},
                                        {"max_retry_ms", AcceptBackoff::kMaxPause.count()}});
      }
      pause.expires_after(delay);
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    if (auto failures = backoff.succeeded()) {
      audit.event(Level::info, "accept_recovered", boost::json::object{{"failed_accepts", *failures}});
    }
    try {
      spawn_connection(w, std::move(socket), tls, audit, metrics);
    } catch (...) {
      report_escaped(audit, metrics, "accept", std::current_exception());
    }
  }
}

// The worker's buffer pool gives back, once a period, what the last period did not need, and
// the worker's heap what is free in it.
asio::awaitable<void> trim_memory_now_and_then(Worker& w) {
  asio::steady_timer tick(w.ioc);
  for (;;) {
    tick.expires_after(kMemoryTrimInterval);
    auto [ec] = co_await tick.async_wait(use_nothrow);
    if (ec) co_return;
    w.buffers.trim();
    if constexpr (heap::kHeapPerThread) heap::release_free_memory();
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

// SIGHUP: reopen the audit file, then load the configuration file again and install it if
// it is valid and changes nothing that needs a restart.
void reload(ConfigStore& store, const ConfigLoader& load, AuditLog& audit, Metrics& metrics, RateLimiter& limiter) {
  if (auto why = audit.reopen()) {
    std::cerr << "s3-acl-proxy: cannot reopen the audit log, still writing to the old file: " << *why << "\n";
    audit.event(Level::error, "audit_reopen_failed", boost::json::object{{"error", *why}});
  }
  if (!load) return;
  const auto refuse = [&](const ConfigError& e) {
    metrics.config_reload(false);
    // ConfigError never holds a secret (config.hpp).
    audit.event(Level::error, "reload_failed",
                boost::json::object{{"key", e.key}, {"message", e.message}, {"kept", "the running configuration"}});
  };
  auto loaded = load();
  if (auto* e = std::get_if<ConfigError>(&loaded)) return refuse(*e);
  if (auto e = store.replace(std::move(std::get<Config>(loaded)))) return refuse(*e);

  const auto now = store.current();
  audit.set_min_level(min_level_of(now->audit.level));
  std::vector<std::string> keys;
  boost::json::array ids;
  for (const auto& c : now->clients) {
    keys.push_back(c.access_key_id);
    ids.emplace_back(c.access_key_id);
  }
  limiter.retain(keys);
  metrics.config_reload(true);
  audit.event(Level::info, "reload",
              boost::json::object{{"clients", std::move(ids)},
                                  {"upstream_access_key_id", now->upstream.access_key_id},
                                  {"acl_mode", to_string(now->acl.mode)},
                                  {"acl_requests", to_string(now->acl.acl_requests)},
                                  {"audit_level", now->audit.level}});
}

}  // namespace

int run_server(const Config& config, AuditLog& audit, Metrics& metrics, ConfigLoader load) {
  // `config` holds what is bound at start-up (listeners, threads, TLS, endpoint, canary);
  // everything read per request comes from the store, which a reload may update.
  ConfigStore store(config);
  audit.set_min_level(min_level_of(config.audit.level));
  UpstreamHealth health(config.server.ready_window);
  RateLimiter limiter;
  Activity activity;
  ProxyServices services{store, audit, metrics};
  services.health = &health;
  services.limiter = &limiter;
  suspension::TagGate tag_gate;
  services.tag_gate = &tag_gate;
  std::atomic<bool> stopping{false};

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
      auto& w = workers.emplace_back(activity, store, audit, metrics);
      w.acceptor.open(ep.protocol());
      w.acceptor.set_option(asio::socket_base::reuse_address(true));
      int one = 1;
      ::setsockopt(w.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      if (ep.address().is_v6()) w.acceptor.set_option(asio::ip::v6_only(true));
      w.acceptor.bind(ep);
      w.acceptor.listen(kListenBacklog);
      w.pool = std::make_unique<UpstreamPool>(w.ioc.get_executor(), config.upstream, upstream_tls, metrics);
      w.client = std::make_unique<S3Client>(*w.pool, store.upstream_source());
      w.state = std::make_unique<WorkerState>(WorkerState{services, *w.pool, *w.client, stopping, w.connections, w.buffers});
    }
  } catch (const std::exception& e) {
    std::cerr << "s3-acl-proxy: cannot listen on " << to_string(config.server.listen) << ": " << e.what() << "\n";
    return 1;
  }

  // The main thread runs signals, the admin listener, the readiness probe and the canary.
  asio::io_context main_ioc{1};
  UpstreamProbe probe(main_ioc, store.upstream_source(), upstream_tls, metrics, health,
                      config.canary ? config.canary->bucket : std::string());
  std::unique_ptr<Canary> canary;
  if (config.canary && config.canary->interval.count() > 0) {
    canary = std::make_unique<Canary>(main_ioc, store.upstream_source(), *config.canary, upstream_tls, audit,
                                      metrics, &health);
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

  // An allocator keeps what a burst freed for the next one: after 200 concurrent uploads glibc
  // held about 40 MiB that RSS would never lose. Handing free pages back now and then bounds
  // it; the workers do the same for their own heaps (trim_memory_now_and_then).
  asio::steady_timer trim_timer(main_ioc);
  std::function<void()> trim_later = [&] {
    trim_timer.expires_after(kMemoryTrimInterval);
    trim_timer.async_wait([&](const error_code& ec) {
      if (ec) return;
      heap::release_free_memory();
      trim_later();
    });
  };
  trim_later();
  for (auto& w : workers) {
    asio::co_spawn(w.ioc, accept_loop(w, server_tls.get(), audit, metrics), [&audit, &metrics](std::exception_ptr e) {
      if (e) report_escaped(audit, metrics, "accept", e);
    });
    asio::co_spawn(w.ioc, trim_memory_now_and_then(w), [&audit, &metrics](std::exception_ptr e) {
      if (e) report_escaped(audit, metrics, "trim", e);
    });
    w.thread = std::thread([&w, &audit, &metrics] {
      // A handler that throws ends run(); report it and keep the worker serving.
      for (;;) {
        try {
          w.ioc.run();
          return;
        } catch (...) {
          report_escaped(audit, metrics, "worker", std::current_exception());
        }
      }
    });
  }

  audit.event(Level::info, "start",
              boost::json::object{{"listen", to_string(config.server.listen)},
                                  {"upstream", fmt::format("{}://{}", to_string(config.upstream.scheme),
                                                           config.upstream.host_header)},
                                  {"acl_mode", to_string(config.acl.mode)},
                                  {"acl_requests", to_string(config.acl.acl_requests)},
                                  {"threads", threads},
                                  {"allocator", heap::allocator_name()},
                                  {"max_connections", config.server.max_connections},
                                  {"shutdown_grace_ms", config.server.shutdown_grace.count()}});

  // SIGHUP: reopen the audit file and reload the configuration, as often as it comes.
  asio::signal_set hangup(main_ioc, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](const error_code& ec, int) {
      if (ec) return;
      reload(store, load, audit, metrics, limiter);
      await_hangup();
    });
  };
  await_hangup();

  // SIGTERM/SIGINT: drain, then cancel what the grace period did not see finish. A second
  // signal ends the grace period at once.
  asio::signal_set signals(main_ioc, SIGINT, SIGTERM);
  asio::steady_timer deadline(main_ioc);
  bool draining = false, cancelling = false;
  const auto stop_when_quiet = [&] {
    if (draining && activity.connections() == 0) main_ioc.stop();
  };
  const auto cancel_the_rest = [&] {
    if (cancelling) return;
    cancelling = true;
    for (auto& w : workers) {
      asio::post(w.ioc, [&w] {
        w.connections.cancel_all();
        w.pool->cancel_all();
      });
    }
    deadline.expires_after(kCancelWait);
    deadline.async_wait([&](const error_code& ec) {
      if (!ec) main_ioc.stop();
    });
  };
  std::function<void()> await_signal = [&] {
    signals.async_wait([&](const error_code& ec, int signo) {
      if (ec) return;
      if (draining) {
        cancel_the_rest();
        return;
      }
      draining = true;
      stopping = true;
      const auto grace = store.current()->server.shutdown_grace;
      audit.event(Level::info, "shutdown",
                  boost::json::object{{"signal", signo},
                                      {"in_flight", activity.requests()},
                                      {"connections", activity.connections()},
                                      {"shutdown_grace_ms", grace.count()}});
      activity.watch_drain([&] { asio::post(main_ioc, stop_when_quiet); });
      for (auto& w : workers) {
        asio::post(w.ioc, [&w] {
          error_code ignored;
          w.acceptor.close(ignored);
          w.connections.close_idle();
        });
      }
      hangup.cancel();
      if (admin) admin->close();
      probe.stop();
      if (canary) canary->stop();
      deadline.expires_after(grace);
      deadline.async_wait([&](const error_code& dec) {
        if (!dec) cancel_the_rest();
      });
      asio::post(main_ioc, stop_when_quiet);
      await_signal();
    });
  };
  await_signal();
  main_ioc.run();

  for (auto& w : workers) w.ioc.stop();
  for (auto& w : workers) {
    if (w.thread.joinable()) w.thread.join();
  }
  audit.event(Level::info, "stopped",
              boost::json::object{{"in_flight", activity.requests()},
                                  {"connections", activity.connections()},
                                  {"cancelled", activity.cut_by_shutdown()}});
  audit.flush();
  return 0;
}

}  // namespace s3proxy
