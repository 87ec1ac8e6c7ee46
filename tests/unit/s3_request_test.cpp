#include "s3proxy/s3_request.hpp"
#include "s3proxy/sigv4.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#ifndef S3P_TEST_DATA
#define S3P_TEST_DATA "tests/data"
#endif

namespace s3proxy {
namespace {

Result<S3Target> try_path(std::string_view method, std::string_view path, std::string_view query = "",
                          bool legacy = false) {
  return classify({.method = method, .raw_path = path, .raw_query = query, .host = "127.0.0.1:8080",
                   .legacy_bucket_names = legacy});
}

S3Target accepted(Result<S3Target> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.failure().message);
  return r.ok() ? std::move(r).value() : S3Target{};
}

S3Target classify_path(std::string_view method, std::string_view path, std::string_view query = "",
                       bool copy_source = false) {
  return accepted(classify({.method = method, .raw_path = path, .raw_query = query, .host = "127.0.0.1:8080",
                            .has_copy_source = copy_source}));
}

Result<S3Target> try_host(std::string_view method, std::string_view host, std::string_view path,
                          std::string_view query = "") {
  static const std::vector<std::string> domains{"s3.local", "storage.example.org"};
  return classify({.method = method, .raw_path = path, .raw_query = query, .host = host,
                   .virtual_host_domains = domains});
}

S3Target classify_host(std::string_view method, std::string_view host, std::string_view path,
                       std::string_view query = "") {
  return accepted(try_host(method, host, path, query));
}

// The upstream path a classified request is forwarded to (path-style).
std::string upstream_path(const S3Target& t) {
  return upstream_location(t.bucket, t.key, t.key_part, false, "up:7480").path;
}

// --- operation names and writes -------------------------------------------------------

TEST(OpName, SpellsOperationsAsAws) {
  EXPECT_EQ(op_name(Op::PutObject), "PutObject");
  EXPECT_EQ(op_name(Op::CreateMultipartUpload), "CreateMultipartUpload");
  EXPECT_EQ(op_name(Op::GetBucketLifecycleConfiguration), "GetBucketLifecycleConfiguration");
  EXPECT_EQ(op_name(Op::DeleteBucketLifecycle), "DeleteBucketLifecycle");
  EXPECT_EQ(op_name(Op::Unknown), "Unknown");
}

TEST(OpName, EveryOpHasADistinctName) {
  std::map<std::string_view, int> seen;
  for (int i = 0; i <= static_cast<int>(Op::Unknown); ++i) {
    const auto name = op_name(static_cast<Op>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(++seen[name], 1) << name;
  }
}

TEST(IsWrite, CountsDataAndAclChangesAsWrites) {
  for (Op op : {Op::PutObject, Op::CopyObject, Op::CreateMultipartUpload, Op::UploadPart, Op::UploadPartCopy,
                Op::CompleteMultipartUpload, Op::AbortMultipartUpload, Op::DeleteObject, Op::DeleteObjects,
                Op::PutObjectAcl, Op::PutBucketAcl, Op::CreateBucket, Op::DeleteBucket, Op::PutBucketPolicy,
                Op::DeleteBucketPolicy, Op::PutBucketCors, Op::DeleteBucketCors, Op::PutBucketLifecycleConfiguration,
                Op::DeleteBucketLifecycle, Op::PutBucketTagging, Op::DeleteBucketTagging, Op::PutBucketVersioning,
                Op::PutBucketOwnershipControls, Op::PostObject, Op::PutObjectTagging, Op::DeleteObjectTagging}) {
    EXPECT_TRUE(is_write(op)) << op_name(op);
  }
}

TEST(IsWrite, CountsReadsAndUnknownAsNotWrites) {
  for (Op op : {Op::GetObject, Op::HeadObject, Op::HeadBucket, Op::ListBuckets, Op::ListObjects, Op::ListObjectsV2,
                Op::ListObjectVersions, Op::GetObjectAcl, Op::GetBucketAcl, Op::GetBucketPolicy,
                Op::GetBucketPolicyStatus, Op::GetBucketLocation, Op::ListParts, Op::ListMultipartUploads,
                Op::GetObjectTagging, Op::Unknown}) {
    EXPECT_FALSE(is_write(op)) << op_name(op);
  }
}

TEST(Classify, OptionsIsAPreflightRequestWhateverItAddresses) {
  EXPECT_EQ(classify_path("OPTIONS", "/media/a.jpg").op, Op::PreflightRequest);
  EXPECT_EQ(classify_path("OPTIONS", "/media").op, Op::PreflightRequest);
  EXPECT_EQ(classify_path("OPTIONS", "/").op, Op::PreflightRequest);
  EXPECT_EQ(classify_path("OPTIONS", "/media/a.jpg", "uploads").op, Op::PreflightRequest);
  EXPECT_EQ(classify_host("OPTIONS", "media.s3.local", "/a.jpg").op, Op::PreflightRequest);
  EXPECT_EQ(op_name(Op::PreflightRequest), "PreflightRequest");
}

TEST(IsWrite, PreflightIsNotAWrite) {
  EXPECT_FALSE(is_write(Op::PreflightRequest));
  EXPECT_FALSE(is_write_request(Op::PreflightRequest, "OPTIONS"));
}

// --- path-style addressing --------------------------------------------------------------

TEST(Classify, PathStyleSplitsBucketAndKey) {
  const auto t = classify_path("PUT", "/media/cache/a%20b/c.jpg");
  EXPECT_EQ(t.op, Op::PutObject);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "cache/a b/c.jpg");
  EXPECT_EQ(upstream_path(t), "/media/cache/a%20b/c.jpg");
  EXPECT_FALSE(t.virtual_hosted);
}

TEST(Classify, PathStyleBucketWithoutSlashHasNoKeyPart) {
  const auto t = classify_path("HEAD", "/media");
  EXPECT_EQ(t.op, Op::HeadBucket);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "");
  EXPECT_FALSE(t.key_part);
  EXPECT_EQ(upstream_path(t), "/media");
}

TEST(Classify, PathStyleBucketWithTrailingSlashKeepsSlashAsKeyPart) {
  const auto t = classify_path("POST", "/media/", "delete");
  EXPECT_EQ(t.op, Op::DeleteObjects);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "");
  EXPECT_TRUE(t.key_part);
  EXPECT_EQ(upstream_path(t), "/media/");
}

TEST(Classify, KeepsDoubleSlashesAndPlusInKey) {
  const auto t = classify_path("GET", "/media//a+b%2Bc");
  EXPECT_EQ(t.op, Op::GetObject);
  EXPECT_EQ(t.key, "/a+b+c");
  EXPECT_EQ(upstream_path(t), "/media//a%2Bb%2Bc");
}

TEST(Classify, RefusesMalformedPercentEscapeInKey) {
  for (std::string_view path : {"/media/100%zz", "/media/100%4", "/media/100%"}) {
    const auto r = try_path("GET", path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.failure().error, S3Error::InvalidURI) << path;
  }
}

TEST(Classify, RefusesMalformedPercentEscapeInBucketOrQuery) {
  EXPECT_EQ(try_path("GET", "/med%zzia/k").failure().error, S3Error::InvalidURI);
  EXPECT_EQ(try_path("GET", "/media/k", "acl%").failure().error, S3Error::InvalidURI);
  EXPECT_EQ(try_path("GET", "/media/k", "versionId=%4").failure().error, S3Error::InvalidURI);
}

TEST(Classify, RefusesKeyLongerThanS3Allows) {
  const std::string longest = "/media/" + std::string(kMaxKeyBytes, 'k');
  EXPECT_TRUE(try_path("PUT", longest).ok());
  EXPECT_EQ(try_path("PUT", longest + "k").failure().error, S3Error::KeyTooLongError);
}

TEST(Classify, KeyWithEncodedLineBreakStaysOneKeyUpstream) {
  const auto t = classify_path("PUT", "/media/a%0D%0AHost:%20evil/b");
  EXPECT_EQ(t.key, "a\r\nHost: evil/b");
  EXPECT_EQ(upstream_path(t), "/media/a%0D%0AHost%3A%20evil/b");
}

TEST(Classify, EncodedSlashInBucketIsRefusedNotSplit) {
  // "/media%2Fx/k" must not be audited as bucket "media/x" and written to bucket "media".
  const auto r = try_path("PUT", "/media%2Fx/k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().error, S3Error::InvalidBucketName);
}

TEST(Classify, LineBreakInBucketIsRefused) {
  EXPECT_EQ(try_path("PUT", "/media%0D%0AHost:x/k").failure().error, S3Error::InvalidBucketName);
}

TEST(Classify, InvalidVirtualHostedBucketIsRefused) {
  EXPECT_EQ(try_host("PUT", "Bad_Bucket.s3.local", "/k").failure().error, S3Error::InvalidBucketName);
  EXPECT_EQ(try_host("PUT", "a.s3.local", "/k").failure().error, S3Error::InvalidBucketName);
}

TEST(Classify, LegacyBucketNamesOnlyWhenAllowed) {
  EXPECT_EQ(try_path("PUT", "/My_Bucket/k").failure().error, S3Error::InvalidBucketName);
  EXPECT_TRUE(try_path("PUT", "/My_Bucket/k", "", true).ok());
}

TEST(Classify, DecodesBucketSegment) {
  EXPECT_EQ(classify_path("GET", "/my%2Dbucket").bucket, "my-bucket");
}

TEST(Classify, RootGetIsListBuckets) {
  const auto t = classify_path("GET", "/");
  EXPECT_EQ(t.op, Op::ListBuckets);
  EXPECT_EQ(t.bucket, "");
  EXPECT_EQ(upstream_path(t), "/");
}

TEST(Classify, RootPutIsUnknown) { EXPECT_EQ(classify_path("PUT", "/").op, Op::Unknown); }

TEST(Classify, EmptyBucketSegmentIsRefusedNotTurnedIntoListBuckets) {
  for (std::string_view path : {"//key", "//", "///a/b"}) {
    const auto r = try_path("GET", path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.failure().error, S3Error::InvalidBucketName) << path;
  }
}

// --- bucket names ---------------------------------------------------------------------

TEST(ValidBucketName, AcceptsS3Names) {
  const std::vector<std::string_view> names{"abc", "media", "my-bucket.example", "a1.b2-c3",
                                            "b23456789012345678901234567890123456789012345678901234567890123"};
  for (std::string_view name : names) {
    EXPECT_TRUE(valid_bucket_name(name, false)) << name;
  }
}

TEST(ValidBucketName, RefusesWhatS3Refuses) {
  const std::vector<std::string_view> names{
      "ab", "", "b234567890123456789012345678901234567890123456789012345678901234", "My-Bucket", "my_bucket",
      "-bucket", "bucket-", ".bucket", "bucket.", "bucket..x", "192.168.1.1", "xn--bucket", "sthree-x",
      "bucket-s3alias", "bucket--ol-s3", "a b", "a/b", "a\r\nb", std::string_view("abc\0", 4), "b\xc3\xbc" "cket"};
  for (std::string_view name : names) {
    EXPECT_FALSE(valid_bucket_name(name, false)) << name;
  }
}

TEST(ValidBucketName, LegacyAdmitsUpperCaseUnderscoreAndLongNames) {
  EXPECT_TRUE(valid_bucket_name("My_Bucket", true));
  EXPECT_TRUE(valid_bucket_name(std::string(255, 'b'), true));
  EXPECT_FALSE(valid_bucket_name(std::string(256, 'b'), true));
  EXPECT_FALSE(valid_bucket_name("a/b", true));
  EXPECT_FALSE(valid_bucket_name("_bucket", true));
  EXPECT_FALSE(valid_bucket_name("a b", true));
}

TEST(DnsCompatibleBucket, RefusesDotsNextToDashes) {
  EXPECT_TRUE(dns_compatible_bucket("my.bucket"));
  EXPECT_FALSE(dns_compatible_bucket("my.-bucket"));
  EXPECT_FALSE(dns_compatible_bucket("my-.bucket"));
  EXPECT_FALSE(dns_compatible_bucket("My_Bucket"));
}

TEST(IsWriteRequest, CountsUnclassifiedChangingMethodsAsWrites) {
  EXPECT_TRUE(is_write_request(Op::Unknown, "PUT"));
  EXPECT_TRUE(is_write_request(Op::Unknown, "POST"));
  EXPECT_TRUE(is_write_request(Op::Unknown, "DELETE"));
  EXPECT_FALSE(is_write_request(Op::Unknown, "GET"));
  EXPECT_FALSE(is_write_request(Op::Unknown, "HEAD"));
  EXPECT_TRUE(is_write_request(Op::PutObject, "PUT"));
  EXPECT_FALSE(is_write_request(Op::GetObject, "GET"));
}

// --- virtual-hosted addressing ------------------------------------------------------------

TEST(Classify, VirtualHostTakesBucketFromHost) {
  const auto t = classify_host("PUT", "media.s3.local:8080", "/a%20b/c.jpg");
  EXPECT_TRUE(t.virtual_hosted);
  EXPECT_EQ(t.op, Op::PutObject);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "a b/c.jpg");
  EXPECT_EQ(upstream_location(t.bucket, t.key, t.key_part, true, "up:7480").path, "/a%20b/c.jpg");
}

TEST(Classify, VirtualHostAllowsDotsInBucket) {
  const auto t = classify_host("GET", "my.media.storage.example.org", "/k");
  EXPECT_TRUE(t.virtual_hosted);
  EXPECT_EQ(t.bucket, "my.media");
}

TEST(Classify, VirtualHostMatchesDomainCaseInsensitively) {
  const auto t = classify_host("GET", "Media.S3.Local", "/k");
  EXPECT_TRUE(t.virtual_hosted);
  EXPECT_EQ(t.bucket, "media");
}

TEST(Classify, VirtualHostBucketRootIsBucketOperation) {
  const auto t = classify_host("GET", "media.s3.local", "/", "list-type=2&prefix=a");
  EXPECT_EQ(t.op, Op::ListObjectsV2);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(upstream_location(t.bucket, t.key, t.key_part, true, "up:7480").path, "/");
}

TEST(Classify, BareDomainIsPathStyle) {
  const auto t = classify_host("GET", "s3.local:9000", "/media/k");
  EXPECT_FALSE(t.virtual_hosted);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "k");
}

TEST(Classify, HostOfOtherDomainIsPathStyle) {
  const auto t = classify_host("GET", "media.s3.localhost", "/media/k");
  EXPECT_FALSE(t.virtual_hosted);
  EXPECT_EQ(t.bucket, "media");
}

TEST(Classify, HostSuffixWithoutDotBoundaryIsPathStyle) {
  EXPECT_FALSE(classify_host("GET", "medias3.local", "/media/k").virtual_hosted);
}

TEST(Classify, Ipv6HostIsPathStyle) {
  EXPECT_FALSE(classify_host("GET", "[::1]:8080", "/media/k").virtual_hosted);
}

// --- operations from method and subresource ---------------------------------------------

struct OpCase {
  const char* method;
  const char* path;
  const char* query;
  bool copy_source;
  Op expected;
};

class ClassifyOp : public ::testing::TestWithParam<OpCase> {};

TEST_P(ClassifyOp, MapsMethodAndSubresourceToOperation) {
  const OpCase& c = GetParam();
  EXPECT_EQ(op_name(classify_path(c.method, c.path, c.query, c.copy_source).op), op_name(c.expected))
      << c.method << " " << c.path << "?" << c.query;
}

INSTANTIATE_TEST_SUITE_P(
    Objects, ClassifyOp,
    ::testing::Values(OpCase{"GET", "/bkt/k", "", false, Op::GetObject},
                      OpCase{"GET", "/bkt/k", "versionId=3&response-content-type=a", false, Op::GetObject},
                      OpCase{"HEAD", "/bkt/k", "", false, Op::HeadObject},
                      OpCase{"PUT", "/bkt/k", "", false, Op::PutObject},
                      OpCase{"PUT", "/bkt/k", "x-id=PutObject", false, Op::PutObject},
                      OpCase{"PUT", "/bkt/k", "", true, Op::CopyObject},
                      OpCase{"PUT", "/bkt/k", "x-id=CopyObject", true, Op::CopyObject},
                      OpCase{"DELETE", "/bkt/k", "", false, Op::DeleteObject},
                      OpCase{"DELETE", "/bkt/k", "versionId=7", false, Op::DeleteObject},
                      OpCase{"GET", "/bkt/k", "acl", false, Op::GetObjectAcl},
                      OpCase{"PUT", "/bkt/k", "acl", false, Op::PutObjectAcl},
                      OpCase{"PUT", "/bkt/k", "acl=", false, Op::PutObjectAcl},
                      OpCase{"GET", "/bkt/k", "tagging", false, Op::GetObjectTagging},
                      OpCase{"PUT", "/bkt/k", "tagging", false, Op::PutObjectTagging},
                      OpCase{"DELETE", "/bkt/k", "tagging", false, Op::DeleteObjectTagging},
                      OpCase{"POST", "/bkt/k", "uploads", false, Op::CreateMultipartUpload},
                      OpCase{"POST", "/bkt/k", "uploads=", false, Op::CreateMultipartUpload},
                      OpCase{"PUT", "/bkt/k", "partNumber=1&uploadId=u", false, Op::UploadPart},
                      OpCase{"PUT", "/bkt/k", "uploadId=u&partNumber=1&x-id=UploadPart", false, Op::UploadPart},
                      OpCase{"PUT", "/bkt/k", "partNumber=1&uploadId=u", true, Op::UploadPartCopy},
                      OpCase{"POST", "/bkt/k", "uploadId=u", false, Op::CompleteMultipartUpload},
                      OpCase{"DELETE", "/bkt/k", "uploadId=u", false, Op::AbortMultipartUpload},
                      OpCase{"GET", "/bkt/k", "uploadId=u&max-parts=10", false, Op::ListParts},
                      OpCase{"PUT", "/bkt/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", false,
                             Op::PutObject},
                      OpCase{"PUT", "/bkt/k", "%61cl", false, Op::PutObjectAcl},
                      OpCase{"POST", "/bkt/k", "", false, Op::Unknown},
                      OpCase{"PUT", "/bkt/k", "uploadId=u", false, Op::Unknown},
                      OpCase{"PUT", "/bkt/k", "policy", false, Op::Unknown},
                      OpCase{"PATCH", "/bkt/k", "", false, Op::Unknown}));

INSTANTIATE_TEST_SUITE_P(
    Buckets, ClassifyOp,
    ::testing::Values(OpCase{"PUT", "/bkt", "", false, Op::CreateBucket},
                      OpCase{"DELETE", "/bkt", "", false, Op::DeleteBucket},
                      OpCase{"HEAD", "/bkt", "", false, Op::HeadBucket},
                      OpCase{"GET", "/bkt", "", false, Op::ListObjects},
                      OpCase{"GET", "/bkt", "prefix=a&delimiter=%2F", false, Op::ListObjects},
                      OpCase{"GET", "/bkt", "list-type=2", false, Op::ListObjectsV2},
                      OpCase{"GET", "/bkt", "list-type=1", false, Op::ListObjects},
                      OpCase{"GET", "/bkt", "versions", false, Op::ListObjectVersions},
                      OpCase{"GET", "/bkt", "acl", false, Op::GetBucketAcl},
                      OpCase{"PUT", "/bkt", "acl", false, Op::PutBucketAcl},
                      OpCase{"GET", "/bkt", "policy", false, Op::GetBucketPolicy},
                      OpCase{"PUT", "/bkt", "policy", false, Op::PutBucketPolicy},
                      OpCase{"DELETE", "/bkt", "policy", false, Op::DeleteBucketPolicy},
                      OpCase{"GET", "/bkt", "policyStatus", false, Op::GetBucketPolicyStatus},
                      OpCase{"GET", "/bkt", "ownershipControls", false, Op::GetBucketOwnershipControls},
                      OpCase{"PUT", "/bkt", "ownershipControls", false, Op::PutBucketOwnershipControls},
                      OpCase{"GET", "/bkt", "location", false, Op::GetBucketLocation},
                      OpCase{"GET", "/bkt", "versioning", false, Op::GetBucketVersioning},
                      OpCase{"PUT", "/bkt", "versioning", false, Op::PutBucketVersioning},
                      OpCase{"GET", "/bkt", "cors", false, Op::GetBucketCors},
                      OpCase{"PUT", "/bkt", "cors", false, Op::PutBucketCors},
                      OpCase{"DELETE", "/bkt", "cors", false, Op::DeleteBucketCors},
                      OpCase{"GET", "/bkt", "lifecycle", false, Op::GetBucketLifecycleConfiguration},
                      OpCase{"PUT", "/bkt", "lifecycle", false, Op::PutBucketLifecycleConfiguration},
                      OpCase{"DELETE", "/bkt", "lifecycle", false, Op::DeleteBucketLifecycle},
                      OpCase{"GET", "/bkt", "tagging", false, Op::GetBucketTagging},
                      OpCase{"PUT", "/bkt", "tagging", false, Op::PutBucketTagging},
                      OpCase{"DELETE", "/bkt", "tagging", false, Op::DeleteBucketTagging},
                      OpCase{"GET", "/bkt", "uploads", false, Op::ListMultipartUploads},
                      OpCase{"POST", "/bkt", "delete", false, Op::DeleteObjects},
                      OpCase{"POST", "/bkt/", "delete=", false, Op::DeleteObjects},
                      OpCase{"POST", "/bkt", "", false, Op::PostObject},
                      OpCase{"PUT", "/bkt", "location", false, Op::Unknown},
                      OpCase{"POST", "/bkt", "uploads", false, Op::Unknown}));

TEST(Classify, MarksAclSubresource) {
  EXPECT_TRUE(classify_path("PUT", "/bkt/k", "acl").acl_subresource);
  EXPECT_TRUE(classify_path("GET", "/bkt", "acl=").acl_subresource);
  EXPECT_FALSE(classify_path("PUT", "/bkt/k", "x-id=PutObject").acl_subresource);
  EXPECT_FALSE(classify_path("PUT", "/bkt/k", "aclx").acl_subresource);
}

// --- every captured client request -------------------------------------------------------

// One letter per request of each capture, in order, worked out by hand from its method,
// path, query and headers: H HeadBucket, h HeadObject, P PutObject, Y CopyObject,
// C CreateMultipartUpload, U UploadPart, M CompleteMultipartUpload, A PutObjectAcl,
// a GetObjectAcl, D DeleteObjects, G GetObject, B CreateBucket.
const std::map<std::string, std::string>& expected_capture_ops() {
  static const std::map<std::string, std::string> table{
      {"awscli-debian-tls.jsonl", "HPHCUUUMHPHPHAHPH"},
      {"awscli-debian.jsonl", "HPHCUUUMHPHPHAHPH"},
      {"awscli-v1new-tls.jsonl", "HPHCUUUMHPHPHAHPH"},
      {"awscli-v1new.jsonl", "HPHCUUUMHPHPHAHPH"},
      {"boto3-new-tls.jsonl", "HPHPHPHCUUUMHPHAHPHDHYHPHGHPH"},
      {"boto3-new.jsonl", "HPHPHPHCUUUMHPHAHPHDHYHHGHPH"},
      {"boto3-tls.jsonl", "HPHPHPHCUUUMHPHAHPHDHYHHGHPH"},
      {"boto3.jsonl", "HPHPHPHCUUUMHPHAHPHDHYHHGHPH"},
      {"fog.jsonl", "HPHPHPH"},
      {"js-tls.jsonl", "HPHPHPHPHPHCUUUUMHPHAHYHDHH"},
      {"js.jsonl", "HPHPHPHPHPHCUUUUMHPHAHYHDHH"},
      {"minio-go.jsonl", "HPHPHCUUUUMH"},
      {"rclone.jsonl", "HhBPhHhBPhHhBCUUUUMhHBPhH"},
      {"ruby-tls.jsonl", "HPHPHCUUUUMHAHYHDH"},
      {"ruby.jsonl", "HPHPHCUUUUMHAHYHDH"},
      {"ruby.run1.jsonl", "HPHPHCUUUUMHAHYHDH"},
      {"s3cmd-setacl.jsonl", "HaA"},
      {"s3cmd.jsonl", "HPHCUUMHaH"},
  };
  return table;
}

Op op_for_letter(char c) {
  switch (c) {
    case 'H': return Op::HeadBucket;
    case 'h': return Op::HeadObject;
    case 'P': return Op::PutObject;
    case 'Y': return Op::CopyObject;
    case 'C': return Op::CreateMultipartUpload;
    case 'U': return Op::UploadPart;
    case 'M': return Op::CompleteMultipartUpload;
    case 'A': return Op::PutObjectAcl;
    case 'a': return Op::GetObjectAcl;
    case 'D': return Op::DeleteObjects;
    case 'G': return Op::GetObject;
    case 'B': return Op::CreateBucket;
    default: return Op::Unknown;
  }
}

struct CapturedRequest {
  std::string method, path, query, host;
  bool copy_source = false;
};

std::vector<CapturedRequest> read_capture(const std::filesystem::path& file) {
  std::vector<CapturedRequest> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto obj = boost::json::parse(line).as_object();
    CapturedRequest r{std::string(obj.at("method").as_string()), std::string(obj.at("path").as_string()),
                      std::string(obj.at("query").as_string()), "", false};
    for (const auto& h : obj.at("headers").as_array()) {
      std::string name(h.as_array().at(0).as_string());
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (name == "host") r.host = std::string(h.as_array().at(1).as_string());
      if (name == "x-amz-copy-source") r.copy_source = true;
    }
    out.push_back(std::move(r));
  }
  return out;
}

TEST(ClassifyCaptures, EveryCaptureFileHasAnExpectation) {
  const std::filesystem::path dir = std::filesystem::path(S3P_TEST_DATA) / "captures";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".jsonl") continue;
    ++files;
    EXPECT_TRUE(expected_capture_ops().contains(entry.path().filename().string())) << entry.path();
  }
  EXPECT_EQ(files, static_cast<int>(expected_capture_ops().size()));
}

TEST(ClassifyCaptures, EveryCapturedRequestGetsItsExpectedOperation) {
  const std::filesystem::path dir = std::filesystem::path(S3P_TEST_DATA) / "captures";
  int checked = 0;
  for (const auto& [file, letters] : expected_capture_ops()) {
    const auto requests = read_capture(dir / file);
    ASSERT_EQ(requests.size(), letters.size()) << file;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& r = requests[i];
      // Some captures used bucket names with '_' that the RGW accepts: the legacy rule.
      const S3Target t = accepted(classify({.method = r.method, .raw_path = r.path, .raw_query = r.query,
                                            .host = r.host, .has_copy_source = r.copy_source,
                                            .legacy_bucket_names = true}));
      const std::string where = file + " #" + std::to_string(i) + " " + r.method + " " + r.path + "?" + r.query;
      EXPECT_NE(t.op, Op::Unknown) << where;
      EXPECT_EQ(op_name(t.op), op_name(op_for_letter(letters[i]))) << where;
      EXPECT_FALSE(t.virtual_hosted) << where;
      EXPECT_FALSE(t.bucket.empty()) << where;
      // Path-style: the upstream is sent the very path the client signed.
      EXPECT_EQ(upstream_path(t), sigv4::canonical_uri(r.path)) << where;
      EXPECT_EQ(t.acl_subresource, t.op == Op::PutObjectAcl || t.op == Op::GetObjectAcl) << where;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 346);
}

TEST(ClassifyCaptures, CapturedHostsAreNotMistakenForVirtualHosts) {
  // The captures were sent to 127.0.0.1: with a configured domain they stay path-style.
  const std::vector<std::string> domains{"s3.local"};
  const auto requests = read_capture(std::filesystem::path(S3P_TEST_DATA) / "captures" / "ruby.jsonl");
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    const S3Target t = accepted(classify({.method = r.method, .raw_path = r.path, .raw_query = r.query, .host = r.host,
                                          .has_copy_source = r.copy_source, .virtual_host_domains = domains,
                                          .legacy_bucket_names = true}));
    EXPECT_FALSE(t.virtual_hosted) << r.path;
  }
}

}  // namespace
}  // namespace s3proxy
