#include "s3proxy/s3_client.hpp"

#include "s3proxy/sigv4.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

UpstreamConfig upstream(Addressing addressing = Addressing::path) {
  UpstreamConfig u;
  u.host = "127.0.0.1";
  u.port = 7480;
  u.host_header = "127.0.0.1:7480";
  u.region = "us-east-1";
  u.access_key_id = "AKIDEXAMPLE";
  u.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  u.addressing = addressing;
  return u;
}

const auto kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 18h;

std::optional<std::string> header(const PreparedRequest& p, std::string_view name) {
  for (const auto& [n, v] : p.headers)
    if (n == name) return v;
  return std::nullopt;
}

// Checks the prepared request with the proxy's own verifier, exactly as an S3 server would.
Result<sigv4::Verified> verify_prepared(const PreparedRequest& p, std::string_view method) {
  std::vector<sigv4::Header> headers;
  for (const auto& [n, v] : p.headers) headers.push_back({n, v});
  const auto q = p.target.find('?');
  const std::string_view target = p.target;
  const sigv4::RequestView view{method, target.substr(0, q),
                                q == std::string_view::npos ? std::string_view{} : target.substr(q + 1), headers};
  const Secret secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  return sigv4::verify(view, [&](std::string_view id) { return id == "AKIDEXAMPLE" ? &secret : nullptr; }, kNow);
}

TEST(PrepareRequest, PathStyleTargetsBucketThenEncodedKey) {
  const auto p = prepare_request(S3ClientRequest{http::verb::put, "media", "a b/c+d.txt", {}, {}, "x"}, upstream(), kNow);
  EXPECT_EQ(p.host, "127.0.0.1:7480");
  EXPECT_EQ(p.target, "/media/a%20b/c%2Bd.txt");
}

TEST(PrepareRequest, VirtualHostedStyleMovesBucketIntoHost) {
  const auto p = prepare_request(S3ClientRequest{http::verb::get, "media", "k", {}, {}, {}},
                                 upstream(Addressing::virtual_host), kNow);
  EXPECT_EQ(p.host, "media.127.0.0.1:7480");
  EXPECT_EQ(p.target, "/k");
}

TEST(PrepareRequest, ListBucketsTargetsRoot) {
  const auto p = prepare_request(S3ClientRequest{http::verb::get, {}, {}, {}, {}, {}}, upstream(), kNow);
  EXPECT_EQ(p.target, "/");
}

TEST(PrepareRequest, QueryIsCanonicalSortedAndEncoded) {
  const auto p = prepare_request(
      S3ClientRequest{http::verb::get, "media", {}, {{"prefix", "a b/"}, {"list-type", "2"}}, {}, {}}, upstream(), kNow);
  EXPECT_EQ(p.target, "/media?list-type=2&prefix=a%20b%2F");
}

TEST(PrepareRequest, BareSubresourceGetsEqualsSign) {
  const auto p = prepare_request(S3ClientRequest{http::verb::get, "media", {}, {{"policy", ""}}, {}, {}}, upstream(), kNow);
  EXPECT_EQ(p.target, "/media?policy=");
}

TEST(PrepareRequest, PayloadHashIsHexSha256OfBody) {
  const auto p = prepare_request(S3ClientRequest{http::verb::put, "media", "k", {}, {}, "hello"}, upstream(), kNow);
  EXPECT_EQ(header(p, "x-amz-content-sha256"), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(header(p, "content-length"), "5");
}

TEST(PrepareRequest, SignatureVerifiesAsTheUpstreamWouldCheckIt) {
  const auto p = prepare_request(
      S3ClientRequest{http::verb::put, "media", "dir/ob ject", {}, {{"X-Amz-ACL", "public-read"}}, "body"}, upstream(),
      kNow);
  auto verified = verify_prepared(p, "PUT");
  ASSERT_TRUE(verified.ok()) << verified.failure().message;
  const auto& signed_headers = verified->params.signed_headers;
  EXPECT_NE(std::find(signed_headers.begin(), signed_headers.end(), "x-amz-acl"), signed_headers.end());
}

TEST(PrepareRequest, QuerySignatureVerifies) {
  const auto p = prepare_request(
      S3ClientRequest{http::verb::get, "media", {}, {{"list-type", "2"}, {"prefix", ".s3-acl-proxy/canary/x y"}}, {}, {}},
      upstream(), kNow);
  auto verified = verify_prepared(p, "GET");
  EXPECT_TRUE(verified.ok()) << verified.failure().message;
}

TEST(PrepareRequest, NoSecretInAnyHeader) {
  const auto p = prepare_request(S3ClientRequest{http::verb::get, "media", "k", {}, {}, {}}, upstream(), kNow);
  for (const auto& [n, v] : p.headers) EXPECT_EQ(v.find("wJalrXUtnFEMI"), std::string::npos) << n;
  EXPECT_EQ(p.headers.back().first, "authorization");
}

TEST(DescribeFailure, NamesCodeAndStatus) {
  S3Response r;
  r.status = 403;
  r.s3_code = "AccessDenied";
  EXPECT_EQ(describe_failure(r), "AccessDenied (403)");
}

TEST(DescribeFailure, FallsBackToHttpStatusWithoutCode) {
  S3Response r;
  r.status = 404;
  EXPECT_EQ(describe_failure(r), "HTTP 404");
}

TEST(DescribeFailure, SaysNoAnswerOnTransportError) {
  S3Response r;
  r.transport = asio::error::connection_refused;
  EXPECT_EQ(describe_failure(r).rfind("no answer from the upstream: ", 0), 0u);
}

TEST(XmlElement, ReturnsDecodedText) {
  EXPECT_EQ(xml_element("<a><ObjectOwnership>Bucket&amp;Owner</ObjectOwnership></a>", "ObjectOwnership"),
            "Bucket&Owner");
  EXPECT_EQ(xml_element("<a></a>", "ObjectOwnership"), std::nullopt);
}

TEST(ListingContainsKey, FindsExactKeyOnly) {
  const std::string xml =
      "<ListBucketResult><Contents><Key>p/a&amp;b</Key></Contents><Contents><Key>p/abc</Key></Contents>"
      "</ListBucketResult>";
  EXPECT_TRUE(listing_contains_key(xml, "p/a&b"));
  EXPECT_TRUE(listing_contains_key(xml, "p/abc"));
  EXPECT_FALSE(listing_contains_key(xml, "p/ab"));
  EXPECT_FALSE(listing_contains_key("<ListBucketResult></ListBucketResult>", "p/abc"));
}

}  // namespace
}  // namespace s3proxy
