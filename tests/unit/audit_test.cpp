#include "s3proxy/audit.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point at_2026_11_23_18_15_00_123() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 23} + 18h + 15min + 0s + 123ms;
}

AuditRecord sample_record() {
  AuditRecord r;
  r.ts = at_2026_11_23_18_15_00_123();
  r.op = "PutObject";
  r.method = "PUT";
  r.bucket = "media";
  r.key = "cache/a b.png";
  r.status = 200;
  r.upstream_status = 200;
  r.acl_action = "stripped";
  r.acl_headers = {{"x-amz-acl", "public-read"}};
  r.access_key_id = "AKIAFAKEFAKEFAKE";
  r.request_id = "tx0001";
  r.bytes_in = 10240;
  r.bytes_out = 0;
  r.duration_ms = 12.5;
  r.remote = "127.0.0.1:45678";
  r.payload_mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
  return r;
}

boost::json::object parse_line(const std::string& line) {
  boost::system::error_code ec;
  auto v = boost::json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << line;
  return v.is_object() ? v.as_object() : boost::json::object{};
}

// --- level names and timestamps --------------------------------------------------------

TEST(LevelName, NamesEveryLevel) {
  EXPECT_EQ(level_name(Level::info), "info");
  EXPECT_EQ(level_name(Level::warn), "warn");
  EXPECT_EQ(level_name(Level::error), "error");
}

TEST(FormatTimestamp, IsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(format_timestamp(at_2026_11_23_18_15_00_123()), "2026-11-23T18:15:00.123Z");
}

TEST(FormatTimestamp, TruncatesBelowMillisecondsAndPadsZeros) {
  using namespace std::chrono;
  const auto t = sys_days{year{2027} / January / 2} + 3h + 4min + 5s + 7ms + 999us;
  EXPECT_EQ(format_timestamp(t), "2027-01-02T03:04:05.007Z");
}

TEST(FormatTimestamp, AgreesWithGmtimeOverAWideRangeOfInstants) {
  using namespace std::chrono;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::int64_t> ms_since_epoch(0, 4102444800000LL);  // 1970 .. 2100
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t ms = ms_since_epoch(rng);
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[32];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    ASSERT_EQ(format_timestamp(system_clock::time_point(milliseconds(ms))), want) << ms;
  }
}

// --- to_json_line: fields and types ----------------------------------------------------

TEST(ToJsonLine, HasEveryInterfaceFieldWithItsType) {
  const auto obj = parse_line(to_json_line(sample_record()));
  EXPECT_EQ(obj.at("ts").as_string(), "2026-11-23T18:15:00.123Z");
  EXPECT_EQ(obj.at("level").as_string(), "info");
  EXPECT_EQ(obj.at("event").as_string(), "request");
  EXPECT_EQ(obj.at("op").as_string(), "PutObject");
  EXPECT_EQ(obj.at("method").as_string(), "PUT");
  EXPECT_EQ(obj.at("bucket").as_string(), "media");
  EXPECT_EQ(obj.at("key").as_string(), "cache/a b.png");
  EXPECT_EQ(obj.at("status").to_number<unsigned>(), 200U);
  EXPECT_EQ(obj.at("upstream_status").to_number<unsigned>(), 200U);
  EXPECT_TRUE(obj.at("s3_code").is_null());
  EXPECT_TRUE(obj.at("s3_message").is_null());
  const auto& acl = obj.at("acl").as_object();
  EXPECT_EQ(acl.at("action").as_string(), "stripped");
  EXPECT_EQ(acl.at("headers").as_object().at("x-amz-acl").as_string(), "public-read");
  EXPECT_EQ(obj.at("access_key_id").as_string(), "AKIAFAKEFAKEFAKE");
  EXPECT_EQ(obj.at("request_id").as_string(), "tx0001");
  EXPECT_EQ(obj.at("bytes_in").to_number<std::uint64_t>(), 10240U);
  EXPECT_EQ(obj.at("bytes_out").to_number<std::uint64_t>(), 0U);
  EXPECT_DOUBLE_EQ(obj.at("duration_ms").to_number<double>(), 12.5);
  EXPECT_EQ(obj.at("remote").as_string(), "127.0.0.1:45678");
  EXPECT_EQ(obj.at("payload_mode").as_string(), "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
}

TEST(ToJsonLine, StartsWithTsLevelEvent) {
  EXPECT_EQ(to_json_line(sample_record()).rfind(R"({"ts":"2026-11-23T18:15:00.123Z","level":"info","event":"request",)",
                                                0),
            0U);
}

TEST(ToJsonLine, IsOneLineWithoutNewline) {
  auto r = sample_record();
  r.key = "a\nb\r\nc";
  r.s3_message = "line1\nline2";
  const auto line = to_json_line(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
}

TEST(ToJsonLine, AbsentOptionalsAreNull) {
  auto r = sample_record();
  r.upstream_status.reset();
  r.request_id.reset();
  const auto obj = parse_line(to_json_line(r));
  EXPECT_TRUE(obj.at("upstream_status").is_null());
  EXPECT_TRUE(obj.at("request_id").is_null());
  EXPECT_TRUE(obj.at("s3_code").is_null());
}

TEST(ToJsonLine, AclReplacedAndTagOnlyWhenSet) {
  AuditRecord rec = sample_record();
  auto plain = boost::json::parse(to_json_line(rec)).as_object();
  EXPECT_FALSE(plain.at("acl").as_object().contains("replaced"));
  EXPECT_FALSE(plain.at("acl").as_object().contains("tag"));
  rec.acl_action = "tagged";
  rec.acl_replaced = "private";
  rec.acl_tag = "s3-acl-proxy-visibility=private";
  auto tagged = boost::json::parse(to_json_line(rec)).as_object();
  EXPECT_EQ(tagged.at("acl").at("action"), "tagged");
  EXPECT_EQ(tagged.at("acl").at("replaced"), "private");
  EXPECT_EQ(tagged.at("acl").at("tag"), "s3-acl-proxy-visibility=private");
}

TEST(ToJsonLine, PresentErrorFieldsAreStrings) {
  auto r = sample_record();
  r.status = 403;
  r.upstream_status = 403;
  r.s3_code = "AccessDenied";
  r.s3_message = "Access Denied";
  const auto obj = parse_line(to_json_line(r));
  EXPECT_EQ(obj.at("s3_code").as_string(), "AccessDenied");
  EXPECT_EQ(obj.at("s3_message").as_string(), "Access Denied");
  EXPECT_EQ(obj.at("upstream_status").to_number<unsigned>(), 403U);
}

TEST(ToJsonLine, AclHeadersAreEmptyObjectWhenNone) {
  auto r = sample_record();
  r.acl_action = "none";
  r.acl_headers.clear();
  const auto obj = parse_line(to_json_line(r));
  EXPECT_EQ(obj.at("acl").as_object().at("action").as_string(), "none");
  EXPECT_TRUE(obj.at("acl").as_object().at("headers").as_object().empty());
}

TEST(ToJsonLine, LowerCasesAclHeaderNames) {
  auto r = sample_record();
  r.acl_headers = {{"X-Amz-Acl", "public-read"}, {"X-Amz-Grant-Full-Control", "id=abc"}};
  const auto headers = parse_line(to_json_line(r)).at("acl").as_object().at("headers").as_object();
  EXPECT_EQ(headers.at("x-amz-acl").as_string(), "public-read");
  EXPECT_EQ(headers.at("x-amz-grant-full-control").as_string(), "id=abc");
  EXPECT_EQ(headers.size(), 2U);
}

TEST(ToJsonLine, JoinsRepeatedAclHeadersWithComma) {
  auto r = sample_record();
  r.acl_headers = {{"x-amz-grant-read", "id=a"}, {"X-Amz-Grant-Read", "id=b"}};
  const auto headers = parse_line(to_json_line(r)).at("acl").as_object().at("headers").as_object();
  EXPECT_EQ(headers.at("x-amz-grant-read").as_string(), "id=a,id=b");
}

TEST(ToJsonLine, WritesDurationAsPlainDecimal) {
  auto r = sample_record();
  r.duration_ms = 12.3456789;
  const auto line = to_json_line(r);
  EXPECT_NE(line.find(R"("duration_ms":12.346,)"), std::string::npos) << line;
}

TEST(ToJsonLine, WritesCountsInFullAsPlainIntegers) {
  auto r = sample_record();
  r.bytes_in = std::numeric_limits<std::uint64_t>::max();
  r.bytes_out = 7;
  r.status = 503;
  r.upstream_status = 0;
  const auto line = to_json_line(r);
  EXPECT_NE(line.find(R"("status":503,"upstream_status":0,)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("bytes_in":18446744073709551615,"bytes_out":7,)"), std::string::npos) << line;
}

TEST(ToJsonLine, WritesNonFiniteDurationAsNull) {
  auto r = sample_record();
  r.duration_ms = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(parse_line(to_json_line(r)).at("duration_ms").is_null());
}

TEST(ToJsonLine, EscapesQuotesBackslashesNewlinesAndControlCharactersInKey) {
  auto r = sample_record();
  r.key = std::string("a\"b\\c\nd\te\x01\x1f", 11) + std::string(1, '\0') + "{}";
  const auto line = to_json_line(r);
  EXPECT_NE(line.find(R"("key":"a\"b\\c\nd\te\u0001\u001f\u0000{}")"), std::string::npos) << line;
  EXPECT_EQ(std::string(parse_line(line).at("key").as_string()), r.key);
}

TEST(ToJsonLine, KeepsValidUtf8InKey) {
  auto r = sample_record();
  r.key = "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80";
  EXPECT_EQ(std::string(parse_line(to_json_line(r)).at("key").as_string()), r.key);
}

TEST(ToJsonLine, ReplacesInvalidUtf8SoTheLineStaysParseable) {
  auto r = sample_record();
  r.key = "a\xff" "b\xc3" "c\xed\xa0\x80" "d\xc0\xaf";  // stray, truncated, surrogate, overlong
  const auto obj = parse_line(to_json_line(r));
  EXPECT_EQ(std::string(obj.at("key").as_string()),
            "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(ToJsonLine, ObjectOverloadWritesNumbersPlainly) {
  const boost::json::object obj{{"a", 1.5}, {"b", -3}, {"c", true}, {"d", nullptr}, {"e", boost::json::array{1, "x"}}};
  EXPECT_EQ(to_json_line(obj), R"({"a":1.5,"b":-3,"c":true,"d":null,"e":[1,"x"]})");
}

TEST(ToJsonLine, NeverContainsAuthorizationMaterial) {
  // The record has no field for them; the only places a client could smuggle one in are
  // free-text fields such as the key, and those are data, not secrets the proxy holds.
  const auto line = to_json_line(sample_record());
  for (const char* word : {"Authorization", "Signature", "Credential", "Security-Token", "fakesecret"}) {
    EXPECT_EQ(line.find(word), std::string::npos) << word;
  }
}

// --- classify_outcome ------------------------------------------------------------------

struct OutcomeCase {
  bool is_write;
  bool auth_failed;
  unsigned status;
  std::optional<unsigned> upstream;
  const char* acl_action;
  const char* event;
  Level level;
};

class ClassifyOutcome : public ::testing::TestWithParam<OutcomeCase> {};

TEST_P(ClassifyOutcome, SetsEventAndLevel) {
  const OutcomeCase& c = GetParam();
  AuditRecord r;
  r.event = "stale";
  r.level = Level::error;
  r.status = c.status;
  r.upstream_status = c.upstream;
  r.acl_action = c.acl_action;
  classify_outcome(r, c.is_write, c.auth_failed);
  EXPECT_EQ(r.event, c.event);
  EXPECT_EQ(level_name(r.level), level_name(c.level));
}

constexpr std::optional<unsigned> kNoUpstream = std::nullopt;

INSTANTIATE_TEST_SUITE_P(
    Table, ClassifyOutcome,
    ::testing::Values(
        // reads
        OutcomeCase{false, false, 200, 200, "none", "request", Level::info},
        OutcomeCase{false, false, 404, 404, "none", "request", Level::info},
        OutcomeCase{false, false, 403, 403, "none", "request", Level::info},
        OutcomeCase{false, false, 500, 500, "none", "request", Level::error},
        OutcomeCase{false, false, 502, kNoUpstream, "none", "request", Level::error},
        // writes that succeed
        OutcomeCase{true, false, 200, 200, "stripped", "request", Level::info},
        OutcomeCase{true, false, 204, 204, "none", "request", Level::info},
        // writes the upstream denies
        OutcomeCase{true, false, 403, 403, "none", "write_denied", Level::warn},
        OutcomeCase{true, false, 403, 403, "kept", "write_denied", Level::warn},
        // other write failures
        OutcomeCase{true, false, 400, 400, "kept", "write_failed", Level::warn},
        OutcomeCase{true, false, 404, 404, "none", "write_failed", Level::warn},
        OutcomeCase{true, false, 400, kNoUpstream, "none", "write_failed", Level::warn},
        OutcomeCase{true, false, 500, 500, "none", "write_failed", Level::error},
        OutcomeCase{true, false, 503, 503, "none", "write_failed", Level::error},
        OutcomeCase{true, false, 502, kNoUpstream, "none", "write_failed", Level::error},
        OutcomeCase{true, false, 503, kNoUpstream, "stripped", "write_failed", Level::error},
        OutcomeCase{true, false, 500, 200, "none", "write_failed", Level::error},  // the proxy failed it
        OutcomeCase{true, false, 200, 500, "none", "write_failed", Level::error},
        // signature failures, whatever the operation
        OutcomeCase{true, true, 403, kNoUpstream, "none", "auth_failed", Level::warn},
        OutcomeCase{false, true, 403, kNoUpstream, "none", "auth_failed", Level::warn},
        // PUT ?acl answered locally
        OutcomeCase{true, false, 501, kNoUpstream, "rejected", "acl_rejected", Level::warn},
        OutcomeCase{true, false, 200, kNoUpstream, "accepted_locally", "acl_accepted", Level::warn},
        OutcomeCase{true, true, 403, kNoUpstream, "rejected", "auth_failed", Level::warn}));

// --- AuditLog --------------------------------------------------------------------------

class AuditLogFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("s3proxy-audit-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log");
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::filesystem::path path_;
};

TEST_F(AuditLogFile, WritesOneParseableLinePerRecordAfterFlush) {
  AuditLog log(path_.string());
  for (int i = 0; i < 100; ++i) {
    auto r = sample_record();
    r.key = "k" + std::to_string(i) + "\n\"{}";
    log.write(r);
  }
  log.flush();
  const auto got = lines();
  ASSERT_EQ(got.size(), 100U);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto obj = parse_line(got[i]);
    EXPECT_EQ(std::string(obj.at("key").as_string()), "k" + std::to_string(i) + "\n\"{}");
  }
}

TEST_F(AuditLogFile, AppendsToAnExistingFile) {
  {
    std::ofstream out(path_);
    out << "{\"earlier\":true}\n";
  }
  AuditLog log(path_.string());
  log.write(sample_record());
  log.flush();
  const auto got = lines();
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0], "{\"earlier\":true}");
  EXPECT_EQ(parse_line(got[1]).at("op").as_string(), "PutObject");
}

TEST_F(AuditLogFile, DestructorWritesOutQueuedLines) {
  {
    AuditLog log(path_.string());
    for (int i = 0; i < 50; ++i) log.write(sample_record());
  }
  EXPECT_EQ(lines().size(), 50U);
}

TEST_F(AuditLogFile, KeepsEveryLineWhenWritersOutpaceTheQueue) {
  constexpr int kThreads = 4;
  // Together twice what may wait in memory, so that writers are held back on the way.
  const int per_thread =
      static_cast<int>(2 * AuditLog::kMaxPendingBytes / (to_json_line(sample_record()).size() + 1) / kThreads);
  {
    AuditLog log(path_.string());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, per_thread] {
        for (int i = 0; i < per_thread; ++i) log.write(sample_record());
      });
    }
    for (auto& th : threads) th.join();
  }
  const auto got = lines();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kThreads * per_thread));
  for (const auto& line : got) {
    ASSERT_EQ(line.front(), '{');
    ASSERT_EQ(line.back(), '}');
  }
}

TEST_F(AuditLogFile, EventLineStartsWithTsLevelEventThenFields) {
  AuditLog log(path_.string());
  log.event(Level::warn, "canary", {{"bucket", "media"}, {"ok", false}, {"event", "ignored"}, {"level", "ignored"}});
  log.flush();
  const auto got = lines();
  ASSERT_EQ(got.size(), 1U);
  const auto obj = parse_line(got[0]);
  EXPECT_EQ(obj.at("level").as_string(), "warn");
  EXPECT_EQ(obj.at("event").as_string(), "canary");
  EXPECT_EQ(obj.at("bucket").as_string(), "media");
  EXPECT_FALSE(obj.at("ok").as_bool());
  EXPECT_EQ(obj.size(), 5U);
  EXPECT_EQ(got[0].rfind("{\"ts\":\"", 0), 0U);
  EXPECT_EQ(obj.at("ts").as_string().size(), std::string_view("2026-11-23T18:15:00.123Z").size());
}

TEST_F(AuditLogFile, KeepsLinesInWriteOrder) {
  AuditLog log(path_.string());
  log.event(Level::info, "startup", {});
  log.write(sample_record());
  log.event(Level::info, "shutdown", {});
  log.flush();
  const auto got = lines();
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(parse_line(got[0]).at("event").as_string(), "startup");
  EXPECT_EQ(parse_line(got[1]).at("event").as_string(), "request");
  EXPECT_EQ(parse_line(got[2]).at("event").as_string(), "shutdown");
}

TEST_F(AuditLogFile, WarnLevelDropsInfoRequestLinesButNeverFailedWrites) {
  AuditLog log(path_.string());
  log.set_min_level(min_level_of("warn"));
  auto ok = sample_record();
  ok.level = Level::info;
  auto denied = sample_record();
  denied.event = "write_denied";
  denied.level = Level::warn;
  auto failed = sample_record();
  failed.event = "write_failed";
  failed.level = Level::error;
  log.write(ok);
  log.write(denied);
  log.write(failed);
  log.event(Level::info, "reload", {});  // not a request: always written
  log.flush();
  const auto got = lines();
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(parse_line(got[0]).at("event").as_string(), "write_denied");
  EXPECT_EQ(parse_line(got[1]).at("event").as_string(), "write_failed");
  EXPECT_EQ(parse_line(got[2]).at("event").as_string(), "reload");
}

TEST_F(AuditLogFile, LevelCanBeLoweredAgainWhileRunning) {
  AuditLog log(path_.string());
  log.set_min_level(Level::warn);
  log.write(sample_record());
  log.set_min_level(min_level_of("info"));
  log.write(sample_record());
  log.flush();
  EXPECT_EQ(lines().size(), 1U);
  EXPECT_EQ(min_level_of("debug"), Level::info);
}

TEST_F(AuditLogFile, ReopenAfterTheFileWasMovedWritesANewFileAtThePath) {
  const auto rotated = std::filesystem::path(path_.string() + ".1");
  std::filesystem::remove(rotated);
  AuditLog log(path_.string());
  log.event(Level::info, "before", {});
  log.flush();
  std::filesystem::rename(path_, rotated);  // what logrotate does
  log.event(Level::info, "queued_before_reopen", {});
  EXPECT_EQ(log.reopen(), std::nullopt);
  log.event(Level::info, "after", {});
  log.flush();
  std::vector<std::string> old_lines;
  {
    std::ifstream in(rotated);
    for (std::string line; std::getline(in, line);) old_lines.push_back(line);
  }
  std::filesystem::remove(rotated);
  ASSERT_EQ(old_lines.size(), 2U);
  EXPECT_EQ(parse_line(old_lines[0]).at("event").as_string(), "before");
  EXPECT_EQ(parse_line(old_lines[1]).at("event").as_string(), "queued_before_reopen");
  const auto fresh = lines();
  ASSERT_EQ(fresh.size(), 1U);
  EXPECT_EQ(parse_line(fresh[0]).at("event").as_string(), "after");
}

TEST_F(AuditLogFile, ReopenThatCannotOpenThePathKeepsTheOldFile) {
  const auto dir = std::filesystem::path(path_.string() + ".d");
  std::filesystem::create_directories(dir);
  const auto inside = dir / "audit.log";
  {
    AuditLog log(inside.string());
    std::filesystem::rename(inside, path_);  // the old file lives on outside the directory
    std::filesystem::remove_all(dir);
    std::ofstream(dir) << "a file where the directory was\n";  // the path can no longer be created
    EXPECT_TRUE(log.reopen().has_value());
    log.event(Level::info, "still_written", {});
    log.flush();
  }
  std::filesystem::remove(dir);
  const auto got = lines();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(parse_line(got[0]).at("event").as_string(), "still_written");
}

TEST(AuditLog, ReopenOnStdoutDoesNothing) {
  AuditLog log("-");
  EXPECT_EQ(log.reopen(), std::nullopt);
}

TEST(AuditLog, RefusesAPathThatCannotBeOpened) {
  EXPECT_ANY_THROW(AuditLog("/proc/s3proxy-no-such-dir/audit.log"));
}

}  // namespace
}  // namespace s3proxy
