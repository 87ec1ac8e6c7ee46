#include "s3proxy/sigv4.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

namespace s3proxy::sigv4 {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

// --- Fixtures ----------------------------------------------------------------------

// The AWS documentation's example identity ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk" and its siblings).
constexpr std::string_view kDocKeyId = "AKIAIOSFODNN7EXAMPLE";
const Secret kDocSecret{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr std::string_view kDocDate = "20130524T000000Z";
constexpr std::string_view kDocScope = "20130524/us-east-1/s3/aws4_request";
constexpr std::string_view kDocHost = "examplebucket.s3.amazonaws.com";
constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

system_clock::time_point doc_now() { return *parse_amz_date(kDocDate); }

KeyLookup lookup_for(std::string_view key_id, const Secret& secret) {
  return [key_id = std::string(key_id), &secret](std::string_view id) -> const Secret* {
    return id == key_id ? &secret : nullptr;
  };
}

// A request whose strings it owns, so that a RequestView over it stays valid.
struct OwnedRequest {
  std::string method = "GET";
  std::string path = "/";
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;

  std::vector<Header> header_views;
  RequestView view() {
    header_views.clear();
    for (const auto& [n, v] : headers) header_views.push_back(Header{n, v});
    return RequestView{method, path, query, header_views};
  }
  void set(std::string_view name, std::string value) {
    for (auto& [n, v] : headers)
      if (n == name) {
        v = std::move(value);
        return;
      }
    headers.emplace_back(std::string(name), std::move(value));
  }
  void erase(std::string_view name) {
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  }
};

std::string doc_authorization(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" +
         std::string(signed_headers) + ",Signature=" + std::string(signature);
}

// GET Object with Range, from the AWS documentation.
constexpr std::string_view kGetObjectSignature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
OwnedRequest doc_get_object() {
  OwnedRequest r;
  r.path = "/test.txt";
  r.headers = {{"Host", std::string(kDocHost)},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", std::string(kEmptySha256)},
               {"x-amz-date", std::string(kDocDate)}};
  r.headers.emplace_back("Authorization",
                         doc_authorization("host;range;x-amz-content-sha256;x-amz-date", kGetObjectSignature));
  return r;
}

// Signs an OwnedRequest the way a client would (used to build variants cheaply).
void client_sign(OwnedRequest& r, std::string_view key_id, const Secret& secret, std::string_view date,
                 std::vector<std::string> signed_names, std::string_view payload_hash) {
  r.erase("Authorization");
  std::sort(signed_names.begin(), signed_names.end());
  auto view = r.view();
  auto canonical = canonical_request(r.method, canonical_uri(r.path), canonical_query(r.query, false),
                                     canonical_headers(view.headers, signed_names), join_signed_headers(signed_names),
                                     payload_hash);
  auto scope = credential_scope(date.substr(0, 8), "us-east-1", "s3");
  auto sig = signature_hex(signing_key(secret, date.substr(0, 8), "us-east-1", "s3"),
                           string_to_sign(date, scope, canonical));
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(key_id) + "/" + scope +
                                              ", SignedHeaders=" + join_signed_headers(signed_names) +
                                              ", Signature=" + sig);
}

// A header-signed request made with the documentation identity at a given time.
OwnedRequest signed_get_at(system_clock::time_point t) {
  OwnedRequest r;
  r.path = "/bucket/key";
  auto date = amz_date(t);
  r.headers = {{"Host", "127.0.0.1:8080"}, {"X-Amz-Date", date}, {"X-Amz-Content-Sha256", std::string(kEmptySha256)}};
  client_sign(r, kDocKeyId, kDocSecret, date, {"host", "x-amz-content-sha256", "x-amz-date"}, kEmptySha256);
  return r;
}

// A presigned GET made with the documentation identity.
OwnedRequest presigned_get(std::string_view date, std::string_view expires, const Secret& secret = kDocSecret) {
  OwnedRequest r;
  r.path = "/test.txt";
  r.headers = {{"Host", std::string(kDocHost)}};
  r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F" + std::string(date.substr(0, 8)) +
            "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=" + std::string(date) + "&X-Amz-Expires=" +
            std::string(expires) + "&X-Amz-SignedHeaders=host";
  std::vector<std::string> names{"host"};
  auto view = r.view();
  auto canonical = canonical_request("GET", canonical_uri(r.path), canonical_query(r.query, false),
                                     canonical_headers(view.headers, names), "host", kUnsignedPayload);
  auto scope = credential_scope(date.substr(0, 8), "us-east-1", "s3");
  r.query += "&X-Amz-Signature=" + signature_hex(signing_key(secret, date.substr(0, 8), "us-east-1", "s3"),
                                                 string_to_sign(date, scope, canonical));
  return r;
}

Failure verify_failure(OwnedRequest& r, system_clock::time_point now = doc_now()) {
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), now);
  EXPECT_FALSE(result.ok());
  return result.ok() ? Failure{S3Error::InternalError, "verified"} : result.failure();
}

Failure parse_failure(OwnedRequest& r) {
  auto result = parse_auth(r.view());
  EXPECT_FALSE(result.ok());
  return result.ok() ? Failure{S3Error::InternalError, "parsed"} : result.failure();
}

// --- AWS documentation known answers -----------------------------------------------

TEST(AwsDocExample, GetObjectCanonicalRequest) {
  auto r = doc_get_object();
  auto params = parse_auth(r.view());
  ASSERT_TRUE(params.ok()) << params.failure().message;
  EXPECT_EQ(request_canonical_request(r.view(), params.value()),
            "GET\n/test.txt\n\n"
            "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AwsDocExample, GetObjectStringToSign) {
  auto r = doc_get_object();
  auto params = parse_auth(r.view()).value();
  EXPECT_EQ(string_to_sign(kDocDate, kDocScope, request_canonical_request(r.view(), params)),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
}

TEST(AwsDocExample, GetObjectSignatureVerifies) {
  auto r = doc_get_object();
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->params.signature, kGetObjectSignature);
  EXPECT_EQ(result->scope, kDocScope);
  EXPECT_EQ(result->payload_mode, PayloadMode::hex_sha256);
}

TEST(AwsDocExample, PutObjectWithDollarInKey) {
  OwnedRequest r;
  r.method = "PUT";
  r.path = "/test$file.text";
  const std::string payload = crypto::sha256_hex("Welcome to Amazon S3.");
  ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  r.headers = {{"Host", std::string(kDocHost)},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-date", std::string(kDocDate)},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", payload}};
  r.headers.emplace_back("Authorization",
                         doc_authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                                           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));
  auto params = parse_auth(r.view()).value();
  const auto canonical = request_canonical_request(r.view(), params);
  EXPECT_EQ(canonical,
            "PUT\n/test%24file.text\n\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(crypto::sha256_hex(canonical), "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  EXPECT_TRUE(result.ok()) << result.failure().message;
}

OwnedRequest doc_bucket_get(std::string query, std::string_view signature) {
  OwnedRequest r;
  r.path = "/";
  r.query = std::move(query);
  r.headers = {{"Host", std::string(kDocHost)},
               {"x-amz-date", std::string(kDocDate)},
               {"x-amz-content-sha256", std::string(kEmptySha256)}};
  r.headers.emplace_back("Authorization", doc_authorization("host;x-amz-content-sha256;x-amz-date", signature));
  return r;
}

TEST(AwsDocExample, GetBucketLifecycle) {
  auto r = doc_bucket_get("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  auto params = parse_auth(r.view()).value();
  const auto canonical = request_canonical_request(r.view(), params);
  EXPECT_EQ(canonical,
            "GET\n/\nlifecycle=\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\n"
            "host;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(crypto::sha256_hex(canonical), "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  EXPECT_TRUE(result.ok()) << result.failure().message;
}

TEST(AwsDocExample, ListObjectsWithMaxKeysAndPrefix) {
  auto r = doc_bucket_get("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  auto params = parse_auth(r.view()).value();
  const auto canonical = request_canonical_request(r.view(), params);
  EXPECT_EQ(canonical.substr(0, canonical.find("host:")), "GET\n/\nmax-keys=2&prefix=J\n");
  EXPECT_EQ(crypto::sha256_hex(canonical), "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  EXPECT_TRUE(result.ok()) << result.failure().message;
}

OwnedRequest doc_chunked_put() {
  OwnedRequest r;
  r.method = "PUT";
  r.path = "/examplebucket/chunkObject.txt";
  r.headers = {{"Host", "s3.amazonaws.com"},
               {"x-amz-date", std::string(kDocDate)},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", std::string(kStreamingSigned)},
               {"Content-Encoding", "aws-chunked"},
               {"x-amz-decoded-content-length", "66560"},
               {"Content-Length", "66824"}};
  r.headers.emplace_back(
      "Authorization",
      doc_authorization(
          "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
          "x-amz-storage-class",
          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"));
  return r;
}

TEST(AwsDocExample, ChunkedUploadSeedSignatureVerifies) {
  auto r = doc_chunked_put();
  auto params = parse_auth(r.view()).value();
  EXPECT_EQ(crypto::sha256_hex(request_canonical_request(r.view(), params)),
            "cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455");
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->payload_mode, PayloadMode::streaming_signed);
}

TEST(AwsDocExample, ChunkedUploadKeyAndScopeContinueTheChain) {
  auto r = doc_chunked_put();
  auto v = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now()).value();
  // The first chunk of the documentation's example, signed with what verify() hands on.
  const std::string chunk_to_sign = "AWS4-HMAC-SHA256-PAYLOAD\n" + std::string(kDocDate) + "\n" + v.scope + "\n" +
                                    v.params.signature + "\n" + std::string(kEmptySha256) + "\n" +
                                    crypto::sha256_hex(std::string(65536, 'a'));
  EXPECT_EQ(signature_hex(v.signing_key, chunk_to_sign),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
}

TEST(AwsDocExample, PresignedGetVerifies) {
  auto r = presigned_get(kDocDate, "86400");
  EXPECT_TRUE(r.query.ends_with("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now() + 1h);
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->params.kind, AuthKind::sigv4_presigned);
  EXPECT_EQ(result->payload_mode, PayloadMode::unsigned_payload);
  EXPECT_EQ(result->params.expires, std::chrono::seconds(86400));
}

TEST(AwsDocExample, SignProducesTheDocumentedSignature) {
  SigningInput in{"GET",
                  "/test.txt",
                  "",
                  {{"x-amz-date", std::string(kDocDate)},
                   {"range", "bytes=0-9"},
                   {"host", std::string(kDocHost)},
                   {"x-amz-content-sha256", std::string(kEmptySha256)}},
                  kEmptySha256};
  auto s = sign(in, kDocKeyId, kDocSecret, "us-east-1", kDocDate);
  EXPECT_EQ(s.signature, kGetObjectSignature);
  EXPECT_EQ(s.scope, kDocScope);
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" +
                std::string(kGetObjectSignature));
}

// --- Pure steps ----------------------------------------------------------------------

TEST(CanonicalUri, EmptyPathIsSlash) { EXPECT_EQ(canonical_uri(""), "/"); }

TEST(CanonicalUri, NormalisesEncodingOfEachSegmentOnce) {
  EXPECT_EQ(canonical_uri("/b/a%20b/c d/%7e$"), "/b/a%20b/c%20d/~%24");
}

TEST(CanonicalUri, KeepsEncodedSlashInsideSegment) { EXPECT_EQ(canonical_uri("/b/a%2Fb"), "/b/a%2Fb"); }

TEST(CanonicalUri, KeepsDotSegmentsAndEmptySegments) {
  EXPECT_EQ(canonical_uri("/b/./x/../y//z/"), "/b/./x/../y//z/");
}

TEST(CanonicalUri, UndecodablePathIsUsedAsIs) { EXPECT_EQ(canonical_uri("/b/100%"), "/b/100%"); }

TEST(CanonicalQuery, BareNameGetsEqualsSign) {
  EXPECT_EQ(canonical_query("uploads", false), "uploads=");
  EXPECT_EQ(canonical_query("uploads=", false), "uploads=");
}

TEST(CanonicalQuery, SortsByNameThenValue) {
  EXPECT_EQ(canonical_query("prefix=J&max-keys=2&a=2&a=1", false), "a=1&a=2&max-keys=2&prefix=J");
}

TEST(CanonicalQuery, SortsUpperCaseBeforeLowerCase) {
  EXPECT_EQ(canonical_query("x-id=PutObject&X-Amz-Date=1", false), "X-Amz-Date=1&x-id=PutObject");
}

TEST(CanonicalQuery, ReencodesNamesAndValues) {
  EXPECT_EQ(canonical_query("prefix=a b&delimiter=%2f&k=%7E", false), "delimiter=%2F&k=~&prefix=a%20b");
}

TEST(CanonicalQuery, DropsSignatureOnlyWhenAsked) {
  EXPECT_EQ(canonical_query("X-Amz-Signature=abc&X-Amz-Date=1", true), "X-Amz-Date=1");
  EXPECT_EQ(canonical_query("X-Amz-Signature=abc&X-Amz-Date=1", false), "X-Amz-Date=1&X-Amz-Signature=abc");
}

TEST(CanonicalQuery, SkipsEmptyComponents) { EXPECT_EQ(canonical_query("&a=1&&b", false), "a=1&b="); }

TEST(CanonicalHeaders, JoinsDuplicateHeadersWithComma) {
  std::vector<Header> h{{"X-Amz-Meta-A", "1"}, {"Host", "h"}, {"x-amz-meta-a", "2"}};
  std::vector<std::string> names{"host", "x-amz-meta-a"};
  EXPECT_EQ(canonical_headers(h, names), "host:h\nx-amz-meta-a:1,2\n");
}

TEST(CanonicalHeaders, TrimsAndFoldsInnerSpaces) {
  std::vector<Header> h{{"My-Header", "  a   b \t c  "}};
  std::vector<std::string> names{"my-header"};
  EXPECT_EQ(canonical_headers(h, names), "my-header:a b c\n");
}

TEST(CanonicalHeaders, ABlankValueIsEmptyAndTabsFoldLikeSpaces) {
  std::vector<Header> h{{"A", " \t "}, {"B", "x\t\ty"}, {"C", "\tx"}};
  std::vector<std::string> names{"a", "b", "c"};
  EXPECT_EQ(canonical_headers(h, names), "a:\nb:x y\nc:x\n");
}

TEST(CanonicalHeaders, FollowsSignedNameOrder) {
  std::vector<Header> h{{"b", "2"}, {"a", "1"}};
  std::vector<std::string> names{"a", "b"};
  EXPECT_EQ(canonical_headers(h, names), "a:1\nb:2\n");
}

TEST(HeaderValue, FindsFirstMatchIgnoringCase) {
  std::vector<Header> h{{"X-Amz-Date", "one"}, {"x-amz-date", "two"}};
  EXPECT_EQ(header_value(h, "x-amz-date"), "one");
  EXPECT_FALSE(header_value(h, "host"));
}

TEST(CredentialScope, JoinsWithTerminator) {
  EXPECT_EQ(credential_scope("20130524", "eu-west-2", "s3"), "20130524/eu-west-2/s3/aws4_request");
}

TEST(SigningKey, MatchesHmacChain) {
  auto k_date = crypto::hmac_sha256("AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524");
  auto k_region = crypto::hmac_sha256(crypto::as_view(k_date), "us-east-1");
  auto k_service = crypto::hmac_sha256(crypto::as_view(k_region), "s3");
  auto expected = crypto::hmac_sha256(crypto::as_view(k_service), "aws4_request");
  EXPECT_EQ(signing_key(kDocSecret, "20130524", "us-east-1", "s3"), expected);
}

// Keys are cached per thread; a cached key must always be the one its inputs derive.
TEST(SigningKey, EveryInputSelectsItsOwnKeyWhateverWasCachedBefore) {
  const auto fresh = [](std::string_view secret, std::string_view date, std::string_view region) {
    std::string seed = "AWS4" + std::string(secret);
    auto k = crypto::hmac_sha256(seed, date);
    k = crypto::hmac_sha256(crypto::as_view(k), region);
    k = crypto::hmac_sha256(crypto::as_view(k), "s3");
    return crypto::hmac_sha256(crypto::as_view(k), "aws4_request");
  };
  const Secret old_secret{"rotated-away-secret"}, new_secret{"rotated-in-secret"};
  for (int round = 0; round < 3; ++round) {  // the second and third rounds are served from the cache
    EXPECT_EQ(signing_key(old_secret, "20261130", "us-east-1", "s3"), fresh("rotated-away-secret", "20261130", "us-east-1"));
    EXPECT_EQ(signing_key(new_secret, "20261130", "us-east-1", "s3"), fresh("rotated-in-secret", "20261130", "us-east-1"));
    EXPECT_EQ(signing_key(new_secret, "20261201", "us-east-1", "s3"), fresh("rotated-in-secret", "20261201", "us-east-1"));
    EXPECT_EQ(signing_key(new_secret, "20261201", "eu-west-2", "s3"), fresh("rotated-in-secret", "20261201", "eu-west-2"));
  }
  // More distinct inputs than the cache holds: still right.
  for (int i = 0; i < 40; ++i) {
    const std::string secret = "secret-" + std::to_string(i);
    EXPECT_EQ(signing_key(Secret{secret}, "20261201", "us-east-1", "s3"), fresh(secret, "20261201", "us-east-1"));
  }
}

TEST(AmzDate, FormatsUtcBasicFormat) {
  using namespace std::chrono;
  EXPECT_EQ(amz_date(sys_days{2013y / May / 24} + 1h + 2min + 3s + 999ms), "20130524T010203Z");
}

TEST(AmzDate, AgreesWithGmtimeOverAWideRangeOfInstants) {
  using namespace std::chrono;
  std::mt19937_64 rng(12);
  std::uniform_int_distribution<std::int64_t> secs_since_epoch(0, 4102444800LL);  // 1970 .. 2100
  for (int i = 0; i < 2000; ++i) {
    const std::time_t secs = static_cast<std::time_t>(secs_since_epoch(rng));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[32];
    std::snprintf(want, sizeof want, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    ASSERT_EQ(amz_date(system_clock::from_time_t(secs) + 999ms), want) << secs;
  }
}

TEST(AmzDate, ParseRoundTrips) {
  auto t = parse_amz_date("20261123T171017Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(amz_date(*t), "20261123T171017Z");
}

TEST(AmzDate, ParseRejectsMalformed) {
  for (auto bad : {"", "20130524T000000", "20130524 000000Z", "20131324T000000Z", "20130230T000000Z",
                   "20130524T240000Z", "20130524T006000Z", "2013052AT000000Z", "20130524T000000Z0"})
    EXPECT_FALSE(parse_amz_date(bad)) << bad;
}

// system_clock counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11): a date outside what
// the proxy supports must be refused before it is converted, not wrapped around.
TEST(AmzDate, ParseRejectsYearsOutsideTheSupportedRange) {
  for (auto bad : {"60261123T171252Z", "25971211T233434Z", "22620411T000000Z", "99991231T235959Z",
                   "16780101T000000Z", "00010101T000000Z", "19691231T235959Z", "22000101T000000Z"})
    EXPECT_FALSE(parse_amz_date(bad)) << bad;
}

TEST(AmzDate, ParseAcceptsTheEdgesOfTheSupportedRange) {
  for (auto good : {"19700101T000000Z", "21991231T235959Z"}) {
    auto t = parse_amz_date(good);
    ASSERT_TRUE(t) << good;
    EXPECT_EQ(amz_date(*t), good);
  }
}

// 2597-12-11T23:34:34Z is 2^64 ns (one wrap of the clock) plus 0.29 s after the documentation's
// date: converted without a range check it lands within the allowed skew of "now".
TEST(Verify, RefusesADateOneClockWrapAhead) {
  const std::string date = "25971211T233434Z";
  OwnedRequest r;
  r.path = "/b/k";
  r.headers = {{"Host", "h"}, {"X-Amz-Date", date}, {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}};
  std::vector<std::string> names{"host", "x-amz-content-sha256", "x-amz-date"};
  auto view = r.view();
  auto canonical = canonical_request("GET", "/b/k", "", canonical_headers(view.headers, names),
                                     join_signed_headers(names), "UNSIGNED-PAYLOAD");
  auto scope = credential_scope("25971211", "us-east-1", "s3");
  auto sig = signature_hex(signing_key(kDocSecret, "25971211", "us-east-1", "s3"), string_to_sign(date, scope, canonical));
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" + scope +
                                              ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + sig);
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::AuthorizationHeaderMalformed);
}

// A path that does not percent-decode cannot be re-encoded for the upstream: it would go on
// as raw bytes (with a virtual-hosted bucket from Host in front, even a '?' or a blank).
// S3 answers such a path 400 (InvalidURI), whatever the signature; so does the proxy.
TEST(Verify, RefusesAPathThatDoesNotPercentDecode) {
  OwnedRequest r;
  r.method = "PUT";
  r.path = "/k%zz";
  r.headers = {{"Host", "x?acl&.s3.local"}, {"X-Amz-Date", std::string(kDocDate)},
               {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}};
  std::vector<std::string> names{"host", "x-amz-content-sha256", "x-amz-date"};
  auto view = r.view();
  auto canonical = canonical_request("PUT", canonical_uri(r.path), "", canonical_headers(view.headers, names),
                                     join_signed_headers(names), "UNSIGNED-PAYLOAD");
  auto sig = signature_hex(signing_key(kDocSecret, "20130524", "us-east-1", "s3"),
                           string_to_sign(kDocDate, kDocScope, canonical));
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" + std::string(kDocScope) +
                                              ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + sig);
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::InvalidURI);
  EXPECT_EQ(result.failure().message, "Couldn't parse the specified URI.");
}

TEST(PayloadMode, RecognisesEveryMarker) {
  EXPECT_EQ(parse_payload_mode(kEmptySha256), PayloadMode::hex_sha256);
  EXPECT_EQ(parse_payload_mode("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
            PayloadMode::hex_sha256);
  EXPECT_EQ(parse_payload_mode("UNSIGNED-PAYLOAD"), PayloadMode::unsigned_payload);
  EXPECT_EQ(parse_payload_mode("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), PayloadMode::streaming_signed);
  EXPECT_EQ(parse_payload_mode("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"), PayloadMode::streaming_signed_trailer);
  EXPECT_EQ(parse_payload_mode("STREAMING-UNSIGNED-PAYLOAD-TRAILER"), PayloadMode::streaming_unsigned_trailer);
}

TEST(PayloadMode, RejectsOtherValues) {
  EXPECT_FALSE(parse_payload_mode(""));
  EXPECT_FALSE(parse_payload_mode(kEmptySha256.substr(1)));
  EXPECT_FALSE(parse_payload_mode("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(parse_payload_mode("unsigned-payload"));
}

TEST(PayloadMode, OnlyStreamingModesAreStreaming) {
  EXPECT_FALSE(is_streaming(PayloadMode::hex_sha256));
  EXPECT_FALSE(is_streaming(PayloadMode::unsigned_payload));
  EXPECT_TRUE(is_streaming(PayloadMode::streaming_signed));
  EXPECT_TRUE(is_streaming(PayloadMode::streaming_signed_trailer));
  EXPECT_TRUE(is_streaming(PayloadMode::streaming_unsigned_trailer));
}

// --- Detecting and parsing the auth parameters -------------------------------------

TEST(DetectAuth, ClassifiesEachMechanism) {
  auto kind = [](std::vector<std::pair<std::string, std::string>> headers, std::string query) {
    OwnedRequest r;
    r.headers = std::move(headers);
    r.query = std::move(query);
    return detect_auth(r.view());
  };
  EXPECT_EQ(kind({}, ""), AuthKind::none);
  EXPECT_EQ(kind({{"authorization", "AWS4-HMAC-SHA256 Credential=x"}}, ""), AuthKind::sigv4_header);
  EXPECT_EQ(kind({}, "X-Amz-Signature=abc"), AuthKind::sigv4_presigned);
  EXPECT_EQ(kind({{"Authorization", "AWS AKID:c2ln"}}, ""), AuthKind::sigv2_header);
  EXPECT_EQ(kind({}, "AWSAccessKeyId=AKID&Expires=1&Signature=c2ln"), AuthKind::sigv2_presigned);
  EXPECT_EQ(kind({{"Authorization", "Bearer xyz"}}, ""), AuthKind::other);
}

TEST(ParseAuth, ReadsHeaderParameters) {
  auto r = doc_get_object();
  auto p = parse_auth(r.view()).value();
  EXPECT_EQ(p.kind, AuthKind::sigv4_header);
  EXPECT_EQ(p.credential.access_key_id, kDocKeyId);
  EXPECT_EQ(p.credential.date, "20130524");
  EXPECT_EQ(p.credential.region, "us-east-1");
  EXPECT_EQ(p.credential.service, "s3");
  EXPECT_EQ(p.credential.terminator, "aws4_request");
  EXPECT_EQ(p.signed_headers, (std::vector<std::string>{"host", "range", "x-amz-content-sha256", "x-amz-date"}));
  EXPECT_EQ(p.amz_date, kDocDate);
  EXPECT_EQ(p.payload_hash, kEmptySha256);
  EXPECT_FALSE(p.expires);
}

TEST(ParseAuth, AcceptsSpacesAfterCommas) {
  auto r = doc_get_object();
  r.set("Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" +
            std::string(kGetObjectSignature));
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now()).ok());
}

TEST(ParseAuth, PresignedWithoutContentHashUsesUnsignedPayload) {
  auto r = presigned_get(kDocDate, "60");
  auto p = parse_auth(r.view()).value();
  EXPECT_EQ(p.payload_hash, kUnsignedPayload);
  EXPECT_EQ(p.amz_date, kDocDate);
  EXPECT_EQ(p.signed_headers, std::vector<std::string>{"host"});
}

// --- Refusals, one per behaviour ------------------------------------------------------

TEST(Verify, NoCredentialsIsAccessDenied) {
  OwnedRequest r;
  r.headers = {{"Host", "h"}};
  EXPECT_EQ(verify_failure(r).error, S3Error::AccessDenied);
}

TEST(Verify, SigV2HeaderIsRefused) {
  OwnedRequest r;
  r.headers = {{"Host", "h"}, {"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="}};
  auto f = verify_failure(r);
  EXPECT_EQ(f.error, S3Error::InvalidRequest);
  EXPECT_EQ(f.message, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
}

TEST(Verify, SigV2PresignedIsRefused) {
  OwnedRequest r;
  r.headers = {{"Host", "h"}};
  r.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D";
  EXPECT_EQ(verify_failure(r).error, S3Error::InvalidRequest);
}

TEST(Verify, HeaderAndPresignedTogetherAreRefused) {
  auto r = doc_get_object();
  r.query = "X-Amz-Signature=abc";
  EXPECT_EQ(verify_failure(r).error, S3Error::InvalidArgument);
}

TEST(MalformedAuthorization, MissingSignature) {
  auto r = doc_get_object();
  r.set("Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date");
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("Signature"), std::string::npos);
}

TEST(MalformedAuthorization, MissingCredential) {
  auto r = doc_get_object();
  r.set("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + std::string(kGetObjectSignature));
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, WrongAlgorithm) {
  auto r = doc_get_object();
  r.set("Authorization", doc_authorization("host", kGetObjectSignature).replace(0, 16, "AWS4-HMAC-SHA512"));
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, AlgorithmGluedToCredential) {
  auto r = doc_get_object();
  r.set("Authorization", "AWS4-HMAC-SHA256Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                         "SignedHeaders=host,Signature=" + std::string(kGetObjectSignature));
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, CredentialWithTooFewParts) {
  auto r = doc_get_object();
  r.set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3,"
                         "SignedHeaders=host,Signature=" + std::string(kGetObjectSignature));
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("Credential"), std::string::npos);
}

TEST(MalformedAuthorization, ScopeDateDiffersFromAmzDate) {
  auto r = doc_get_object();
  r.set("x-amz-date", "20130525T000000Z");
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("20130524"), std::string::npos);
}

TEST(MalformedAuthorization, ServiceIsNotS3) {
  auto r = doc_get_object();
  r.set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/iam/aws4_request,"
                         "SignedHeaders=host,Signature=" + std::string(kGetObjectSignature));
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("service"), std::string::npos);
}

TEST(MalformedAuthorization, WrongTerminator) {
  auto r = doc_get_object();
  r.set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_reqest,"
                         "SignedHeaders=host,Signature=" + std::string(kGetObjectSignature));
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, MissingAmzDate) {
  auto r = doc_get_object();
  r.erase("x-amz-date");
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("X-Amz-Date"), std::string::npos);
}

TEST(MalformedAuthorization, UnparseableAmzDate) {
  auto r = doc_get_object();
  r.set("x-amz-date", "Fri, 24 May 2013 00:00:00 GMT");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, MissingContentSha256) {
  auto r = doc_get_object();
  r.erase("x-amz-content-sha256");
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("x-amz-content-sha256"), std::string::npos);
}

TEST(MalformedAuthorization, InvalidContentSha256) {
  auto r = doc_get_object();
  r.set("x-amz-content-sha256", "not-a-hash");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, SignedHeadersWithoutHost) {
  auto r = doc_get_object();
  r.set("Authorization", doc_authorization("range;x-amz-content-sha256;x-amz-date", kGetObjectSignature));
  auto f = parse_failure(r);
  EXPECT_EQ(f.error, S3Error::AuthorizationHeaderMalformed);
  EXPECT_NE(f.message.find("host"), std::string::npos);
}

TEST(MalformedAuthorization, ComponentGivenTwice) {
  auto r = doc_get_object();
  r.set("Authorization", doc_authorization("host", kGetObjectSignature) + ",Signature=" +
                             std::string(kGetObjectSignature));
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedAuthorization, UnknownScheme) {
  auto r = doc_get_object();
  r.set("Authorization", "Bearer abc");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationHeaderMalformed);
}

TEST(MalformedPresigned, MissingExpires) {
  auto r = presigned_get(kDocDate, "60");
  r.query.replace(r.query.find("&X-Amz-Expires=60"), 17, "");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(MalformedPresigned, WrongAlgorithm) {
  auto r = presigned_get(kDocDate, "60");
  r.query.replace(r.query.find("SHA256"), 6, "SHA512");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(MalformedPresigned, BadCredential) {
  auto r = presigned_get(kDocDate, "60");
  r.query.replace(r.query.find("%2Fs3%2F"), 8, "%2Fec2%2F");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(MalformedPresigned, NonNumericExpires) {
  auto r = presigned_get(kDocDate, "-5");
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(MalformedPresigned, ParameterGivenTwice) {
  auto r = presigned_get(kDocDate, "60");
  r.query += "&X-Amz-Date=20130524T000000Z";
  EXPECT_EQ(parse_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(PresignedExpiry, ExpiresLongerThanAWeekIsRefused) {
  auto r = presigned_get(kDocDate, "604801");
  EXPECT_EQ(verify_failure(r).error, S3Error::AuthorizationQueryParametersError);
}

TEST(PresignedExpiry, ExactlyAWeekIsAccepted) {
  auto r = presigned_get(kDocDate, "604800");
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now() + 604800s).ok());
}

TEST(PresignedExpiry, ExpiredUrlIsAccessDenied) {
  auto r = presigned_get(kDocDate, "3600");
  auto f = verify_failure(r, doc_now() + 3601s);
  EXPECT_EQ(f.error, S3Error::AccessDenied);
  EXPECT_EQ(f.message, "Request has expired");
}

TEST(PresignedExpiry, LastSecondIsStillValid) {
  auto r = presigned_get(kDocDate, "3600");
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now() + 3600s).ok());
}

TEST(PresignedExpiry, DateFarInTheFutureIsNotValidYet) {
  auto r = presigned_get(kDocDate, "3600");
  EXPECT_EQ(verify_failure(r, doc_now() - 16min).error, S3Error::AccessDenied);
}

TEST(ClockSkew, SixteenMinutesLateIsTooSkewed) {
  auto r = signed_get_at(doc_now());
  EXPECT_EQ(verify_failure(r, doc_now() + 16min).error, S3Error::RequestTimeTooSkewed);
}

TEST(ClockSkew, SixteenMinutesEarlyIsTooSkewed) {
  auto r = signed_get_at(doc_now());
  EXPECT_EQ(verify_failure(r, doc_now() - 16min).error, S3Error::RequestTimeTooSkewed);
}

TEST(ClockSkew, FourteenMinutesEitherWayIsAccepted) {
  auto r = signed_get_at(doc_now());
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now() + 14min).ok());
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now() - 14min).ok());
}

TEST(UnsignedHeaders, AddedAmzHeaderIsAccessDenied) {
  auto r = doc_get_object();
  r.headers.emplace_back("X-Amz-Acl", "public-read");
  auto f = verify_failure(r);
  EXPECT_EQ(f.error, S3Error::AccessDenied);
  EXPECT_EQ(f.message, "There were headers present in the request which were not signed");
}

TEST(UnsignedHeaders, AddedAmzHeaderOnPresignedIsAccessDenied) {
  auto r = presigned_get(kDocDate, "60");
  r.headers.emplace_back("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"");
  EXPECT_EQ(verify_failure(r).error, S3Error::AccessDenied);
}

TEST(UnsignedHeaders, OtherUnsignedHeadersAreAllowed) {
  auto r = doc_get_object();
  r.headers.emplace_back("User-Agent", "test");
  r.headers.emplace_back("Accept-Encoding", "");
  EXPECT_TRUE(verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now()).ok());
}

TEST(Verify, TamperedSignedHeaderIsSignatureDoesNotMatch) {
  auto r = doc_get_object();
  r.set("Range", "bytes=0-10");
  EXPECT_EQ(verify_failure(r).error, S3Error::SignatureDoesNotMatch);
}

TEST(Verify, UnknownKeyIsInvalidAccessKeyId) {
  auto r = doc_get_object();
  auto result = verify(r.view(), lookup_for("AKIAOTHER", kDocSecret), doc_now());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::InvalidAccessKeyId);
}

TEST(Verify, ClientRegionIsAcceptedAsSigned) {
  OwnedRequest r;
  r.path = "/b/k";
  r.headers = {{"Host", "h"}, {"X-Amz-Date", std::string(kDocDate)}, {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}};
  std::vector<std::string> names{"host", "x-amz-content-sha256", "x-amz-date"};
  auto view = r.view();
  auto canonical = canonical_request("GET", "/b/k", "", canonical_headers(view.headers, names),
                                     join_signed_headers(names), "UNSIGNED-PAYLOAD");
  auto scope = credential_scope("20130524", "eu-central-1", "s3");
  auto sig = signature_hex(signing_key(kDocSecret, "20130524", "eu-central-1", "s3"),
                           string_to_sign(kDocDate, scope, canonical));
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" + scope +
                                              ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + sig);
  auto result = verify(r.view(), lookup_for(kDocKeyId, kDocSecret), doc_now());
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->params.credential.region, "eu-central-1");
  EXPECT_EQ(result->payload_mode, PayloadMode::unsigned_payload);
}

TEST(Sign, RoundTripsThroughVerify) {
  const Secret secret{"upstream-secret-value"};
  const std::string date = "20261123T171017Z";
  const std::string query = canonical_query("uploadId=abc&partNumber=2", false);
  SigningInput in{"PUT",
                  "/bucket/a%20b.png",
                  query,
                  {{"host", "s3.eu-west-2.amazonaws.com"},
                   {"x-amz-date", date},
                   {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                   {"cache-control", "public, max-age=315576000, immutable"}},
                  "UNSIGNED-PAYLOAD"};
  auto s = sign(in, "AKIAUPSTREAM", secret, "eu-west-2", date);

  OwnedRequest r;
  r.method = "PUT";
  r.path = "/bucket/a b.png";
  r.query = "partNumber=2&uploadId=abc";
  for (const auto& [n, v] : in.headers) r.headers.emplace_back(n, v);
  r.headers.emplace_back("Authorization", s.authorization);
  auto result = verify(r.view(), lookup_for("AKIAUPSTREAM", secret), *parse_amz_date(date));
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->signing_key, s.signing_key);
  EXPECT_EQ(result->scope, s.scope);
  EXPECT_EQ(result->params.signature, s.signature);
}

TEST(Sign, MergesRepeatedHeaderNames) {
  SigningInput twice{"GET", "/", "", {{"host", "h"}, {"x-amz-meta-a", "1"}, {"x-amz-meta-a", "2"}}, kEmptySha256};
  SigningInput joined{"GET", "/", "", {{"host", "h"}, {"x-amz-meta-a", "1,2"}}, kEmptySha256};
  auto a = sign(twice, kDocKeyId, kDocSecret, "us-east-1", kDocDate);
  auto b = sign(joined, kDocKeyId, kDocSecret, "us-east-1", kDocDate);
  EXPECT_EQ(a.authorization, b.authorization);
  EXPECT_NE(a.authorization.find("SignedHeaders=host;x-amz-meta-a,"), std::string::npos);
}

TEST(Redaction, FailureMessagesNeverHoldSecretOrSignature) {
  const std::string secret_text(kDocSecret.reveal());
  std::vector<OwnedRequest> cases;
  cases.push_back(doc_get_object());  // verified with a wrong secret below
  auto tampered = doc_get_object();
  tampered.set("Range", "bytes=1-2");
  cases.push_back(tampered);
  auto extra = doc_get_object();
  extra.headers.emplace_back("x-amz-meta-x", "1");
  cases.push_back(extra);
  auto duplicate = doc_get_object();
  duplicate.set("Authorization", doc_authorization("host", kGetObjectSignature) + ",Signature=" +
                                     std::string(kGetObjectSignature));
  cases.push_back(duplicate);
  auto garbage = doc_get_object();
  garbage.set("Authorization", "AWS4-HMAC-SHA256 " + std::string(kGetObjectSignature));
  cases.push_back(garbage);
  cases.push_back(presigned_get(kDocDate, "1"));

  const Secret wrong{secret_text + "x"};
  int checked = 0;
  for (auto& r : cases) {
    for (const Secret* s : {&kDocSecret, &wrong}) {
      auto result = verify(r.view(), lookup_for(kDocKeyId, *s), doc_now() + 1h);
      if (result.ok()) continue;
      ++checked;
      const auto& msg = result.failure().message;
      EXPECT_EQ(msg.find(secret_text), std::string::npos) << msg;
      EXPECT_EQ(msg.find(kGetObjectSignature.substr(0, 16)), std::string::npos) << msg;
      EXPECT_EQ(msg.find("Signature="), std::string::npos) << msg;
    }
  }
  EXPECT_GE(checked, 10);
}

// --- Captured requests from real clients ---------------------------------------------

constexpr std::string_view kCaptureKeyId = "AKIAFAKEFAKEFAKE";
const Secret kCaptureSecret{"fakesecretfakesecretfakesecret"};

struct Capture {
  std::string name;  // file stem and sequence number, for the test name
  OwnedRequest request;
  std::string auth_scheme;  // "AWS4-HMAC-SHA256", "presigned-query" or "" (no auth)
};

std::vector<Capture> load_captures() {
  std::vector<Capture> out;
  const std::filesystem::path dir = std::filesystem::path(S3P_TEST_DATA) / "captures";
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto obj = boost::json::parse(line).as_object();
      Capture c;
      std::string stem = file.stem().string();
      std::replace_if(stem.begin(), stem.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
      c.name = stem + "_" + std::to_string(obj.at("seq").to_number<long>());
      c.request.method = obj.at("method").as_string().c_str();
      c.request.path = obj.at("path").as_string().c_str();
      c.request.query = obj.at("query").as_string().c_str();
      for (const auto& h : obj.at("headers").as_array()) {
        const auto& pair = h.as_array();
        c.request.headers.emplace_back(pair.at(0).as_string().c_str(), pair.at(1).as_string().c_str());
      }
      if (const auto* scheme = obj.if_contains("auth_scheme"); scheme && scheme->is_string())
        c.auth_scheme = scheme->as_string().c_str();
      out.push_back(std::move(c));
    }
  }
  return out;
}

const std::vector<Capture>& all_captures() {
  static const std::vector<Capture> captures = load_captures();
  return captures;
}

std::vector<Capture> captures_where(bool want_auth) {
  std::vector<Capture> out;
  for (const auto& c : all_captures())
    if (c.auth_scheme.empty() != want_auth) out.push_back(c);
  return out;
}

system_clock::time_point capture_time(OwnedRequest& r) {
  if (auto d = header_value(r.view().headers, "x-amz-date")) return *parse_amz_date(*d);
  auto pos = r.query.find("X-Amz-Date=");
  return *parse_amz_date(std::string_view(r.query).substr(pos + 11, 16));
}

// Changes one hex digit of the signature, wherever the request carries it.
void flip_signature_digit(OwnedRequest& r) {
  auto flip = [](std::string& s, std::size_t sig_start) {
    char& c = s.at(sig_start + 10);
    c = c == '0' ? '1' : '0';
  };
  for (auto& [name, value] : r.headers)
    if (header_value(std::vector<Header>{{name, ""}}, "authorization")) flip(value, value.find("Signature=") + 10);
  if (auto pos = r.query.find("X-Amz-Signature="); pos != std::string::npos) flip(r.query, pos + 16);
}

class SignedCapture : public ::testing::TestWithParam<Capture> {};

TEST_P(SignedCapture, VerifiesWithClockPinnedToItsDate) {
  auto r = GetParam().request;
  auto result = verify(r.view(), lookup_for(kCaptureKeyId, kCaptureSecret), capture_time(r));
  ASSERT_TRUE(result.ok()) << result.failure().message;
  EXPECT_EQ(result->params.credential.access_key_id, kCaptureKeyId);
  EXPECT_EQ(result->params.kind,
            GetParam().auth_scheme == "presigned-query" ? AuthKind::sigv4_presigned : AuthKind::sigv4_header);
}

TEST_P(SignedCapture, FlippedSignatureDigitIsSignatureDoesNotMatch) {
  auto r = GetParam().request;
  const auto now = capture_time(r);
  flip_signature_digit(r);
  auto result = verify(r.view(), lookup_for(kCaptureKeyId, kCaptureSecret), now);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::SignatureDoesNotMatch);
}

TEST_P(SignedCapture, WrongSecretIsSignatureDoesNotMatch) {
  auto r = GetParam().request;
  const Secret wrong{"fakesecretfakesecretfakesecreT"};
  auto result = verify(r.view(), lookup_for(kCaptureKeyId, wrong), capture_time(r));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::SignatureDoesNotMatch);
}

TEST_P(SignedCapture, UnknownKeyIsInvalidAccessKeyId) {
  auto r = GetParam().request;
  auto result = verify(r.view(), lookup_for("AKIASOMEONEELSE", kCaptureSecret), capture_time(r));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::InvalidAccessKeyId);
}

class UnsignedCapture : public ::testing::TestWithParam<Capture> {};

TEST_P(UnsignedCapture, IsAccessDenied) {
  auto r = GetParam().request;
  auto result = verify(r.view(), lookup_for(kCaptureKeyId, kCaptureSecret), system_clock::now());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure().error, S3Error::AccessDenied);
}

std::string capture_name(const ::testing::TestParamInfo<Capture>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Captures, SignedCapture, ::testing::ValuesIn(captures_where(true)), capture_name);
INSTANTIATE_TEST_SUITE_P(Captures, UnsignedCapture, ::testing::ValuesIn(captures_where(false)), capture_name);

TEST(CaptureCorpus, HoldsEveryRecordedRequest) {
  std::map<std::string, int> by_scheme;
  for (const auto& c : all_captures()) ++by_scheme[c.auth_scheme];
  EXPECT_EQ(by_scheme["AWS4-HMAC-SHA256"], 324);
  EXPECT_EQ(by_scheme["presigned-query"], 8);
  EXPECT_EQ(by_scheme[""], 14);
}

}  // namespace
}  // namespace s3proxy::sigv4
