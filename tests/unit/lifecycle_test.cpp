// Connection lifecycle: guards and counts, the coroutine boundary (an exception closes one
// connection, is audited, and the worker keeps serving), the connection cap, and the
// shutdown's cancellation of what is still in flight -- the last three over real loopback
// sockets against serve_connection itself.
#include "s3proxy/lifecycle.hpp"

#include "s3proxy/overload.hpp"

#include "proxy_worker.hpp"

#include <gtest/gtest.h>

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

Config test_config(std::uint16_t upstream_port) { return test::worker_config(upstream_port, kClientKey, kClientSecret); }

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

using test::talk;

// A request signed with the test client's key (what an SDK would send), as raw bytes;
// `body_sent` may be shorter than `body` to leave the upload hanging.
std::string signed_request(std::uint16_t proxy_port, http::verb method, const std::string& key,
                           const std::string& body = {}, std::size_t body_sent = std::string::npos) {
  return test::signed_head("127.0.0.1:" + std::to_string(proxy_port), kClientKey, kClientSecret, method, key, body) +
         body.substr(0, body_sent);
}

// One worker, as run_server sets it up, in front of an upstream that accepts connections
// (in its listen backlog) and never answers.
struct Worker : test::ProxyWorker {
  tcp::acceptor silent_upstream{ioc, {asio::ip::make_address("127.0.0.1"), 0}};

  explicit Worker(std::function<void(Config&)> adjust = {}) {
    Config c = test_config(silent_upstream.local_endpoint().port());
    if (adjust) adjust(c);
    start(std::move(c), temp_file("audit"));
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
