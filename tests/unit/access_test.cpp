#include "s3proxy/access.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace s3proxy {
namespace {

// A request as received, owning its strings.
struct Request {
  std::string method = "GET";
  std::string path = "/media/a.jpg";
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers{{"Host", "127.0.0.1:8080"}};
  std::vector<sigv4::Header> views;

  Request& with(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  sigv4::RequestView view() {
    views.clear();
    for (const auto& [n, v] : headers) views.push_back({n, v});
    return {method, path, query, views};
  }
};

Request options(std::string path = "/media/a.jpg") {
  Request r;
  r.method = "OPTIONS";
  r.path = std::move(path);
  return r;
}

Request preflight() {
  return options().with("Origin", "https://app.example").with("Access-Control-Request-Method", "PUT");
}

Request with_query(std::string query) {
  Request r;
  r.query = std::move(query);
  return r;
}

// --- carries_credentials ------------------------------------------------------------

TEST(CarriesCredentials, PlainRequestCarriesNone) {
  auto r = Request{}.with("Origin", "https://app.example").with("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  EXPECT_FALSE(carries_credentials(r.view()));
}

TEST(CarriesCredentials, AuthorizationHeaderCountsWhateverItsValue) {
  for (const char* value : {"AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, "
                            "Signature=00",
                            "AWS4-HMAC-SHA256", "AWS AKID:c2lnbmF0dXJl", "Bearer token", "", "   "}) {
    auto r = Request{}.with("Authorization", value);
    EXPECT_TRUE(carries_credentials(r.view())) << '"' << value << '"';
  }
}

TEST(CarriesCredentials, AuthorizationHeaderNameInAnyCase) {
  auto r = Request{}.with("aUtHoRiZaTiOn", "x");
  EXPECT_TRUE(carries_credentials(r.view()));
}

TEST(CarriesCredentials, SecurityTokenHeaderCounts) {
  auto r = Request{}.with("X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE");
  EXPECT_TRUE(carries_credentials(r.view()));
}

TEST(CarriesCredentials, AnyOnePresignedV4ParameterCounts) {
  for (const char* q : {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Credential=AKID%2F20261123%2Fus-east-1%2Fs3",
                        "X-Amz-Signature=00", "X-Amz-SignedHeaders=host", "X-Amz-Security-Token=tok",
                        "versionId=3&X-Amz-Signature", "x-id=GetObject&X-Amz-Credential="}) {
    auto r = with_query(q);
    EXPECT_TRUE(carries_credentials(r.view())) << q;
  }
}

TEST(CarriesCredentials, PresignedParameterNamesMatchInAnyCaseAndEncoded) {
  for (const char* q : {"x-amz-signature=00", "X-AMZ-CREDENTIAL=a", "X%2DAmz%2DSignature=00", "%58-Amz-Algorithm=x"}) {
    auto r = with_query(q);
    EXPECT_TRUE(carries_credentials(r.view())) << q;
  }
}

TEST(CarriesCredentials, PresignedV2ParametersCount) {
  for (const char* q : {"AWSAccessKeyId=AKID&Expires=1&Signature=abc", "AWSAccessKeyId=AKID", "Signature=abc"}) {
    auto r = with_query(q);
    EXPECT_TRUE(carries_credentials(r.view())) << q;
  }
}

TEST(CarriesCredentials, OrdinaryQueryParametersAreNoCredentials) {
  for (const char* q : {"versionId=abc", "response-content-type=text%2Fplain", "x-id=GetObject", "uploads",
                        "list-type=2&prefix=Signature", "X-Amz-Date=20261123T120000Z", "X-Amz-Expires=60",
                        "cors", "%zz=1"}) {
    auto r = with_query(q);
    EXPECT_FALSE(carries_credentials(r.view())) << q;
  }
}

// --- classify_access ----------------------------------------------------------------

TEST(ClassifyAccess, OptionsWithoutCredentialsGoesOnWhateverTheAnonymousPolicy) {
  for (auto policy : {AnonymousRequests::refuse, AnonymousRequests::forward}) {
    EXPECT_EQ(classify_access(preflight().view(), policy), Access::options);
    EXPECT_EQ(classify_access(options().view(), policy), Access::options);  // not a preflight: the upstream says so
  }
}

TEST(ClassifyAccess, OptionsWithAnAuthorizationHeaderIsVerified) {
  auto r = preflight().with("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=0");
  EXPECT_EQ(classify_access(r.view(), AnonymousRequests::forward), Access::verify);
}

TEST(ClassifyAccess, PresignedOptionsIsVerified) {
  auto r = preflight();
  r.query = "X-Amz-Signature=00";
  EXPECT_EQ(classify_access(r.view(), AnonymousRequests::refuse), Access::verify);
}

TEST(ClassifyAccess, NoCredentialsIsRefusedByDefaultPolicy) {
  EXPECT_EQ(classify_access(Request{}.view(), AnonymousRequests::refuse), Access::verify_refusing);
}

TEST(ClassifyAccess, NoCredentialsIsAnonymousWhenForwarded) {
  for (const char* method : {"GET", "HEAD", "PUT", "POST", "DELETE"}) {
    Request r;
    r.method = method;
    EXPECT_EQ(classify_access(r.view(), AnonymousRequests::forward), Access::anonymous) << method;
  }
}

TEST(ClassifyAccess, PartialOrBrokenAuthorizationIsNeverAnonymous) {
  for (const char* value : {"", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "garbage"}) {
    auto r = Request{}.with("Authorization", value);
    EXPECT_EQ(classify_access(r.view(), AnonymousRequests::forward), Access::verify) << '"' << value << '"';
  }
}

TEST(ClassifyAccess, LoneSecurityTokenIsNeverAnonymous) {
  auto r = Request{}.with("x-amz-security-token", "tok");
  EXPECT_EQ(classify_access(r.view(), AnonymousRequests::forward), Access::verify);
}

// --- signs_upstream -----------------------------------------------------------------

TEST(SignsUpstream, VerifiedRequestsAreSignedAnew) {
  for (const char* method : {"GET", "HEAD", "PUT", "POST", "DELETE"}) {
    EXPECT_TRUE(signs_upstream(Access::verify, method)) << method;
  }
}

TEST(SignsUpstream, OptionsIsNeverSignedEvenWhenVerified) {
  EXPECT_FALSE(signs_upstream(Access::verify, "OPTIONS"));
  EXPECT_FALSE(signs_upstream(Access::options, "OPTIONS"));
}

TEST(SignsUpstream, RequestsWithoutCredentialsAreNeverSigned) {
  for (const char* method : {"GET", "PUT", "OPTIONS"}) {
    EXPECT_FALSE(signs_upstream(Access::anonymous, method)) << method;
    EXPECT_FALSE(signs_upstream(Access::verify_refusing, method)) << method;
  }
}

// --- unauthenticated ----------------------------------------------------------------

TEST(Unauthenticated, NoContentHashMeansUnsignedPayload) {
  const auto v = unauthenticated(Request{}.view());
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->payload_mode, sigv4::PayloadMode::unsigned_payload);
  EXPECT_EQ(v->params.kind, sigv4::AuthKind::none);
  EXPECT_TRUE(v->params.credential.access_key_id.empty());
  EXPECT_TRUE(v->params.signed_headers.empty());
}

TEST(Unauthenticated, HexContentHashIsKeptToBeChecked) {
  const std::string hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
  auto r = Request{}.with("x-amz-content-sha256", " " + hash + " ");
  const auto v = unauthenticated(r.view());
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->payload_mode, sigv4::PayloadMode::hex_sha256);
  EXPECT_EQ(v->params.payload_hash, hash);
}

TEST(Unauthenticated, UnsignedTrailerIsAccepted) {
  auto r = Request{}.with("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
  const auto v = unauthenticated(r.view());
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->payload_mode, sigv4::PayloadMode::streaming_unsigned_trailer);
}

TEST(Unauthenticated, SignedChunksWithoutASignatureAreInvalidRequest) {
  for (const char* mode : {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"}) {
    auto r = Request{}.with("x-amz-content-sha256", mode);
    const auto v = unauthenticated(r.view());
    ASSERT_FALSE(v.ok()) << mode;
    EXPECT_EQ(v.failure().error, S3Error::InvalidRequest) << mode;
  }
}

TEST(Unauthenticated, UnknownContentHashIsInvalidArgument) {
  auto r = Request{}.with("x-amz-content-sha256", "not-a-hash");
  const auto v = unauthenticated(r.view());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.failure().error, S3Error::InvalidArgument);
}

}  // namespace
}  // namespace s3proxy
