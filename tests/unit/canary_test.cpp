#include "s3proxy/canary.hpp"
#include "s3proxy/uri.hpp"

#include "s3proxy/audit.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/sigv4.hpp"
#include "s3proxy/upstream.hpp"
#include "s3proxy/upstream_health.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Pure pieces

TEST(CanaryKey, AppendsUtcTimestampAndSuffixToPrefix) {
  const auto when = std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 18h + 15min + 7s;
  EXPECT_EQ(canary_key(".s3-acl-proxy/canary/", when, "0a1b"), ".s3-acl-proxy/canary/20261123T181507Z-0a1b");
}

TEST(RandomHex, GivesTwoLowerHexDigitsPerByteAndDiffersBetweenCalls) {
  const auto a = random_hex(kCanaryRandomBytes);
  const auto b = random_hex(kCanaryRandomBytes);
  EXPECT_EQ(a.size(), 2 * kCanaryRandomBytes);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(CanaryBody, NamesTheKeyAndCarriesTheRandomPart) {
  const auto body = canary_body("p/k", "cafe");
  EXPECT_NE(body.find("p/k"), std::string::npos);
  EXPECT_NE(body.find("cafe"), std::string::npos);
}

TEST(CanarySummary, NamesS3CodeAndStatus) {
  EXPECT_EQ(summary(CanaryFailure{CanaryStep::put, 403, "AccessDenied", "Access Denied", {}, {}}), "AccessDenied (403)");
}

TEST(CanarySummary, UsesDetailWhenTheAnswerHadNoCode) {
  EXPECT_EQ(summary(CanaryFailure{CanaryStep::get, 200, {}, {}, {}, "the object read back differs"}),
            "the object read back differs");
}

TEST(CanarySummary, FallsBackToHttpStatus) {
  EXPECT_EQ(summary(CanaryFailure{CanaryStep::head, 404, {}, {}, {}, {}}), "HTTP 404");
}

TEST(CanaryFailureReason, NamesTheFirstFailedStep) {
  CanaryOutcome o;
  o.failures.push_back(CanaryFailure{CanaryStep::put, 403, "AccessDenied", {}, {}, {}});
  EXPECT_EQ(failure_reason(o), "canary failed at put: AccessDenied (403)");
  o.failures.insert(o.failures.begin(), CanaryFailure{CanaryStep::del, 500, "InternalError", {}, {}, {}});
  EXPECT_EQ(failure_reason(o), "canary failed at delete: InternalError (500)");
}

TEST(CanaryFailureReason, NoneForAPassingCheck) { EXPECT_EQ(failure_reason(CanaryOutcome{}), std::nullopt); }

TEST(CanaryFailureFields, NullsWhatIsAbsent) {
  CanaryOutcome o;
  o.bucket = "media";
  o.key = "p/k";
  const auto fields = failure_fields(o, CanaryFailure{CanaryStep::put, 0, {}, {}, {}, "no answer"});
  EXPECT_EQ(fields.at("step").as_string(), "put");
  EXPECT_TRUE(fields.at("status").is_null());
  EXPECT_TRUE(fields.at("s3_code").is_null());
  EXPECT_EQ(fields.at("detail").as_string(), "no answer");
  EXPECT_EQ(fields.at("bucket").as_string(), "media");
}

// ---------------------------------------------------------------------------------------
// Readiness window (injected clock)

const steady::time_point kT0 = steady::time_point(1000h);

TEST(UpstreamHealth, NotReadyBeforeAnyAnswer) {
  UpstreamHealth h;
  EXPECT_EQ(h.not_ready_reason(kT0), "the upstream has not answered yet");
}

TEST(UpstreamHealth, ReadyWithinThirtySecondsOfAnAnswer) {
  UpstreamHealth h;
  h.answered(kT0);
  EXPECT_EQ(h.not_ready_reason(kT0 + 30s), std::nullopt);
}

TEST(UpstreamHealth, NotReadyOnceTheWindowPassedAndSaysForHowLong) {
  UpstreamHealth h;
  h.answered(kT0);
  EXPECT_EQ(h.not_ready_reason(kT0 + 31s), "the upstream has not answered for 31 s");
}

TEST(UpstreamHealth, KeepsTheLatestAnswerWhenReportedOutOfOrder) {
  UpstreamHealth h;
  h.answered(kT0 + 20s);
  h.answered(kT0);
  EXPECT_EQ(h.last_answer(), kT0 + 20s);
  EXPECT_EQ(h.not_ready_reason(kT0 + 45s), std::nullopt);
}

TEST(UpstreamHealth, ReasonNamesTheLastProbeFailure) {
  UpstreamHealth h;
  h.unreachable("no answer from the upstream: Connection refused");
  EXPECT_EQ(h.not_ready_reason(kT0),
            "the upstream has not answered yet (last probe: no answer from the upstream: Connection refused)");
}

TEST(ProbeDue, WhenNothingEverAnswered) { EXPECT_TRUE(probe_due(std::nullopt, kT0, 10s)); }

TEST(ProbeDue, NotWhileTrafficIsAnswered) { EXPECT_FALSE(probe_due(kT0, kT0 + 9s, 10s)); }

TEST(ProbeDue, OnceIdleForTheThreshold) { EXPECT_TRUE(probe_due(kT0, kT0 + 10s, 10s)); }

TEST(ReadinessReason, UpstreamFirstThenNothingWithoutCanary) {
  UpstreamHealth h;
  EXPECT_EQ(readiness_reason(h, nullptr, kT0), "the upstream has not answered yet");
  h.answered(kT0);
  EXPECT_EQ(readiness_reason(h, nullptr, kT0 + 1s), std::nullopt);
}

// ---------------------------------------------------------------------------------------
// Against a fake upstream: an in-memory object map on loopback, not an S3 implementation.
// It answers the calls the canary makes, with switches to refuse writes or lose objects.

class FakeUpstream {
 public:
  explicit FakeUpstream(asio::io_context& ioc) : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc, accept(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void close() { acceptor_.close(); }

  bool deny_put = false;   // answer PutObject with 403 AccessDenied
  bool lose_puts = false;  // answer PutObject 200 and store nothing
  std::map<std::string, std::string> objects;
  std::vector<std::string> acl_headers_seen;

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(stream, buffer, req, use_nothrow);
      if (ec) co_return;
      auto res = handle(req);
      res.keep_alive(req.keep_alive());
      auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
      if (wec || !req.keep_alive()) co_return;
    }
  }

  static http::response<http::string_body> error(http::status status, std::string_view code) {
    http::response<http::string_body> res{status, 11};
    res.body() = error_xml(code, "fake refusal", "/", "");
    res.prepare_payload();
    return res;
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string path = uri::decode(target.substr(0, q)).value_or("");
    const std::string query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
    const auto slash = path.find('/', 1);
    const std::string key = slash == std::string::npos ? "" : path.substr(slash + 1);
    http::response<http::string_body> res{http::status::ok, 11};
    if (req.method() == http::verb::put) {
      if (auto acl = req["x-amz-acl"]; !acl.empty()) acl_headers_seen.emplace_back(acl);
      if (deny_put) return error(http::status::forbidden, "AccessDenied");
      if (!lose_puts) objects[key] = req.body();
      res.set(http::field::etag, "\"e\"");
    } else if (req.method() == http::verb::head || req.method() == http::verb::get) {
      if (query.find("list-type=2") != std::string::npos) {
        std::string xml = "<ListBucketResult>";
        for (const auto& [k, v] : objects) xml += "<Contents><Key>" + xml_escape(k) + "</Key></Contents>";
        res.body() = xml + "</ListBucketResult>";
      } else {
        auto it = objects.find(key);
        if (it == objects.end()) return error(http::status::not_found, "NoSuchKey");
        if (req.method() == http::verb::get) res.body() = it->second;
        res.prepare_payload();
        if (req.method() == http::verb::head) res.content_length(it->second.size());
        return res;
      }
    } else if (req.method() == http::verb::delete_) {
      objects.erase(key);
      res.result(http::status::no_content);
    }
    res.prepare_payload();
    return res;
  }

  tcp::acceptor acceptor_;
};

UpstreamConfig fake_upstream_config(std::uint16_t port) {
  UpstreamConfig u;
  u.host = "127.0.0.1";
  u.port = port;
  u.host_header = "127.0.0.1:" + std::to_string(port);
  u.region = "us-east-1";
  u.access_key_id = "AKIDEXAMPLE";
  u.secret_access_key = Secret("secret");
  u.read_timeout = 5s;
  u.connect_timeout = 5s;
  return u;
}

const CanaryConfig kCanaryConfig{"media", ".s3-acl-proxy/canary/", 50ms};

struct FakeSetup {
  asio::io_context ioc{1};
  FakeUpstream fake{ioc};
  UpstreamConfig upstream = fake_upstream_config(fake.port());
  Metrics metrics;
  UpstreamPool pool{ioc.get_executor(), upstream, nullptr, metrics};
  S3Client client{pool, upstream};

  CanaryOutcome run_once() {
    CanaryOutcome out;
    asio::co_spawn(ioc, run_canary_once(client, kCanaryConfig, std::chrono::system_clock::now()),
                   [&](std::exception_ptr, CanaryOutcome o) {
                     out = std::move(o);
                     ioc.stop();
                   });
    ioc.run_for(10s);
    ioc.restart();
    return out;
  }

  // Runs the io_context until pred() holds or the deadline passes.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 5s) {
    const auto until = steady::now() + deadline;
    while (steady::now() < until) {
      ioc.run_for(10ms);
      if (pred()) return true;
    }
    return false;
  }
};

TEST(RunCanaryOnce, PassesAndLeavesNothingBehind) {
  FakeSetup s;
  const auto o = s.run_once();
  EXPECT_TRUE(o.ok()) << failure_reason(o).value_or("");
  EXPECT_EQ(o.key.rfind(".s3-acl-proxy/canary/", 0), 0u);
  EXPECT_TRUE(s.fake.objects.empty());
  EXPECT_TRUE(s.fake.acl_headers_seen.empty());
}

TEST(RunCanaryOnce, DeniedPutFailsAtPutWithTheS3Code) {
  FakeSetup s;
  s.fake.deny_put = true;
  const auto o = s.run_once();
  ASSERT_EQ(o.failures.size(), 1u);
  EXPECT_EQ(o.failures[0].step, CanaryStep::put);
  EXPECT_EQ(o.failures[0].status, 403u);
  EXPECT_EQ(o.failures[0].s3_code, "AccessDenied");
}

TEST(RunCanaryOnce, AcknowledgedButLostWriteFailsAtHead) {
  FakeSetup s;
  s.fake.lose_puts = true;
  const auto o = s.run_once();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.failures[0].step, CanaryStep::head);
  EXPECT_EQ(o.failures[0].status, 404u);
  EXPECT_EQ(failure_reason(o), "canary failed at head: HTTP 404");  // HEAD errors carry no body
}

TEST(RunCanaryOnce, UnreachableUpstreamFailsAtPutWithoutAnswer) {
  FakeSetup s;
  s.fake.close();
  const auto o = s.run_once();
  ASSERT_EQ(o.failures.size(), 1u);
  EXPECT_EQ(o.failures[0].status, 0u);
  EXPECT_NE(o.failures[0].detail.find("no answer from the upstream"), std::string::npos);
}

TEST(S3ClientAgainstFake, ReusesOneConnectionAcrossTheSteps) {
  FakeSetup s;
  ASSERT_TRUE(s.run_once().ok());
  EXPECT_NE(s.metrics.render().find("s3_acl_proxy_upstream_connections_reused_total 4"), std::string::npos);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CanaryLoop, TurnsNotReadyOnADeniedWriteAndRecovers) {
  FakeSetup s;
  const auto log = std::filesystem::temp_directory_path() / ("canary_test_" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(log);
  {
    AuditLog audit(log.string());
    Canary canary(s.ioc, s.upstream, kCanaryConfig, nullptr, audit, s.metrics);
    EXPECT_NE(canary.not_ready_reason(), std::nullopt);  // before the first check
    canary.start();
    ASSERT_TRUE(s.run_until([&] { return !canary.not_ready_reason(); }));

    s.fake.deny_put = true;
    ASSERT_TRUE(s.run_until([&] { return canary.not_ready_reason().has_value(); }));
    EXPECT_EQ(canary.not_ready_reason(), "canary failed at put: AccessDenied (403)");
    EXPECT_NE(s.metrics.render().find("s3_acl_proxy_canary_success 0"), std::string::npos);

    s.fake.deny_put = false;
    ASSERT_TRUE(s.run_until([&] { return !canary.not_ready_reason(); }));
    canary.stop();
    s.ioc.run_for(50ms);
    audit.flush();
  }
  const auto text = read_file(log);
  std::filesystem::remove(log);
  EXPECT_NE(text.find(R"("level":"error","event":"canary")"), std::string::npos);
  EXPECT_NE(text.find(R"("step":"put")"), std::string::npos);
  EXPECT_NE(text.find(R"("s3_code":"AccessDenied")"), std::string::npos);
  EXPECT_NE(text.find(R"("level":"info","event":"canary","result":"ok")"), std::string::npos);
}

TEST(CanaryLoop, FeedsUpstreamHealthWithEachAnswer) {
  FakeSetup s;
  s.fake.deny_put = true;  // a refusal is still an answer
  UpstreamHealth health;
  AuditLog audit("/dev/null");
  Canary canary(s.ioc, s.upstream, kCanaryConfig, nullptr, audit, s.metrics, &health);
  canary.start();
  ASSERT_TRUE(s.run_until([&] { return health.last_answer().has_value(); }));
  canary.stop();
  s.ioc.run_for(50ms);
}

TEST(UpstreamProbe, MarksTheUpstreamAnsweredWhenIdle) {
  FakeSetup s;
  UpstreamHealth health;
  UpstreamProbe probe(s.ioc, s.upstream, nullptr, s.metrics, health, "media");
  probe.start();
  ASSERT_TRUE(s.run_until([&] { return health.last_answer().has_value(); }));
  EXPECT_EQ(health.not_ready_reason(steady::now()), std::nullopt);
  probe.stop();
  s.ioc.run_for(50ms);
}

TEST(UpstreamProbe, RecordsWhyAnUnreachableUpstreamIsNotReady) {
  FakeSetup s;
  s.fake.close();
  UpstreamHealth health;
  UpstreamProbe probe(s.ioc, s.upstream, nullptr, s.metrics, health);
  probe.start();
  ASSERT_TRUE(s.run_until([&] { return health.not_ready_reason(steady::now())->find("last probe") != std::string::npos; }));
  EXPECT_EQ(health.last_answer(), std::nullopt);
  probe.stop();
  s.ioc.run_for(50ms);
}

}  // namespace
}  // namespace s3proxy
