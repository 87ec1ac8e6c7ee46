#include "s3proxy/framing.hpp"

#include "s3proxy/forward.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace s3proxy {
namespace {

struct Head {
  std::string method = "PUT";
  std::string target = "/media/a.jpg";
  std::vector<std::pair<std::string, std::string>> fields{{"Host", "127.0.0.1:8080"}, {"Content-Length", "5"}};
  std::vector<sigv4::Header> views;

  std::optional<Failure> check() {
    views.clear();
    for (const auto& [n, v] : fields) views.push_back({n, v});
    return check_request_head(RequestHead{method, target, views});
  }
  std::optional<S3Error> error() {
    auto f = check();
    return f ? std::optional<S3Error>(f->error) : std::nullopt;
  }
};

TEST(RequestFraming, AcceptsAnOrdinaryUpload) { EXPECT_EQ(Head{}.error(), std::nullopt); }

TEST(RequestFraming, AcceptsEverySMethodS3Uses) {
  for (const char* m : {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"}) {
    Head h;
    h.method = m;
    EXPECT_EQ(h.error(), std::nullopt) << m;
  }
}

TEST(RequestFraming, RefusesOtherMethodsAsMethodNotAllowed) {
  for (const char* m : {"PATCH", "TRACE", "CONNECT", "PROPFIND", "get", "FOO"}) {
    Head h;
    h.method = m;
    EXPECT_EQ(h.error(), S3Error::MethodNotAllowed) << m;
  }
}

TEST(RequestFraming, RefusesTargetsThatAreNotOriginForm) {
  for (const char* t : {"http://example.com/media/a", "*", "example.com:443", ""}) {
    Head h;
    h.target = t;
    EXPECT_EQ(h.error(), S3Error::InvalidRequest) << t;
  }
}

TEST(RequestFraming, RefusesMissingOrRepeatedHost) {
  Head missing;
  missing.fields = {{"Content-Length", "5"}};
  EXPECT_EQ(missing.error(), S3Error::InvalidRequest);
  Head twice;
  twice.fields.emplace_back("host", "evil.example");
  EXPECT_EQ(twice.error(), S3Error::InvalidRequest);
}

TEST(RequestFraming, RefusesBothContentLengthAndTransferEncoding) {
  Head h;
  h.fields.emplace_back("Transfer-Encoding", "chunked");
  EXPECT_EQ(h.error(), S3Error::InvalidRequest);
}

TEST(RequestFraming, RefusesTransferEncodingThatDoesNotEndInChunked) {
  for (const char* te : {"gzip", "chunked, gzip", "identity", "chunked, chunked", ""}) {
    Head h;
    h.fields = {{"Host", "h"}, {"Transfer-Encoding", te}};
    EXPECT_EQ(h.error(), S3Error::InvalidRequest) << te;
  }
  Head ok;
  ok.fields = {{"Host", "h"}, {"Transfer-Encoding", "gzip, Chunked"}};
  EXPECT_EQ(ok.error(), std::nullopt);
}

TEST(RequestFraming, RefusesRepeatedFramingFields) {
  Head lengths;
  lengths.fields.emplace_back("content-length", "5");
  EXPECT_EQ(lengths.error(), S3Error::InvalidRequest);
  Head encodings;
  encodings.fields = {{"Host", "h"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(encodings.error(), S3Error::InvalidRequest);
}

TEST(RequestFraming, RefusesContentLengthNoS3BodyCanHave) {
  Head h;
  h.fields[1].second = std::to_string(kMaxObjectSize + 1);
  EXPECT_EQ(h.error(), S3Error::EntityTooLarge);
  h.fields[1].second = "99999999999999999999999";
  EXPECT_EQ(h.error(), S3Error::EntityTooLarge);
  h.fields[1].second = std::to_string(kMaxObjectSize);
  EXPECT_EQ(h.error(), std::nullopt);
}

TEST(RequestFraming, AllowsChunkFramingOnTopOfTheLargestAwsChunkedObject) {
  Head h;
  h.fields.emplace_back("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  h.fields[1].second = std::to_string(kMaxObjectSize + kMaxFramingOverhead);
  EXPECT_EQ(h.error(), std::nullopt);
  h.fields[1].second = std::to_string(kMaxObjectSize + kMaxFramingOverhead + 1);
  EXPECT_EQ(h.error(), S3Error::EntityTooLarge);
}

TEST(RequestFraming, RefusesContentLengthThatIsNotOneNumber) {
  for (const char* v : {"5, 5", "-1", "+5", "0x10", "5 5"}) {
    Head h;
    h.fields[1].second = v;
    EXPECT_NE(h.error(), std::nullopt) << v;
  }
}

TEST(RequestFraming, RefusesTooManyHeaderFields) {
  Head h;
  for (std::size_t i = h.fields.size(); i < kMaxHeaderFields; ++i) h.fields.emplace_back("x-pad", "1");
  EXPECT_EQ(h.error(), std::nullopt);
  h.fields.emplace_back("x-pad", "1");
  EXPECT_EQ(h.error(), S3Error::RequestHeaderSectionTooLarge);
}

TEST(RequestFraming, RefusesConnectionNamingAnEndToEndField) {
  for (const char* named : {"x-amz-acl", "X-Amz-Server-Side-Encryption", "authorization", "content-type", "host"}) {
    Head h;
    h.fields.emplace_back("Connection", std::string("keep-alive, ") + named);
    EXPECT_EQ(h.error(), S3Error::InvalidRequest) << named;
  }
  Head ok;
  ok.fields.emplace_back("Connection", "keep-alive, TE");
  EXPECT_EQ(ok.error(), std::nullopt);
}

// A CGI-style server (Ceph RGW's frontends among them) reads a header name with '-' and '_'
// alike: "x_amz_acl" would reach it as x-amz-acl, unsigned and never stripped.
TEST(RequestFraming, RefusesHeaderNamesWithAnUnderscore) {
  for (const char* name : {"x_amz_acl", "X_Amz_Meta_Note", "x-amz_copy-source", "content_md5", "_", "x-amz-meta_note",
                           "x-amz-grant_read"}) {
    Head h;
    h.fields.emplace_back(name, "public-read");
    EXPECT_EQ(h.error(), S3Error::InvalidRequest) << name;
  }
}

// Verification reads the first x-amz-content-sha256 and the size limit would have read the
// last: a repeat is refused, so there is one payload mode for all.
TEST(RequestFraming, RefusesARepeatedPayloadHash) {
  Head h;
  h.fields.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  h.fields.emplace_back("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  EXPECT_EQ(h.error(), S3Error::InvalidRequest);
}

// Read as '-' these stay user metadata, signed like every x-amz-* field.
TEST(RequestFraming, AcceptsUnderscoresInAUserMetadataName) {
  for (const char* name : {"x-amz-meta-my_key", "X-Amz-Meta-Trace_Id_2"}) {
    Head h;
    h.fields.emplace_back(name, "kept");
    EXPECT_FALSE(h.check().has_value()) << name;
  }
}

TEST(RequestFraming, EchoesAHostileMethodOnlyBounded) {
  Head h;
  h.method = std::string(5000, 'X');
  const auto f = h.check();
  ASSERT_TRUE(f.has_value());
  EXPECT_LT(f->message.size(), 300u);
}

TEST(ObsFold, FindsAFoldedHeaderLine) {
  EXPECT_TRUE(has_obs_fold("PUT /b/k HTTP/1.1\r\nHost: h\r\nx-note: a\r\n b\r\n\r\n"));
  EXPECT_TRUE(has_obs_fold("PUT /b/k HTTP/1.1\r\nHost: h\r\nx-note: a\r\n\tb"));
  EXPECT_TRUE(has_obs_fold("PUT /b/k HTTP/1.1\r\n Host: h\r\n\r\n"));
}

TEST(ObsFold, IgnoresOrdinaryHeadersAndTheBody) {
  EXPECT_FALSE(has_obs_fold("PUT /b/k HTTP/1.1\r\nHost: h\r\nx-note: a b\r\n\r\n"));
  EXPECT_FALSE(has_obs_fold("PUT /b/k HTTP/1.1\r\nHost: h\r\n\r\nbody\r\n folded-looking body\r\n"));
  EXPECT_FALSE(has_obs_fold("PUT /b/k HTTP/1.1\r\nHo"));
}

TEST(LeadingMethod, NamesTheMethodOfARefusedRequest) {
  EXPECT_EQ(leading_method("PUT /b/k HTTP/1.1\nHost: h\n\n"), "PUT");
  EXPECT_EQ(leading_method("DELETE /b/k HTTP/1.1\r\n"), "DELETE");
  EXPECT_EQ(leading_method("PU(T /b/k HTTP/1.1\r\n"), "");
  EXPECT_EQ(leading_method(std::string(100, 'A') + " /"), "");
  EXPECT_EQ(leading_method("garbage"), "");
}

}  // namespace
}  // namespace s3proxy
