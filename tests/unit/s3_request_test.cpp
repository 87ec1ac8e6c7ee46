#include "s3proxy/s3_request.hpp"

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

S3Target classify_path(std::string_view method, std::string_view path, std::string_view query = "",
                       bool copy_source = false) {
  return classify({.method = method, .raw_path = path, .raw_query = query, .host = "127.0.0.1:8080",
                   .has_copy_source = copy_source});
}

S3Target classify_host(std::string_view method, std::string_view host, std::string_view path,
                       std::string_view query = "") {
  static const std::vector<std::string> domains{"s3.local", "storage.example.org"};
  return classify({.method = method, .raw_path = path, .raw_query = query, .host = host,
                   .virtual_host_domains = domains});
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

// --- path-style addressing --------------------------------------------------------------

TEST(Classify, PathStyleSplitsBucketAndKey) {
  const auto t = classify_path("PUT", "/media/cache/a%20b/c.jpg");
  EXPECT_EQ(t.op, Op::PutObject);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "cache/a b/c.jpg");
  EXPECT_EQ(t.raw_key_path, "/cache/a%20b/c.jpg");
  EXPECT_FALSE(t.virtual_hosted);
}

TEST(Classify, PathStyleBucketWithoutSlashHasNoKeyPart) {
  const auto t = classify_path("HEAD", "/media");
  EXPECT_EQ(t.op, Op::HeadBucket);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "");
  EXPECT_EQ(t.raw_key_path, "");
}

TEST(Classify, PathStyleBucketWithTrailingSlashKeepsSlashAsKeyPart) {
  const auto t = classify_path("POST", "/media/", "delete");
  EXPECT_EQ(t.op, Op::DeleteObjects);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "");
  EXPECT_EQ(t.raw_key_path, "/");
}

TEST(Classify, KeepsDoubleSlashesAndPlusInKey) {
  const auto t = classify_path("GET", "/media//a+b%2Bc");
  EXPECT_EQ(t.op, Op::GetObject);
  EXPECT_EQ(t.key, "/a+b+c");
  EXPECT_EQ(t.raw_key_path, "//a+b%2Bc");
}

TEST(Classify, KeepsMalformedPercentEscapeLiterally) {
  const auto t = classify_path("GET", "/media/100%zz%4");
  EXPECT_EQ(t.op, Op::GetObject);
  EXPECT_EQ(t.key, "100%zz%4");
}

TEST(Classify, DecodesBucketSegment) {
  EXPECT_EQ(classify_path("GET", "/my%2Dbucket").bucket, "my-bucket");
}

TEST(Classify, RootGetIsListBuckets) {
  const auto t = classify_path("GET", "/");
  EXPECT_EQ(t.op, Op::ListBuckets);
  EXPECT_EQ(t.bucket, "");
  EXPECT_EQ(t.raw_key_path, "");
}

TEST(Classify, RootPutIsUnknown) { EXPECT_EQ(classify_path("PUT", "/").op, Op::Unknown); }

TEST(Classify, EmptyBucketSegmentWithKeyIsUnknown) { EXPECT_EQ(classify_path("GET", "//key").op, Op::Unknown); }

// --- virtual-hosted addressing ------------------------------------------------------------

TEST(Classify, VirtualHostTakesBucketFromHost) {
  const auto t = classify_host("PUT", "media.s3.local:8080", "/a%20b/c.jpg");
  EXPECT_TRUE(t.virtual_hosted);
  EXPECT_EQ(t.op, Op::PutObject);
  EXPECT_EQ(t.bucket, "media");
  EXPECT_EQ(t.key, "a b/c.jpg");
  EXPECT_EQ(t.raw_key_path, "/a%20b/c.jpg");
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
  EXPECT_EQ(t.raw_key_path, "/");
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
    ::testing::Values(OpCase{"GET", "/b/k", "", false, Op::GetObject},
                      OpCase{"GET", "/b/k", "versionId=3&response-content-type=a", false, Op::GetObject},
                      OpCase{"HEAD", "/b/k", "", false, Op::HeadObject},
                      OpCase{"PUT", "/b/k", "", false, Op::PutObject},
                      OpCase{"PUT", "/b/k", "x-id=PutObject", false, Op::PutObject},
                      OpCase{"PUT", "/b/k", "", true, Op::CopyObject},
                      OpCase{"PUT", "/b/k", "x-id=CopyObject", true, Op::CopyObject},
                      OpCase{"DELETE", "/b/k", "", false, Op::DeleteObject},
                      OpCase{"DELETE", "/b/k", "versionId=7", false, Op::DeleteObject},
                      OpCase{"GET", "/b/k", "acl", false, Op::GetObjectAcl},
                      OpCase{"PUT", "/b/k", "acl", false, Op::PutObjectAcl},
                      OpCase{"PUT", "/b/k", "acl=", false, Op::PutObjectAcl},
                      OpCase{"GET", "/b/k", "tagging", false, Op::GetObjectTagging},
                      OpCase{"PUT", "/b/k", "tagging", false, Op::PutObjectTagging},
                      OpCase{"DELETE", "/b/k", "tagging", false, Op::DeleteObjectTagging},
                      OpCase{"POST", "/b/k", "uploads", false, Op::CreateMultipartUpload},
                      OpCase{"POST", "/b/k", "uploads=", false, Op::CreateMultipartUpload},
                      OpCase{"PUT", "/b/k", "partNumber=1&uploadId=u", false, Op::UploadPart},
                      OpCase{"PUT", "/b/k", "uploadId=u&partNumber=1&x-id=UploadPart", false, Op::UploadPart},
                      OpCase{"PUT", "/b/k", "partNumber=1&uploadId=u", true, Op::UploadPartCopy},
                      OpCase{"POST", "/b/k", "uploadId=u", false, Op::CompleteMultipartUpload},
                      OpCase{"DELETE", "/b/k", "uploadId=u", false, Op::AbortMultipartUpload},
                      OpCase{"GET", "/b/k", "uploadId=u&max-parts=10", false, Op::ListParts},
                      OpCase{"PUT", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", false,
                             Op::PutObject},
                      OpCase{"PUT", "/b/k", "%61cl", false, Op::PutObjectAcl},
                      OpCase{"POST", "/b/k", "", false, Op::Unknown},
                      OpCase{"PUT", "/b/k", "uploadId=u", false, Op::Unknown},
                      OpCase{"PUT", "/b/k", "policy", false, Op::Unknown},
                      OpCase{"PATCH", "/b/k", "", false, Op::Unknown}));

INSTANTIATE_TEST_SUITE_P(
    Buckets, ClassifyOp,
    ::testing::Values(OpCase{"PUT", "/b", "", false, Op::CreateBucket},
                      OpCase{"DELETE", "/b", "", false, Op::DeleteBucket},
                      OpCase{"HEAD", "/b", "", false, Op::HeadBucket},
                      OpCase{"GET", "/b", "", false, Op::ListObjects},
                      OpCase{"GET", "/b", "prefix=a&delimiter=%2F", false, Op::ListObjects},
                      OpCase{"GET", "/b", "list-type=2", false, Op::ListObjectsV2},
                      OpCase{"GET", "/b", "list-type=1", false, Op::ListObjects},
                      OpCase{"GET", "/b", "versions", false, Op::ListObjectVersions},
                      OpCase{"GET", "/b", "acl", false, Op::GetBucketAcl},
                      OpCase{"PUT", "/b", "acl", false, Op::PutBucketAcl},
                      OpCase{"GET", "/b", "policy", false, Op::GetBucketPolicy},
                      OpCase{"PUT", "/b", "policy", false, Op::PutBucketPolicy},
                      OpCase{"DELETE", "/b", "policy", false, Op::DeleteBucketPolicy},
                      OpCase{"GET", "/b", "policyStatus", false, Op::GetBucketPolicyStatus},
                      OpCase{"GET", "/b", "ownershipControls", false, Op::GetBucketOwnershipControls},
                      OpCase{"PUT", "/b", "ownershipControls", false, Op::PutBucketOwnershipControls},
                      OpCase{"GET", "/b", "location", false, Op::GetBucketLocation},
                      OpCase{"GET", "/b", "versioning", false, Op::GetBucketVersioning},
                      OpCase{"PUT", "/b", "versioning", false, Op::PutBucketVersioning},
                      OpCase{"GET", "/b", "cors", false, Op::GetBucketCors},
                      OpCase{"PUT", "/b", "cors", false, Op::PutBucketCors},
                      OpCase{"DELETE", "/b", "cors", false, Op::DeleteBucketCors},
                      OpCase{"GET", "/b", "lifecycle", false, Op::GetBucketLifecycleConfiguration},
                      OpCase{"PUT", "/b", "lifecycle", false, Op::PutBucketLifecycleConfiguration},
                      OpCase{"DELETE", "/b", "lifecycle", false, Op::DeleteBucketLifecycle},
                      OpCase{"GET", "/b", "tagging", false, Op::GetBucketTagging},
                      OpCase{"PUT", "/b", "tagging", false, Op::PutBucketTagging},
                      OpCase{"DELETE", "/b", "tagging", false, Op::DeleteBucketTagging},
                      OpCase{"GET", "/b", "uploads", false, Op::ListMultipartUploads},
                      OpCase{"POST", "/b", "delete", false, Op::DeleteObjects},
                      OpCase{"POST", "/b/", "delete=", false, Op::DeleteObjects},
                      OpCase{"POST", "/b", "", false, Op::PostObject},
                      OpCase{"PUT", "/b", "location", false, Op::Unknown},
                      OpCase{"POST", "/b", "uploads", false, Op::Unknown}));

TEST(Classify, MarksAclSubresource) {
  EXPECT_TRUE(classify_path("PUT", "/b/k", "acl").acl_subresource);
  EXPECT_TRUE(classify_path("GET", "/b", "acl=").acl_subresource);
  EXPECT_FALSE(classify_path("PUT", "/b/k", "x-id=PutObject").acl_subresource);
  EXPECT_FALSE(classify_path("PUT", "/b/k", "aclx").acl_subresource);
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
      const S3Target t = classify({.method = r.method, .raw_path = r.path, .raw_query = r.query, .host = r.host,
                                   .has_copy_source = r.copy_source});
      const std::string where = file + " #" + std::to_string(i) + " " + r.method + " " + r.path + "?" + r.query;
      EXPECT_NE(t.op, Op::Unknown) << where;
      EXPECT_EQ(op_name(t.op), op_name(op_for_letter(letters[i]))) << where;
      EXPECT_FALSE(t.virtual_hosted) << where;
      EXPECT_FALSE(t.bucket.empty()) << where;
      // Path-style: the raw path is exactly "/" + bucket + raw_key_path.
      EXPECT_EQ("/" + t.bucket + t.raw_key_path, r.path) << where;
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
    const S3Target t = classify({.method = r.method, .raw_path = r.path, .raw_query = r.query, .host = r.host,
                                 .has_copy_source = r.copy_source, .virtual_host_domains = domains});
    EXPECT_FALSE(t.virtual_hosted) << r.path;
  }
}

}  // namespace
}  // namespace s3proxy
