// Connection lifecycle: guards and counts, the coroutine boundary (an exception closes one
// connection, is audited, and the worker keeps serving), the connection cap, and the
// shutdown's cancellation of what is still in flight -- the last three over real loopback
// sockets against serve_connection itself.
#include "s3proxy/lifecycle.hpp"

#include "s3proxy/audit.hpp"
#include "s3proxy/buffer_pool.hpp"
#include "s3proxy/config_store.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/overload.hpp"
#include "s3proxy/relay.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/upstream.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <thread>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kClientKey = "AKIALIFECYCLETEST01";
constexpr std::string_view kClientSecret = "lifecycle-test-client-secret";

Config test_config(std::uint16_t upstream_port) {
  Config c;
  c.server.listen = {"127.0.0.1", 0};
  c.upstream.host = "127.0.0.1";
  c.upstream.port = upstream_port;
  c.upstream.host_header = "127.0.0.1:" + std::to_string(upstream_port);
  c.upstream.region = "us-east-1";
  c.upstream.access_key_id = "AKIAUPSTREAMTEST0001";
  c.upstream.secret_access_key = Secret("upstream-test-secret");
  c.clients.push_back(ClientKey{std::string(kClientKey), Secret(std::string(kClientSecret)), "", Secret(), {}});
  return c;
}

std::filesystem::path temp_file(std::string_view tag) {
  return std::filesystem::temp_directory_path() /
         ("s3proxy-lifecycle-" + std::to_string(::getpid()) + "-" + std::string(tag) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl");
}

std::vector<boost::json::object> audit_lines(const std::filesystem::path& path) {
  std::vector<boost::json::object> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(boost::json::parse(line).as_object());
  return out;
}

std::vector<boost::json::object> with_event(const std::vector<boost::json::object>& lines, std::string_view event) {
  std::vector<boost::json::object> out;
  for (const auto& l : lines) {
    if (l.at("event").as_string() == event) out.push_back(l);
  }
  return out;
}

// One blocking client connection on its own thread: sends `request`, waits `hold` (then,
// when it sent nothing, ends its side as an idle client leaving would), reads until the
// server closes (or 10 s pass) and returns what it got.
std::future<std::string> talk(std::uint16_t port, std::string request, std::chrono::milliseconds hold = 0ms) {
  return std::async(std::launch::async, [port, request = std::move(request), hold] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      if (!request.empty()) (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(hold);
      if (request.empty()) ::shutdown(fd, SHUT_WR);
      char buf[4096];
      for (;;) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return got;
  });
}

// A request signed with the test client's key (what an SDK would send), as raw bytes;
// `body_sent` may be shorter than `body` to leave the upload hanging.
std::string signed_request(std::uint16_t proxy_port, http::verb method, const std::string& key,
                           const std::string& body = {}, std::size_t body_sent = std::string::npos) {
  UpstreamConfig signer;
  signer.host = "127.0.0.1";
  signer.port = proxy_port;
  signer.host_header = "127.0.0.1:" + std::to_string(proxy_port);
  signer.region = "us-east-1";
  signer.access_key_id = std::string(kClientKey);
  signer.secret_access_key = Secret(std::string(kClientSecret));
  S3ClientRequest req;
  req.method = method;
  req.bucket = "media";
  req.key = key;
  req.body = body;
  const auto prepared = prepare_request(req, signer, std::chrono::system_clock::now());
  std::string out = std::string(http::to_string(method)) + " " + prepared.target + " HTTP/1.1\r\n";
  for (const auto& [name, value] : prepared.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += body.substr(0, body_sent);
  return out;
}

// One worker, as run_server sets it up, in front of an upstream that accepts connections
// (in its listen backlog) and never answers.
struct Worker {
  BufferPool buffers;  // outlives the coroutine frames the io_context destroys
  asio::io_context ioc{1};
  tcp::acceptor silent_upstream{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
  Config cfg = test_config(silent_upstream.local_endpoint().port());
  ConfigStore store{cfg};
  std::filesystem::path audit_path = temp_file("audit");
  std::optional<AuditLog> audit;
  Metrics metrics;
  Activity activity;
  std::optional<ConnectionRegistry> registry;
  std::optional<UpstreamPool> pool;
  std::optional<S3Client> client;
  std::optional<ProxyServices> services;
  std::atomic<bool> stopping{false};
  std::optional<WorkerState> state;
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};

  explicit Worker(std::function<void(Config&)> adjust = {}) {
    if (adjust) {
      adjust(cfg);
      EXPECT_EQ(store.replace(cfg), std::nullopt);
    }
    std::filesystem::remove(audit_path);
    audit.emplace(audit_path.string());
    registry.emplace(activity, store, *audit, metrics);
    pool.emplace(ioc.get_executor(), cfg.upstream, nullptr, metrics);
    client.emplace(*pool, store.upstream_source());
    services.emplace(ProxyServices{store, *audit, metrics});
    state.emplace(WorkerState{*services, *pool, *client, stopping, *registry, buffers});
    accept_next();
  }
  ~Worker() {
    ioc.stop();
    std::filesystem::remove(audit_path);
  }

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  // Serves every connection the way accept_loop does: co_spawn with detached, so an
  // exception leaving serve_connection would come out of ioc.run().
  void accept_next() {
    acceptor.async_accept([this](error_code ec, tcp::socket s) {
      if (ec) return;
      asio::co_spawn(ioc, serve_connection(std::move(s), *state), asio::detached);
      accept_next();
    });
  }

  // Runs the event loop until `done` holds (or 10 s pass).
  bool run_until(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      ioc.run_for(5ms);
      if (done()) return true;
    }
    return false;
  }
  template <class T>
  T wait(std::future<T>& f) {
    EXPECT_TRUE(run_until([&] { return f.wait_for(0ms) == std::future_status::ready; }));
    return f.get();
  }

  std::vector<boost::json::object> lines() {
    audit->flush();
    return audit_lines(audit_path);
  }
  std::string metric(std::string_view series) {
    const std::string text = metrics.render();
    const std::string prefix = std::string(series) + " ";
    const auto at = text.find("\n" + prefix);
    if (at == std::string::npos) return "absent";
    const auto start = at + 1 + prefix.size();
    return text.substr(start, text.find('\n', start) - start);
  }
};

TEST(ConnectionBoundary, ExceptionInASessionIsAuditedAndTheWorkerKeepsServing) {
  Worker w;
  int calls = 0;
  w.services->now = [&calls] {
    if (++calls == 1) throw std::runtime_error("clock exploded");  // a bug deep in a request
    return std::chrono::system_clock::now();
  };
  const std::string plain_get = "GET /media/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  auto first = talk(w.port(), plain_get);
  std::string got_first;
  ASSERT_NO_THROW(got_first = w.wait(first));
  EXPECT_EQ(got_first, "");  // closed without an answer

  auto second = talk(w.port(), plain_get);  // the same worker still serves
  std::string got_second;
  ASSERT_NO_THROW(got_second = w.wait(second));
  EXPECT_EQ(got_second.rfind("HTTP/1.1 403", 0), 0u) << got_second;

  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 0; }));
  const auto lines = w.lines();
  const auto errors = with_event(lines, "internal_error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at("level").as_string(), "error");
  EXPECT_EQ(errors[0].at("error").as_string(), "clock exploded");
  EXPECT_TRUE(errors[0].at("request_interrupted").as_bool());
  EXPECT_EQ(with_event(lines, "auth_failed").size(), 1u);  // the second request's own line
  EXPECT_EQ(w.activity.requests(), 0);
  EXPECT_EQ(w.metric("s3_acl_proxy_client_connections"), "0");
  EXPECT_EQ(w.metric("s3_acl_proxy_internal_errors_total"), "1");
}

TEST(ConnectionBoundary, ConnectionsBeyondTheCapGet503SlowDownAndAreAudited) {
  Worker w([](Config& c) { c.server.max_connections = 1; });
  auto idle = talk(w.port(), "", 1500ms);  // holds the only slot, sends nothing
  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 1; }));

  auto refused = talk(w.port(), "GET /media/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const std::string answer = w.wait(refused);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("<Code>SlowDown</Code>"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_EQ(w.activity.connections(), 1);

  const auto refusals = with_event(w.lines(), "connection_refused");
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].at("reason").as_string(), "max_connections");
  EXPECT_EQ(refusals[0].at("level").as_string(), "warn");
  EXPECT_EQ(w.metric("s3_acl_proxy_throttled_total{reason=\"max_connections\"}"), "1");

  // Once the idle client leaves, a new connection is served again.
  EXPECT_EQ(w.wait(idle), "");
  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 0; }));
  auto served = talk(w.port(), "GET /media/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(w.wait(served).rfind("HTTP/1.1 403", 0), 0u);
}

TEST(ConnectionBoundary, CloseIdleSparesConnectionsInsideARequest) {
  Worker w;
  auto idle = talk(w.port(), "", 1s);
  auto busy = talk(w.port(), signed_request(w.port(), http::verb::get, "waits-for-upstream"));
  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 2 && w.activity.requests() == 1; }));
  w.registry->close_idle();
  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 1; }));
  EXPECT_EQ(w.activity.requests(), 1);  // still waiting for the upstream
  EXPECT_EQ(w.wait(idle), "");

  // A connection arriving now is refused: the proxy is shutting down.
  auto late = talk(w.port(), "GET /media/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(w.wait(late).rfind("HTTP/1.1 503", 0), 0u);
  w.registry->cancel_all();
  w.pool->cancel_all();
  (void)w.wait(busy);
}

TEST(ConnectionBoundary, CancelAllCutsRequestsInFlightAndEachGetsItsAuditLine) {
  Worker w;
  // One request waits for an upstream that never answers, one upload waits for the rest of
  // its body.
  auto download = talk(w.port(), signed_request(w.port(), http::verb::get, "never-answered"));
  const std::string body(100000, 'x');
  auto upload = talk(w.port(), signed_request(w.port(), http::verb::put, "half-sent", body, 1000));
  ASSERT_TRUE(w.run_until([&] { return w.activity.requests() == 2; }));

  EXPECT_EQ(w.registry->cancel_all(), 2u);
  w.pool->cancel_all();
  ASSERT_TRUE(w.run_until([&] { return w.activity.connections() == 0; }));
  (void)w.wait(download);
  (void)w.wait(upload);

  const auto lines = w.lines();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    EXPECT_EQ(l.at("status").as_int64(), 503) << boost::json::serialize(l);
    EXPECT_EQ(l.at("s3_code").as_string(), "ServiceUnavailable");
    EXPECT_NE(std::string(l.at("s3_message").as_string()).find("shut down"), std::string::npos);
    EXPECT_EQ(l.at("level").as_string(), "error");
  }
  const auto failed_writes = with_event(lines, "write_failed");
  ASSERT_EQ(failed_writes.size(), 1u);
  EXPECT_EQ(failed_writes[0].at("op").as_string(), "PutObject");
  EXPECT_EQ(w.activity.cut_by_shutdown(), 2);
  EXPECT_EQ(w.pool->in_use_count(), 0u);
  EXPECT_EQ(w.metric("s3_acl_proxy_upstream_connections"), "0");
}

TEST(Activity, DrainListenerHearsEveryEnd) {
  Worker w;
  int heard = 0;
  w.activity.watch_drain([&heard] { ++heard; });
  {
    ConnectionGuard guard(*w.registry, "127.0.0.1:1");
    ASSERT_TRUE(guard.admitted());
    RequestInFlight request(guard.slot());
    EXPECT_TRUE(guard.slot().in_request);
    EXPECT_EQ(w.activity.requests(), 1);
  }
  EXPECT_EQ(heard, 2);  // the request, then the connection
  EXPECT_EQ(w.activity.connections(), 0);
  EXPECT_EQ(w.registry->open(), 0u);
}

TEST(Activity, RequestUnwoundByAnExceptionIsFlagged) {
  Worker w;
  ConnectionGuard guard(*w.registry, "127.0.0.1:1");
  try {
    RequestInFlight request(guard.slot());
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(guard.slot().request_interrupted);
  EXPECT_FALSE(guard.slot().in_request);
  EXPECT_EQ(w.activity.requests(), 0);
}

TEST(AcceptBackoff, DoublesFromFiveMillisecondsToOneSecond) {
  AcceptBackoff b;
  std::vector<long> pauses;
  for (int i = 0; i < 12; ++i) pauses.push_back(b.failed().count());
  EXPECT_EQ(pauses, (std::vector<long>{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}));
}

TEST(AcceptBackoff, ReportsOncePerBurstAndCountsIt) {
  AcceptBackoff b;
  EXPECT_EQ(b.succeeded(), std::nullopt);
  (void)b.failed();
  EXPECT_TRUE(b.burst_started());
  (void)b.failed();
  EXPECT_FALSE(b.burst_started());
  EXPECT_EQ(b.succeeded(), 2u);
  EXPECT_EQ(b.failed().count(), 5);  // a new burst starts from the beginning
  EXPECT_TRUE(b.burst_started());
}

TEST(SlowDownResponse, IsACompleteS3ErrorThatClosesTheConnection) {
  const std::string text = slow_down_response();
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  error_code ec;
  parser.put(asio::buffer(text), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  const auto& res = parser.get();
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(res[http::field::retry_after], "1");
  EXPECT_NE(res.body().find("<Code>SlowDown</Code>"), std::string::npos);
}

TEST(SlowDownResponse, HasNoBodyForHead) {
  const std::string text = slow_down_response(/*head=*/true);
  EXPECT_EQ(text.rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_EQ(text.find("<Error>"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 4), "\r\n\r\n");
}

TEST(MarkCutByShutdown, MakesACutWriteAFailedWriteAtError) {
  AuditRecord rec;
  rec.op = "PutObject";
  rec.status = 200;
  mark_cut_by_shutdown(rec);
  classify_outcome(rec, /*is_write=*/true, /*auth_failed=*/false);
  EXPECT_EQ(rec.status, 503u);
  EXPECT_EQ(rec.event, "write_failed");
  EXPECT_EQ(rec.level, Level::error);
  EXPECT_EQ(rec.s3_code, "ServiceUnavailable");
}

}  // namespace
}  // namespace s3proxy
