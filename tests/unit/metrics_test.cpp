#include "s3proxy/metrics.hpp"

#include "s3proxy/version.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3proxy::Metrics;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, std::string_view line) {
  for (const auto& l : lines_of(text)) {
    if (l == line) return true;
  }
  return false;
}

// The value of the sample whose name and labels are exactly `series`.
std::optional<std::string> value_of(const std::string& text, std::string_view series) {
  for (const auto& l : lines_of(text)) {
    if (l.size() > series.size() && l.compare(0, series.size(), series) == 0 && l[series.size()] == ' ') {
      return l.substr(series.size() + 1);
    }
  }
  return std::nullopt;
}

std::size_t count_lines_starting(const std::string& text, std::string_view prefix) {
  std::size_t n = 0;
  for (const auto& l : lines_of(text)) {
    if (l.compare(0, prefix.size(), prefix) == 0) ++n;
  }
  return n;
}

struct Family {
  const char* name;
  const char* type;
};

constexpr Family kFamilies[] = {
    {"requests_total", "counter"},
    {"upstream_errors_total", "counter"},
    {"write_failures_total", "counter"},
    {"acl_headers_total", "counter"},
    {"acl_requests_total", "counter"},
    {"auth_failures_total", "counter"},
    {"request_duration_seconds", "histogram"},
    {"bytes_received_total", "counter"},
    {"bytes_sent_total", "counter"},
    {"client_connections", "gauge"},
    {"upstream_connections", "gauge"},
    {"upstream_connections_reused_total", "counter"},
    {"canary_success", "gauge"},
    {"canary_last_success_timestamp_seconds", "gauge"},
    {"canary_last_run_timestamp_seconds", "gauge"},
    {"canary_duration_seconds", "gauge"},
    {"canary_runs_total", "counter"},
    {"phantom_writes_total", "counter"},
    {"upstream_idle_closed_total", "counter"},
    {"throttled_total", "counter"},
    {"accept_errors_total", "counter"},
    {"internal_errors_total", "counter"},
    {"config_reloads_total", "counter"},
    {"build_info", "gauge"},
};

std::chrono::system_clock::time_point at_unix(std::chrono::milliseconds since_epoch) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
}

// A registry with a sample in every family, for whole-output checks.
void record_everything(Metrics& m) {
  m.request("PutObject", 200, 12ms);
  m.request("GetObject", 404, 3ms);
  m.request("Nonsense", 500, 2s);
  m.bytes(1024, 2048);
  m.upstream_error("PutObject", "AccessDenied");
  m.upstream_error("GetObject", "");
  m.write_failure("PutObject", "write_denied", "AccessDenied");
  m.write_failure("UploadPart", "write_failed", "");
  m.acl_header("stripped", "x-amz-acl");
  m.acl_header("kept", "X-Amz-Grant-Read");
  m.acl_header("stripped", "x-amz-grant-everything");
  m.acl_request("rejected");
  m.auth_failure("SignatureDoesNotMatch");
  m.phantom_write("CompleteMultipartUpload");
  m.client_connection(+1);
  m.upstream_connection(+1);
  m.upstream_connection_reused();
  m.upstream_idle_closed();
  m.throttled("rate_limit");
  m.throttled("max_connections");
  m.accept_error();
  m.internal_error();
  m.config_reload(true);
  m.config_reload(false);
  m.canary(true, 150ms, at_unix(1700000000000ms));
  m.canary(false, 2s, at_unix(1700000060000ms));
}

}  // namespace

TEST(Metrics, FreshRegistryHasHelpAndTypeForEveryFamily) {
  const std::string text = Metrics("1.0").render();
  for (const auto& f : kFamilies) {
    std::string name = std::string("s3_acl_proxy_") + f.name;
    EXPECT_EQ(count_lines_starting(text, "# HELP " + name + " "), 1u) << name;
    EXPECT_TRUE(has_line(text, "# TYPE " + name + " " + f.type)) << name;
  }
}

TEST(Metrics, FreshRegistryHasNoSamplesForLabelledCountersNotYetHit) {
  const std::string text = Metrics("1.0").render();
  for (const char* name : {"requests_total{", "upstream_errors_total{", "write_failures_total{", "auth_failures_total{",
                           "phantom_writes_total{", "request_duration_seconds_bucket{"}) {
    EXPECT_EQ(count_lines_starting(text, std::string("s3_acl_proxy_") + name), 0u) << name;
  }
}

TEST(Metrics, FreshRegistryShowsZeroTotalsAndKnownSmallLabelSets) {
  const std::string text = Metrics("1.0").render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_received_total 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_sent_total 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_client_connections 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_connections 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_connections_reused_total 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"rejected\"} 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"forwarded\"} 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"kept\",header=\"x-amz-grant-full-control\"} 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_runs_total{result=\"failure\"} 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_build_info{version=\"1.0\"} 1"));
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_acl_requests_total{action=\"other\"}"));
}

TEST(Metrics, BuildInfoCarriesTheProgramVersionByDefault) {
  const std::string text = Metrics().render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_build_info{version=\"" + std::string(s3proxy::kVersion) + "\"} 1"));
}

TEST(Metrics, CanaryGaugesHaveNoSampleBeforeTheFirstRun) {
  const std::string text = Metrics("1.0").render();
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_canary_success"));
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_canary_last_success_timestamp_seconds"));
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_canary_last_run_timestamp_seconds"));
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_canary_duration_seconds"));
}

TEST(Metrics, OutputEndsWithNewlineAndHasNoBlankLines) {
  Metrics m("1.0");
  record_everything(m);
  const std::string text = m.render();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find("\n\n"), std::string::npos);
}

TEST(Metrics, CountsRequestsByOperationAndStatusClass) {
  Metrics m("1.0");
  m.request("PutObject", 200, 1ms);
  m.request("PutObject", 204, 1ms);
  m.request("PutObject", 403, 1ms);
  m.request("GetObject", 503, 1ms);
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"PutObject\",status=\"2xx\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"PutObject\",status=\"4xx\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"GetObject\",status=\"5xx\"} 1"));
  EXPECT_EQ(count_lines_starting(text, "s3_acl_proxy_requests_total{"), 3u);
}

TEST(Metrics, StatusClassOutsideHttpRangeCountsAsServerError) {
  EXPECT_EQ(s3proxy::metric_status_class(100), "1xx");
  EXPECT_EQ(s3proxy::metric_status_class(299), "2xx");
  EXPECT_EQ(s3proxy::metric_status_class(304), "3xx");
  EXPECT_EQ(s3proxy::metric_status_class(404), "4xx");
  EXPECT_EQ(s3proxy::metric_status_class(599), "5xx");
  EXPECT_EQ(s3proxy::metric_status_class(0), "5xx");
  EXPECT_EQ(s3proxy::metric_status_class(99), "5xx");
  EXPECT_EQ(s3proxy::metric_status_class(600), "5xx");
}

TEST(Metrics, EveryListedOperationIsItsOwnLabel) {
  const char* listed =
      "ListBuckets CreateBucket DeleteBucket HeadBucket ListObjects ListObjectsV2 ListObjectVersions "
      "GetBucketAcl PutBucketAcl GetBucketPolicy PutBucketPolicy DeleteBucketPolicy GetBucketPolicyStatus "
      "GetBucketOwnershipControls PutBucketOwnershipControls GetBucketLocation GetBucketVersioning "
      "PutBucketVersioning GetBucketCors PutBucketCors DeleteBucketCors GetBucketLifecycleConfiguration "
      "PutBucketLifecycleConfiguration DeleteBucketLifecycle GetBucketTagging PutBucketTagging "
      "DeleteBucketTagging ListMultipartUploads DeleteObjects GetObject HeadObject PutObject CopyObject "
      "DeleteObject GetObjectAcl PutObjectAcl GetObjectTagging PutObjectTagging DeleteObjectTagging "
      "CreateMultipartUpload UploadPart UploadPartCopy CompleteMultipartUpload AbortMultipartUpload "
      "ListParts PostObject PreflightRequest Unknown";
  std::istringstream in(listed);
  std::size_t n = 0;
  for (std::string op; in >> op; ++n) EXPECT_EQ(s3proxy::metric_op_label(op), op);
  EXPECT_EQ(s3proxy::metric_ops().size(), n);
  EXPECT_EQ(s3proxy::metric_ops().back(), "Unknown");
}

TEST(Metrics, UnlistedOperationIsCountedAsUnknown) {
  EXPECT_EQ(s3proxy::metric_op_label("putobject"), "Unknown");
  EXPECT_EQ(s3proxy::metric_op_label(""), "Unknown");
  EXPECT_EQ(s3proxy::metric_op_label("PutObject\""), "Unknown");
  Metrics m("1.0");
  m.request("GetObjectTorrent", 200, 1ms);
  m.request("my-bucket/secret-key", 200, 1ms);
  m.phantom_write("Whatever");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"Unknown\",status=\"2xx\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_phantom_writes_total{op=\"Unknown\"} 1"));
  EXPECT_EQ(text.find("secret-key"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfEqualToCount) {
  Metrics m("1.0");
  m.request("PutObject", 200, 700us);
  m.request("PutObject", 200, 3ms);
  m.request("PutObject", 200, 120s);
  const std::string text = m.render();
  const std::string b = "s3_acl_proxy_request_duration_seconds_bucket{op=\"PutObject\",le=";
  EXPECT_TRUE(has_line(text, b + "\"0.0005\"} 0"));
  EXPECT_TRUE(has_line(text, b + "\"0.001\"} 1"));
  EXPECT_TRUE(has_line(text, b + "\"0.0025\"} 1"));
  EXPECT_TRUE(has_line(text, b + "\"0.005\"} 2"));
  EXPECT_TRUE(has_line(text, b + "\"1\"} 2"));
  EXPECT_TRUE(has_line(text, b + "\"60\"} 2"));
  EXPECT_TRUE(has_line(text, b + "\"+Inf\"} 3"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_sum{op=\"PutObject\"} 120.0037"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_count{op=\"PutObject\"} 3"));
  EXPECT_EQ(count_lines_starting(text, b), 17u);
}

TEST(Metrics, HistogramBucketsNeverDecrease) {
  Metrics m("1.0");
  for (double s : {0.0001, 0.002, 0.02, 0.2, 0.2, 3.0, 7.0, 45.0, 0.0009}) {
    m.request("GetObject", 200, std::chrono::duration<double>(s));
  }
  const std::string text = m.render();
  const std::string b = "s3_acl_proxy_request_duration_seconds_bucket{op=\"GetObject\",le=";
  std::uint64_t previous = 0;
  std::size_t seen = 0;
  std::string last_le;
  for (const auto& l : lines_of(text)) {
    if (l.compare(0, b.size(), b) != 0) continue;
    auto value = std::stoull(l.substr(l.rfind(' ') + 1));
    EXPECT_GE(value, previous) << l;
    previous = value;
    last_le = l.substr(b.size(), l.find('}') - b.size());
    ++seen;
  }
  EXPECT_EQ(seen, 17u);
  EXPECT_EQ(last_le, "\"+Inf\"");
  EXPECT_EQ(previous, 9u);
}

TEST(Metrics, ObservationOnABoundLandsInThatBucket) {
  Metrics m("1.0");
  m.request("HeadObject", 200, 500ms);
  const std::string text = m.render();
  const std::string b = "s3_acl_proxy_request_duration_seconds_bucket{op=\"HeadObject\",le=";
  EXPECT_TRUE(has_line(text, b + "\"0.25\"} 0"));
  EXPECT_TRUE(has_line(text, b + "\"0.5\"} 1"));
}

TEST(Metrics, NegativeOrNotANumberDurationIsRecordedAsZero) {
  Metrics m("1.0");
  m.request("HeadObject", 200, -5s);
  m.request("HeadObject", 200, std::chrono::duration<double>(std::nan("")));
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_bucket{op=\"HeadObject\",le=\"0.0005\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_sum{op=\"HeadObject\"} 0"));
}

TEST(Metrics, CountsPayloadBytes) {
  Metrics m("1.0");
  m.bytes(100, 7);
  m.bytes(5000000000ULL, 0);
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_received_total 5000000100"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_sent_total 7"));
}

TEST(Metrics, LabelValueEscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(s3proxy::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(s3proxy::escape_label_value("plain-1.2"), "plain-1.2");
  const std::string text = Metrics("v\"1\\\n").render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_build_info{version=\"v\\\"1\\\\\\n\"} 1"));
}

TEST(Metrics, CountsUpstreamErrorsByOperationAndCode) {
  Metrics m("1.0");
  m.upstream_error("PutObject", "AccessDenied");
  m.upstream_error("PutObject", "AccessDenied");
  m.upstream_error("GetObject", "NoSuchKey");
  m.upstream_error("HeadObject", "");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"PutObject\",s3_code=\"AccessDenied\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"GetObject\",s3_code=\"NoSuchKey\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"HeadObject\",s3_code=\"none\"} 1"));
}

TEST(Metrics, CodeOfWrongShapeIsCountedAsOther) {
  Metrics m("1.0");
  m.upstream_error("GetObject", "Bad Code");
  m.upstream_error("GetObject", "<script>");
  m.upstream_error("GetObject", "Code\"}\nfake_metric 1");
  m.upstream_error("GetObject", std::string(s3proxy::kMaxS3CodeLength + 1, 'A'));
  m.upstream_error("GetObject", std::string(s3proxy::kMaxS3CodeLength, 'A'));
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"GetObject\",s3_code=\"other\"} 4"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"GetObject\",s3_code=\"" +
                                 std::string(s3proxy::kMaxS3CodeLength, 'A') + "\"} 1"));
  EXPECT_EQ(text.find("fake_metric"), std::string::npos);
  EXPECT_TRUE(s3proxy::is_valid_s3_code_label("Slow.Down2"));
  EXPECT_FALSE(s3proxy::is_valid_s3_code_label(""));
  EXPECT_FALSE(s3proxy::is_valid_s3_code_label("No_Such"));
}

TEST(Metrics, DistinctCodesPerMetricAreCappedAndTheRestCountAsOther) {
  Metrics m("1.0");
  const std::size_t extra = 36;
  for (std::size_t i = 0; i < s3proxy::kMaxS3CodeSeries + extra; ++i) {
    m.upstream_error("PutObject", "Code" + std::to_string(i));
  }
  m.upstream_error("GetObject", "Code0");  // admitted codes keep counting under any op
  m.upstream_error("GetObject", "Code999");
  const std::string text = m.render();
  std::set<std::string> codes;
  for (const auto& l : lines_of(text)) {
    const std::string p = "s3_acl_proxy_upstream_errors_total{";
    if (l.compare(0, p.size(), p) != 0) continue;
    auto start = l.find("s3_code=\"") + 9;
    codes.insert(l.substr(start, l.find('"', start) - start));
  }
  EXPECT_EQ(codes.size(), s3proxy::kMaxS3CodeSeries + 1);  // plus "other"
  EXPECT_TRUE(has_line(
      text, "s3_acl_proxy_upstream_errors_total{op=\"PutObject\",s3_code=\"other\"} " + std::to_string(extra)));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"GetObject\",s3_code=\"Code0\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"GetObject\",s3_code=\"other\"} 1"));
}

TEST(Metrics, CodeCapIsKeptPerMetric) {
  Metrics m("1.0");
  for (std::size_t i = 0; i < s3proxy::kMaxS3CodeSeries; ++i) {
    m.upstream_error("PutObject", "Code" + std::to_string(i));
  }
  m.write_failure("PutObject", "write_failed", "InternalError");
  m.auth_failure("SignatureDoesNotMatch");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(
      text, "s3_acl_proxy_write_failures_total{op=\"PutObject\",event=\"write_failed\",s3_code=\"InternalError\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_auth_failures_total{reason=\"SignatureDoesNotMatch\"} 1"));
}

TEST(Metrics, CountsWriteFailuresByOperationEventAndCode) {
  Metrics m("1.0");
  m.write_failure("PutObject", "write_denied", "AccessDenied");
  m.write_failure("PutObject", "write_denied", "AccessDenied");
  m.write_failure("UploadPart", "write_failed", "");
  m.write_failure("CopyObject", "exploded", "InternalError");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(
      text, "s3_acl_proxy_write_failures_total{op=\"PutObject\",event=\"write_denied\",s3_code=\"AccessDenied\"} 2"));
  EXPECT_TRUE(
      has_line(text, "s3_acl_proxy_write_failures_total{op=\"UploadPart\",event=\"write_failed\",s3_code=\"none\"} 1"));
  EXPECT_TRUE(has_line(
      text, "s3_acl_proxy_write_failures_total{op=\"CopyObject\",event=\"other\",s3_code=\"InternalError\"} 1"));
}

TEST(Metrics, CountsAuthFailuresByReason) {
  Metrics m("1.0");
  m.auth_failure("SignatureDoesNotMatch");
  m.auth_failure("SignatureDoesNotMatch");
  m.auth_failure("RequestTimeTooSkewed");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_auth_failures_total{reason=\"SignatureDoesNotMatch\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_auth_failures_total{reason=\"RequestTimeTooSkewed\"} 1"));
}

TEST(Metrics, AclHeaderNamesMatchCaseInsensitivelyAndOthersAreGrouped) {
  Metrics m("1.0");
  m.acl_header("stripped", "x-amz-acl");
  m.acl_header("stripped", "X-Amz-ACL");
  m.acl_header("kept", "x-amz-grant-write-acp");
  m.acl_header("stripped", "x-amz-grant-bogus");
  m.acl_header("mangled", "x-amz-acl");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"stripped\",header=\"x-amz-acl\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"kept\",header=\"x-amz-grant-write-acp\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"stripped\",header=\"other\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"other\",header=\"x-amz-acl\"} 1"));
}

TEST(Metrics, CountsAclRequestsByAction) {
  Metrics m("1.0");
  m.acl_request("rejected");
  m.acl_request("rejected");
  m.acl_request("accepted_locally");
  m.acl_request("forwarded");
  m.acl_request("something");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"rejected\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"accepted_locally\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"forwarded\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_requests_total{action=\"other\"} 1"));
}

TEST(Metrics, CountsPhantomWritesByOperation) {
  Metrics m("1.0");
  m.phantom_write("PutObject");
  m.phantom_write("CompleteMultipartUpload");
  m.phantom_write("PutObject");
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_phantom_writes_total{op=\"PutObject\"} 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_phantom_writes_total{op=\"CompleteMultipartUpload\"} 1"));
}

TEST(Metrics, ConnectionGaugesFollowOpensAndCloses) {
  Metrics m("1.0");
  m.client_connection(+1);
  m.client_connection(+1);
  m.client_connection(-1);
  m.upstream_connection(+1);
  m.upstream_connection(+1);
  m.upstream_connection(+1);
  m.upstream_connection(-1);
  m.upstream_connection_reused();
  m.upstream_connection_reused();
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_client_connections 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_connections 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_connections_reused_total 2"));
}

TEST(Metrics, CountsThrottlingByReasonAndGroupsUnknownReasons) {
  Metrics m("1.0");
  m.throttled("rate_limit");
  m.throttled("rate_limit");
  m.throttled("max_connections");
  const std::string before_other = m.render();
  EXPECT_TRUE(has_line(before_other, "s3_acl_proxy_throttled_total{reason=\"rate_limit\"} 2"));
  EXPECT_TRUE(has_line(before_other, "s3_acl_proxy_throttled_total{reason=\"max_connections\"} 1"));
  EXPECT_TRUE(has_line(before_other, "s3_acl_proxy_throttled_total{reason=\"shutdown\"} 0"));
  EXPECT_FALSE(value_of(before_other, "s3_acl_proxy_throttled_total{reason=\"other\"}"));
  m.throttled("whatever");
  EXPECT_EQ(value_of(m.render(), "s3_acl_proxy_throttled_total{reason=\"other\"}"), "1");
}

TEST(Metrics, CountsOperationalEvents) {
  Metrics m("1.0");
  m.upstream_idle_closed();
  m.accept_error();
  m.accept_error();
  m.internal_error();
  m.config_reload(true);
  m.config_reload(false);
  m.config_reload(false);
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_idle_closed_total 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_accept_errors_total 2"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_internal_errors_total 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_config_reloads_total{result=\"success\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_config_reloads_total{result=\"failure\"} 2"));
}

TEST(Metrics, FailedCanaryKeepsTheLastSuccessTime) {
  Metrics m("1.0");
  m.canary(true, 250ms, at_unix(1700000000250ms));
  m.canary(false, 1500ms, at_unix(1700000060000ms));
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_success 0"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_last_success_timestamp_seconds 1700000000.25"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_last_run_timestamp_seconds 1700000060"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_duration_seconds 1.5"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_runs_total{result=\"success\"} 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_runs_total{result=\"failure\"} 1"));
}

TEST(Metrics, FailingCanaryHasNoSuccessTimestamp) {
  Metrics m("1.0");
  m.canary(false, 2s, at_unix(1700000000000ms));
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_success 0"));
  EXPECT_FALSE(value_of(text, "s3_acl_proxy_canary_last_success_timestamp_seconds"));
}

TEST(Metrics, PassingCanarySetsSuccessToOne) {
  Metrics m("1.0");
  m.canary(false, 2s, at_unix(1700000000000ms));
  m.canary(true, 100ms, at_unix(1700000060000ms));
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_success 1"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_last_success_timestamp_seconds 1700000060"));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_canary_duration_seconds 0.1"));
}

TEST(Metrics, ConcurrentRecordingFromSeveralThreadsSumsExactly) {
  Metrics m("1.0");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  // Scrapes run alongside the writers: each must show a self-consistent histogram.
  int scrapes = 0;
  int inconsistent = 0;
  // At least one scrape, even when the writers finish before the scraper thread first runs.
  std::thread scraper([&] {
    do {
      const std::string s = m.render();
      auto inf = value_of(s, "s3_acl_proxy_request_duration_seconds_bucket{op=\"PutObject\",le=\"+Inf\"}");
      auto count = value_of(s, "s3_acl_proxy_request_duration_seconds_count{op=\"PutObject\"}");
      if (inf != count) ++inconsistent;
      ++scrapes;
    } while (!done.load());
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.request(t % 2 == 0 ? "PutObject" : "GetObject", 200, 2ms);
        m.bytes(3, 5);
        m.upstream_error("PutObject", i % 2 == 0 ? "SlowDown" : "InternalError");
        m.acl_header("stripped", "x-amz-acl");
        m.client_connection(+1);
        m.client_connection(-1);
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  scraper.join();

  const std::string text = m.render();
  const auto half = std::to_string(kThreads / 2 * kPerThread);
  const auto all = std::to_string(kThreads * kPerThread);
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"PutObject\",status=\"2xx\"} " + half));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_requests_total{op=\"GetObject\",status=\"2xx\"} " + half));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_count{op=\"PutObject\"} " + half));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_request_duration_seconds_sum{op=\"PutObject\"} " +
                                 std::to_string(kThreads / 2 * kPerThread * 2 / 1000)));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_received_total " + std::to_string(kThreads * kPerThread * 3)));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_bytes_sent_total " + std::to_string(kThreads * kPerThread * 5)));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_upstream_errors_total{op=\"PutObject\",s3_code=\"SlowDown\"} " + half));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_acl_headers_total{action=\"stripped\",header=\"x-amz-acl\"} " + all));
  EXPECT_TRUE(has_line(text, "s3_acl_proxy_client_connections 0"));

  EXPECT_GT(scrapes, 0);
  EXPECT_EQ(inconsistent, 0);
}

TEST(Metrics, PromtoolAcceptsTheOutput) {
  const std::filesystem::path promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) GTEST_SKIP() << "promtool is not installed";
  Metrics m("1.0\"\\\nx");
  record_everything(m);
  for (std::size_t i = 0; i < s3proxy::kMaxS3CodeSeries + 3; ++i) m.auth_failure("Code" + std::to_string(i));
  m.auth_failure("bad code");

  const auto dir = std::filesystem::temp_directory_path();
  const auto stem = "s3p_metrics_" + std::to_string(::getpid());
  const auto input = dir / (stem + ".prom");
  const auto output = dir / (stem + ".out");
  std::ofstream(input, std::ios::binary) << m.render();
  const std::string cmd =
      promtool.string() + " check metrics < '" + input.string() + "' > '" + output.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  std::stringstream said;
  said << std::ifstream(output).rdbuf();
  std::filesystem::remove(input);
  std::filesystem::remove(output);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << said.str();
}
