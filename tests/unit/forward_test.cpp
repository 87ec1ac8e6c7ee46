#include "s3proxy/forward.hpp"
#include "s3proxy/access.hpp"
#include "s3proxy/uri.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy {
namespace {

using std::chrono::system_clock;

// --- Fixtures ----------------------------------------------------------------------

// Every request is made and checked at this instant, so signatures are reproducible.
constexpr std::string_view kNow = "20261123T120000Z";
constexpr std::string_view kClientKeyId = "AKIDCLIENTEXAMPLE";
const Secret kClientSecret{"client/secret/EXAMPLEKEY"};
constexpr std::string_view kClientRegion = "us-east-1";
constexpr std::string_view kClientHost = "127.0.0.1:8080";
constexpr std::string_view kUpstreamKeyId = "AKIDUPSTREAMEXAMPLE";
const Secret kUpstreamSecret{"upstream/secret/EXAMPLEKEY"};
// Differs from the client's region so a plan signed with the wrong one cannot verify.
constexpr std::string_view kUpstreamRegion = "eu-west-2";
constexpr std::string_view kUpstreamHost = "s3.example.test";
constexpr std::string_view kUpstreamHostHeader = "s3.example.test:7480";
constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// The chunk size the AWS SDKs use for the client's own aws-chunked bodies.
constexpr std::size_t kClientChunkSize = 64 * 1024;

system_clock::time_point fixed_now() { return *sigv4::parse_amz_date(kNow); }

sigv4::KeyLookup lookup_for(std::string_view key_id, const Secret& secret) {
  return [key_id = std::string(key_id), &secret](std::string_view id) -> const Secret* {
    return id == key_id ? &secret : nullptr;
  };
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Deterministic bytes covering every octet value (CR and LF included).
std::string make_payload(std::size_t n, std::uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// A client request that owns its strings, signed the way an SDK signs it.
struct ClientRequest {
  std::string method = "PUT";
  std::string path = "/media/a.jpg";
  std::string query;
  std::string host = std::string(kClientHost);
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> signed_names;  // lower-case, beyond host/x-amz-date/x-amz-content-sha256
  std::string signature;                  // set by sign_header(): the seed of a chunk chain

  std::vector<sigv4::Header> views;
  sigv4::RequestView view() {
    views.clear();
    for (const auto& [n, v] : headers) views.push_back(sigv4::Header{n, v});
    return sigv4::RequestView{method, path, query, views};
  }

  // A header the client signs.
  void add(std::string name, std::string value) {
    signed_names.push_back(lower(name));
    headers.emplace_back(std::move(name), std::move(value));
  }
  // A header the client sends but does not sign.
  void add_unsigned(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }

  // Authorization header signing, with Host, X-Amz-Date and X-Amz-Content-Sha256 added.
  void sign_header(std::string_view payload_hash) {
    headers.emplace_back("Host", host);
    headers.emplace_back("X-Amz-Date", std::string(kNow));
    headers.emplace_back("X-Amz-Content-Sha256", std::string(payload_hash));
    std::vector<std::string> names = signed_names;
    names.insert(names.end(), {"host", "x-amz-date", "x-amz-content-sha256"});
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    auto v = view();
    const auto canonical = sigv4::canonical_request(
        method, sigv4::canonical_uri(path), sigv4::canonical_query(query, false),
        sigv4::canonical_headers(v.headers, names), sigv4::join_signed_headers(names), payload_hash);
    signature = sigv4::signature_hex(key(), sigv4::string_to_sign(kNow, scope(), canonical));
    headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(kClientKeyId) + "/" + scope() +
                                              ", SignedHeaders=" + sigv4::join_signed_headers(names) +
                                              ", Signature=" + signature);
  }

  // A presigned URL (as boto3 makes them): X-Amz-* in the query, no content hash.
  void sign_presigned() {
    headers.emplace_back("Host", host);
    std::vector<std::string> names = signed_names;
    names.push_back("host");
    std::sort(names.begin(), names.end());
    const std::string joined = sigv4::join_signed_headers(names);
    std::string auth_query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + std::string(kClientKeyId) + "%2F" +
                             uri::encode(scope(), false) + "&X-Amz-Date=" + std::string(kNow) +
                             "&X-Amz-Expires=900&X-Amz-SignedHeaders=" + uri::encode(joined, false);
    query = query.empty() ? auth_query : query + "&" + auth_query;
    auto v = view();
    const auto canonical =
        sigv4::canonical_request(method, sigv4::canonical_uri(path), sigv4::canonical_query(query, false),
                                 sigv4::canonical_headers(v.headers, names), joined, sigv4::kUnsignedPayload);
    signature = sigv4::signature_hex(key(), sigv4::string_to_sign(kNow, scope(), canonical));
    query += "&X-Amz-Signature=" + signature;
  }

  std::string scope() const { return sigv4::credential_scope(kNow.substr(0, 8), kClientRegion, "s3"); }
  crypto::Digest key() const { return sigv4::signing_key(kClientSecret, kNow.substr(0, 8), kClientRegion, "s3"); }
  // The chain the client continues with its chunk signatures.
  chunked::ChainContext chain() const { return {key(), std::string(kNow), scope(), signature}; }
};

UpstreamConfig upstream_config(Addressing addressing = Addressing::path,
                               UpstreamPayload payload = UpstreamPayload::automatic) {
  UpstreamConfig up;
  up.scheme = Scheme::http;
  up.host = std::string(kUpstreamHost);
  up.port = 7480;
  up.host_header = std::string(kUpstreamHostHeader);
  up.region = std::string(kUpstreamRegion);
  up.access_key_id = std::string(kUpstreamKeyId);
  up.secret_access_key = kUpstreamSecret;
  up.addressing = addressing;
  up.payload = payload;
  return up;
}

std::string failure_text(const Result<ForwardPlan>& r) {
  return r.ok() ? std::string("planned") : std::string(info(r.failure().error).code) + ": " + r.failure().message;
}

// One request through verification, classification, the ACL decision and the plan, as
// the relay chains them; everything the plan refers to lives here.
struct Scenario {
  ClientRequest client;
  AclMode acl_mode = AclMode::strip;
  UpstreamConfig upstream = upstream_config();
  std::optional<std::uint64_t> content_length;
  bool te_chunked = false;
  std::vector<std::string> client_domains;  // the proxy's own virtual-host suffixes
  bool legacy_bucket_names = false;
  bool sign_upstream = true;  // false: planned as the relay plans an OPTIONS (no identity)

  std::optional<UploadTagging> tagging;  // the proxy's x-amz-tagging, when it adds its tag

  std::optional<sigv4::Verified> verified;
  S3Target target;
  AclDecision acl;

  Result<ForwardPlan> plan() {
    const auto view = client.view();
    auto v = sigv4::verify(view, lookup_for(kClientKeyId, kClientSecret), fixed_now());
    if (!v.ok()) {
      ADD_FAILURE() << "the client request does not verify: " << v.failure().message;
      return v.failure();
    }
    verified = std::move(v).value();
    const bool copy = sigv4::header_value(view.headers, "x-amz-copy-source").has_value();
    auto classified = classify(
        ClassifyInput{client.method, client.path, client.query, client.host, copy, client_domains, legacy_bucket_names});
    if (!classified) return classified.failure();
    target = std::move(classified).value();
    acl = decide_acl(acl_mode, AclRequests::forward, target, client.method, view.headers, view.raw_query);
    const UpstreamIdentity identity{kUpstreamKeyId, kUpstreamSecret};
    const ForwardInput in{view,       target, *verified, acl, content_length, te_chunked,
                          sign_upstream ? std::optional<UpstreamIdentity>(identity) : std::nullopt,
                          upstream,   fixed_now(),
                          tagging ? &*tagging : nullptr};
    return plan_forward(in);
  }
};

// A hex-signed PutObject with a body.
Scenario hex_put(std::string_view body, std::string path = "/media/a.jpg") {
  Scenario s;
  s.client.path = std::move(path);
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  return s;
}

// A header-signed GET without a body.
Scenario get_object(std::string path = "/media/a.jpg", std::string query = {}) {
  Scenario s;
  s.client.method = "GET";
  s.client.path = std::move(path);
  s.client.query = std::move(query);
  s.client.sign_header(kEmptySha256);
  return s;
}

// minio-go style: STREAMING-AWS4-HMAC-SHA256-PAYLOAD with a Content-Length.
Scenario streaming_signed_put(std::uint64_t decoded) {
  Scenario s;
  const auto encoded = *chunked::SignedChunkEncoder::encoded_length(decoded, kClientChunkSize);
  s.client.add("Content-Encoding", "aws-chunked");
  s.client.add("Content-Length", std::to_string(encoded));
  s.client.add("x-amz-decoded-content-length", std::to_string(decoded));
  s.client.sign_header(sigv4::kStreamingSigned);
  s.content_length = encoded;
  return s;
}

// boto3 1.43 over https: STREAMING-UNSIGNED-PAYLOAD-TRAILER in Transfer-Encoding: chunked.
Scenario unsigned_trailer_put(std::uint64_t decoded, std::string trailer = "x-amz-checksum-crc32") {
  Scenario s;
  s.client.add("Content-Encoding", "aws-chunked");
  s.client.add("x-amz-decoded-content-length", std::to_string(decoded));
  s.client.add("x-amz-trailer", std::move(trailer));
  s.client.add("x-amz-sdk-checksum-algorithm", "CRC32");
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.client.sign_header(sigv4::kStreamingUnsignedTrailer);
  s.te_chunked = true;
  return s;
}

// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (Java v2) with a crc32 trailer.
Scenario signed_trailer_put(std::uint64_t decoded) {
  Scenario s;
  s.client.add("Content-Encoding", "aws-chunked");
  s.client.add("x-amz-decoded-content-length", std::to_string(decoded));
  s.client.add("x-amz-trailer", "x-amz-checksum-crc32");
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.client.sign_header(sigv4::kStreamingSignedTrailer);
  s.te_chunked = true;
  return s;
}

// An UNSIGNED-PAYLOAD PutObject (rclone, awscli over https).
Scenario unsigned_put(std::uint64_t length) {
  Scenario s;
  s.client.sign_header(sigv4::kUnsignedPayload);
  s.content_length = length;
  return s;
}

// --- Body builders -----------------------------------------------------------------

std::string crc32_base64(std::string_view data) {
  auto c = crypto::make_checksum(crypto::ChecksumAlgorithm::crc32);
  c->update(data);
  return c->finish_base64();
}

std::string hex_size(std::size_t n) { return fmt::format("{:x}", n); }

// The signed data chunks of `payload`, cut at `chunk` bytes, without the final chunk.
std::string signed_data_chunks(chunked::SignedChunkEncoder& enc, std::string_view payload, std::size_t chunk) {
  std::string out;
  for (std::size_t i = 0; i < payload.size(); i += chunk) {
    const auto piece = payload.substr(i, chunk);
    out += enc.chunk_header(piece);
    out += piece;
    out += "\r\n";
  }
  return out;
}

std::string signed_chunked_body(const chunked::ChainContext& ctx, std::string_view payload,
                                std::size_t chunk = kClientChunkSize) {
  chunked::SignedChunkEncoder enc(ctx);
  std::string out = signed_data_chunks(enc, payload, chunk);
  out += enc.final_chunk();  // after the data chunks: it continues their chain
  return out;
}

std::string unsigned_trailer_body(std::string_view payload, std::string_view crc32, std::size_t chunk = 8192) {
  std::string out;
  for (std::size_t i = 0; i < payload.size(); i += chunk) {
    const auto piece = payload.substr(i, chunk);
    out += hex_size(piece.size()) + "\r\n";
    out += piece;
    out += "\r\n";
  }
  out += "0\r\nx-amz-checksum-crc32:" + std::string(crc32) + "\r\n\r\n";
  return out;
}

std::string signed_trailer_body(const chunked::ChainContext& ctx, std::string_view payload) {
  chunked::SignedChunkEncoder enc(ctx);
  std::string out = signed_data_chunks(enc, payload, kClientChunkSize);
  const std::string final_chunk = enc.final_chunk();  // "0;chunk-signature=SIG\r\n\r\n"
  const auto sig_at = final_chunk.find('=') + 1;
  const std::string final_sig = final_chunk.substr(sig_at, chunked::kSignatureHexLength);
  out += final_chunk.substr(0, final_chunk.size() - 2);  // the trailers take the blank line's place
  const std::vector<std::pair<std::string, std::string>> trailers{{"x-amz-checksum-crc32", crc32_base64(payload)}};
  out += "x-amz-checksum-crc32:" + trailers[0].second + "\r\n";
  out += "x-amz-trailer-signature:" + chunked::trailer_signature(ctx, final_sig, chunked::canonical_trailer(trailers)) +
         "\r\n\r\n";
  return out;
}

// --- Reading a plan ----------------------------------------------------------------

std::size_t count(const ForwardPlan& plan, std::string_view name) {
  return static_cast<std::size_t>(
      std::count_if(plan.headers.begin(), plan.headers.end(), [&](const auto& h) { return h.first == name; }));
}

std::optional<std::string> header(const ForwardPlan& plan, std::string_view name) {
  for (const auto& [n, v] : plan.headers)
    if (n == name) return v;
  return std::nullopt;
}

// The SignedHeaders list of the plan's Authorization header.
std::vector<std::string> upstream_signed(const ForwardPlan& plan) {
  const auto auth = header(plan, "authorization").value_or("");
  const auto at = auth.find("SignedHeaders=");
  if (at == std::string::npos) return {};
  const auto start = at + std::string_view("SignedHeaders=").size();
  std::string list = auth.substr(start, auth.find(',', start) - start);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    auto semi = list.find(';', pos);
    if (semi == std::string::npos) semi = list.size();
    out.push_back(list.substr(pos, semi - pos));
    pos = semi + 1;
  }
  return out;
}

bool is_signed(const ForwardPlan& plan, std::string_view name) {
  const auto names = upstream_signed(plan);
  return std::find(names.begin(), names.end(), name) != names.end();
}

// What the upstream would conclude from the planned request: sigv4::verify over the
// method, target and headers exactly as the plan sends them.
Result<sigv4::Verified> verify_upstream(const ForwardPlan& plan, const Secret& secret = kUpstreamSecret) {
  std::vector<sigv4::Header> views;
  for (const auto& [n, v] : plan.headers) views.push_back(sigv4::Header{n, v});
  const std::string_view target = plan.target;
  const auto q = target.find('?');
  const sigv4::RequestView view{plan.method_string, target.substr(0, q),
                                q == std::string_view::npos ? std::string_view{} : target.substr(q + 1), views};
  return sigv4::verify(view, lookup_for(kUpstreamKeyId, secret), fixed_now());
}

void expect_upstream_verifies(const ForwardPlan& plan) {
  EXPECT_EQ(header(plan, "host"), plan.host);
  const auto v = verify_upstream(plan);
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->params.credential.access_key_id, kUpstreamKeyId);
  EXPECT_EQ(v->params.credential.region, kUpstreamRegion);
  if (plan.upstream_chain) {
    // The proxy's chunk chain must continue from the signature the upstream just checked.
    EXPECT_EQ(plan.upstream_chain->seed_signature, v->params.signature);
    EXPECT_EQ(plan.upstream_chain->signing_key, v->signing_key);
    EXPECT_EQ(plan.upstream_chain->scope, v->scope);
  }
}

// --- Driving a transform -----------------------------------------------------------

struct Fed {
  std::string wire;                     // everything released towards the upstream
  std::string before_last;              // what was released before the piece marked last
  std::vector<std::size_t> per_piece;   // bytes released by each consume()
  std::optional<Failure> failure;
};

std::string take(BodyTransform& t) {
  std::string out;
  for (const auto& b : t.take_output()) out.append(static_cast<const char*>(b.data()), b.size());
  t.clear_output();
  return out;
}

// Feeds `body` in the given pieces as the relay does (take, send, clear after each).
Fed feed(BodyTransform& t, std::string_view body, const std::vector<std::size_t>& sizes) {
  Fed fed;
  std::size_t at = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bool last = i + 1 == sizes.size();
    const auto piece = body.substr(at, sizes[i]);
    at += piece.size();
    // The relay reuses one read buffer, so the piece must be copied out before the next read.
    std::string buffer(piece);
    if (last) fed.before_last = fed.wire;
    fed.failure = t.consume(buffer, last);
    const std::string out = take(t);
    fed.per_piece.push_back(out.size());
    fed.wire += out;
    if (fed.failure) break;
  }
  return fed;
}

std::vector<std::size_t> random_sizes(std::size_t total, std::uint32_t seed, std::size_t max_piece) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> len(1, max_piece);
  std::vector<std::size_t> sizes;
  while (total > 0) {
    const auto n = std::min(len(rng), total);
    sizes.push_back(n);
    total -= n;
  }
  return sizes;
}

std::vector<std::size_t> fixed_sizes(std::size_t total, std::size_t piece) {
  std::vector<std::size_t> sizes;
  for (; total > piece; total -= piece) sizes.push_back(piece);
  sizes.push_back(total);
  return sizes;
}

struct Decoded {
  std::string payload;
  chunked::Status status;
  std::optional<Failure> failure;
};

// Decodes what the proxy sent as the upstream would, with the plan's own chunk chain.
Decoded decode_upstream(const ForwardPlan& plan, std::string_view wire, bool ended = true) {
  chunked::Decoder::Options o;
  o.signed_chunks = true;
  o.chain = plan.upstream_chain;
  o.decoded_length = plan.decoded_length;
  chunked::Decoder d(std::move(o));
  std::string out;
  while (!wire.empty()) {
    const auto r = d.parse(wire);
    out.append(r.payload);
    wire.remove_prefix(r.consumed);
    if (r.status == chunked::Status::error || (r.consumed == 0 && r.payload.empty())) break;
  }
  if (ended && d.status() == chunked::Status::need_more) d.finish();
  return {out, d.status(), d.failure()};
}

// --- Headers -----------------------------------------------------------------------

Scenario put_with_acl(AclMode mode) {
  Scenario s;
  const std::string body = "image bytes";
  s.acl_mode = mode;
  s.client.add("x-amz-acl", "public-read");
  s.client.add("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"");
  s.client.add("X-Amz-Grant-Full-Control", "id=owner");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  return s;
}

TEST(PlanForward, StripsAclHeadersInStripMode) {
  auto s = put_with_acl(AclMode::strip);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-acl"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-grant-read"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-grant-full-control"), 0u);
  EXPECT_FALSE(is_signed(plan.value(), "x-amz-acl"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, ForwardsAndSignsAclHeadersInAuditMode) {
  auto s = put_with_acl(AclMode::audit);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "x-amz-acl"), "public-read");
  EXPECT_EQ(header(plan.value(), "x-amz-grant-read"), "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"");
  EXPECT_EQ(header(plan.value(), "x-amz-grant-full-control"), "id=owner");
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-acl"));
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-grant-read"));
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-grant-full-control"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, SignsTheProxysTaggingInPlaceOfTheClients) {
  Scenario s;
  const std::string body = "image bytes";
  s.client.add("x-amz-acl", "private");
  s.client.add("x-amz-tagging", "team=a");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  s.tagging = UploadTagging{"team=a&s3-acl-proxy-visibility=private", false};
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-tagging"), 1u);
  EXPECT_EQ(header(plan.value(), "x-amz-tagging"), "team=a&s3-acl-proxy-visibility=private");
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-tagging"));
  EXPECT_EQ(count(plan.value(), "x-amz-acl"), 0u);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, CopyTaggingReplacesTheDirective) {
  Scenario s;
  s.client.add("x-amz-copy-source", "/media/src.jpg");
  s.client.add("x-amz-tagging-directive", "COPY");
  s.client.sign_header(kEmptySha256);
  s.tagging = UploadTagging{"a=1&s3-acl-proxy-visibility=private", true};
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "x-amz-tagging-directive"), "REPLACE");
  EXPECT_EQ(count(plan.value(), "x-amz-tagging-directive"), 1u);
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-tagging-directive"));
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-tagging"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, ThePresignedTaggingParameterDoesNotGoUpstreamBesideTheHeader) {
  Scenario s;
  s.client.query = "x-amz-tagging=team%3Db";
  s.client.sign_presigned();
  s.content_length = 3;
  s.tagging = UploadTagging{"team=b&s3-acl-proxy-visibility=private", false};
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target.find("x-amz-tagging"), std::string::npos) << plan->target;
  EXPECT_EQ(header(plan.value(), "x-amz-tagging"), "team=b&s3-acl-proxy-visibility=private");
}

TEST(PlanForward, ReplacesClientAuthorizationWithUpstreamIdentity) {
  auto s = hex_put("x");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  ASSERT_EQ(count(plan.value(), "authorization"), 1u);
  const auto auth = *header(plan.value(), "authorization");
  EXPECT_EQ(auth.find(s.client.signature), std::string::npos);
  EXPECT_EQ(auth.find(kClientKeyId), std::string::npos);
  EXPECT_NE(auth.find("Credential=" + std::string(kUpstreamKeyId) + "/20261123/eu-west-2/s3/aws4_request"),
            std::string::npos);
}

TEST(PlanForward, ReplacesClientDateHashAndSecurityToken) {
  Scenario s;
  const std::string body = "x";
  s.client.add("x-amz-security-token", "client-session-token");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-date"), 1u);
  EXPECT_EQ(header(plan.value(), "x-amz-date"), kNow);
  EXPECT_EQ(count(plan.value(), "x-amz-content-sha256"), 1u);
  EXPECT_EQ(count(plan.value(), "x-amz-security-token"), 0u);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, DropsExpectAndClientContentLength) {
  Scenario s;
  const std::string body = "hello";
  s.client.add("Content-Length", "5");
  s.client.add_unsigned("Expect", "100-continue");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "expect"), 0u);
  EXPECT_EQ(count(plan.value(), "content-length"), 1u) << "only the proxy's own framing";
  EXPECT_EQ(header(plan.value(), "content-length"), "5");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, DropsHopByHopFields) {
  Scenario s;
  s.client.method = "GET";
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer",
                           "Upgrade"}) {
    s.client.add_unsigned(name, "x");
  }
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  for (const char* name : {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
                           "upgrade", "transfer-encoding"}) {
    EXPECT_EQ(count(plan.value(), name), 0u) << name;
  }
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, DropsFieldsNamedInConnection) {
  Scenario s;
  s.client.method = "GET";
  s.client.add_unsigned("Connection", "keep-alive, X-Hop-Only");
  s.client.add_unsigned("X-Hop-Only", "1");
  s.client.add_unsigned("X-End-To-End", "2");
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-hop-only"), 0u);
  EXPECT_EQ(header(plan.value(), "x-end-to-end"), "2");
}

TEST(PlanForward, SignsEveryForwardedAmzHeader) {
  Scenario s;
  const std::string body = "x";
  s.client.add("x-amz-meta-owner", "alice");
  s.client.add("x-amz-storage-class", "STANDARD");
  s.client.add("x-amz-checksum-crc32", crc32_base64(body));
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  for (const auto& [name, value] : plan->headers) {
    if (name.starts_with("x-amz-")) {
      EXPECT_TRUE(is_signed(plan.value(), name)) << name;
    }
  }
  EXPECT_EQ(header(plan.value(), "x-amz-meta-owner"), "alice");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, SignsContentHeadersTheClientLeftUnsigned) {
  Scenario s;
  const std::string body = "<Delete/>";
  s.client.method = "POST";
  s.client.path = "/media";
  s.client.query = "delete";
  s.client.add_unsigned("Content-MD5", crypto::base64(std::string(16, '\x5a')));
  s.client.add_unsigned("Content-Type", "application/xml");
  s.client.add_unsigned("Content-Encoding", "identity");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_TRUE(is_signed(plan.value(), "content-md5"));
  EXPECT_TRUE(is_signed(plan.value(), "content-type"));
  EXPECT_TRUE(is_signed(plan.value(), "content-encoding"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, SignsEveryHeaderTheClientSigned) {
  Scenario s;
  s.client.method = "GET";
  s.client.add("Range", "bytes=0-9");
  s.client.add("If-None-Match", "\"abc\"");
  s.client.add("amz-sdk-invocation-id", "5b1e");
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_TRUE(is_signed(plan.value(), "range"));
  EXPECT_TRUE(is_signed(plan.value(), "if-none-match"));
  EXPECT_TRUE(is_signed(plan.value(), "amz-sdk-invocation-id"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, ForwardsUnsignedUserAgentWithoutSigningIt) {
  Scenario s;
  s.client.method = "GET";
  s.client.add_unsigned("User-Agent", "aws-sdk-ruby3/3.130");
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "user-agent"), "aws-sdk-ruby3/3.130");
  EXPECT_FALSE(is_signed(plan.value(), "user-agent"));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, MergesRepeatedSignedHeadersIntoOne) {
  Scenario s;
  s.client.method = "GET";
  s.client.add("x-amz-meta-tag", "one");
  s.client.add("X-Amz-Meta-Tag", " two ");
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-meta-tag"), 1u);
  EXPECT_EQ(header(plan.value(), "x-amz-meta-tag"), "one,two");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, MergesThreeRepeatsAndKeepsTheFieldsAroundThem) {
  Scenario s;
  s.client.method = "GET";
  s.client.add("x-amz-meta-b", "1");
  s.client.add("x-amz-meta-a", "first");
  s.client.add("x-amz-meta-b", "2");
  s.client.add("x-amz-meta-c", "last");
  s.client.add("x-amz-meta-b", "3");
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "x-amz-meta-a"), "first");
  EXPECT_EQ(count(plan.value(), "x-amz-meta-b"), 1u);
  EXPECT_EQ(header(plan.value(), "x-amz-meta-b"), "1,2,3");
  EXPECT_EQ(header(plan.value(), "x-amz-meta-c"), "last");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, HostIsTheUpstreams) {
  auto s = get_object();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, kUpstreamHostHeader);
  EXPECT_EQ(count(plan.value(), "host"), 1u);
  EXPECT_EQ(header(plan.value(), "host"), kUpstreamHostHeader);
}

TEST(PlanForward, SignatureMadeWithTheClientKeyDoesNotVerify) {
  // Guards the verification helper itself: a plan is not accepted whatever its signature.
  auto s = get_object();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const auto v = verify_upstream(plan.value(), kClientSecret);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.failure().error, S3Error::SignatureDoesNotMatch);
}

TEST(PlanForward, SerializedHeadCarriesEveryPlannedHeader) {
  auto s = hex_put("hello");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const auto head = plan->serialize_head(true);
  EXPECT_TRUE(head.starts_with("PUT /media/a.jpg HTTP/1.1\r\n")) << head;
  for (const auto& [n, v] : plan->headers) EXPECT_NE(head.find(n + ": " + v + "\r\n"), std::string::npos) << n;
  EXPECT_NE(head.find("expect: 100-continue\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
  EXPECT_EQ(plan->serialize_head(false).find("expect"), std::string::npos);
}

// --- The upstream signature verifies --------------------------------------------

TEST(PlanForwardSignature, VerifiesForHexPayload) {
  auto s = hex_put("hello");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForUnsignedPayload) {
  auto s = unsigned_put(5);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForStreamingSigned) {
  auto s = streaming_signed_put(100000);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForStreamingUnsignedTrailer) {
  auto s = unsigned_trailer_put(5);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForStreamingSentUnsigned) {
  auto s = unsigned_trailer_put(5);
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForUnsignedBodySentAsSignedChunks) {
  auto s = unsigned_put(70000);
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForPresignedInput) {
  Scenario s;
  s.client.query = "x-id=PutObject";
  s.client.add("x-amz-acl", "public-read");
  s.client.sign_presigned();
  s.content_length = 3;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(s.verified->params.kind, sigv4::AuthKind::sigv4_presigned);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), sigv4::kUnsignedPayload);
  EXPECT_EQ(count(plan.value(), "x-amz-acl"), 0u);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForPathStyleAddressing) {
  auto s = get_object("/media/dir/a.jpg");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/dir/a.jpg");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForVirtualHostedAddressing) {
  auto s = get_object("/media/dir/a.jpg");
  s.upstream = upstream_config(Addressing::virtual_host);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, "media." + std::string(kUpstreamHostHeader));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardSignature, VerifiesForEncodedKeyAndQuery) {
  auto s = get_object("/media/caf%c3%a9%20(1)+x.jpg", "response-content-type=image%2fjpeg&versionId=a%20b");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_upstream_verifies(plan.value());
}

// --- Target ------------------------------------------------------------------------

TEST(PlanForward, PathStyleTargetIsBucketThenKey) {
  auto s = get_object("/media/accounts/avatars/1.png");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, kUpstreamHostHeader);
  EXPECT_EQ(plan->target, "/media/accounts/avatars/1.png");
}

TEST(PlanForward, VirtualHostedTargetMovesBucketIntoHost) {
  auto s = get_object("/media/accounts/avatars/1.png");
  s.upstream = upstream_config(Addressing::virtual_host);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, "media.s3.example.test:7480");
  EXPECT_EQ(plan->target, "/accounts/avatars/1.png");
}

TEST(PlanForward, VirtualHostedBucketRequestTargetsSlash) {
  auto s = get_object("/media", "list-type=2&prefix=a");
  s.upstream = upstream_config(Addressing::virtual_host);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, "media.s3.example.test:7480");
  EXPECT_EQ(plan->target, "/?list-type=2&prefix=a");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, ListBucketsTargetsSlashOnTheUpstreamHost) {
  auto s = get_object("/");
  s.upstream = upstream_config(Addressing::virtual_host);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, kUpstreamHostHeader);
  EXPECT_EQ(plan->target, "/");
}

TEST(PlanForward, EncodesSpaceInKeyAsPercent20) {
  auto s = get_object("/media/my%20photo.jpg");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/my%20photo.jpg");
}

TEST(PlanForward, EncodesPlusInKeyAsPercent2B) {
  auto s = get_object("/media/a+b.jpg");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a%2Bb.jpg");
}

TEST(PlanForward, EncodesUnicodeKeyWithUpperCaseHex) {
  auto raw = get_object("/media/caf\xc3\xa9.jpg");
  auto plan_raw = raw.plan();
  ASSERT_TRUE(plan_raw.ok()) << failure_text(plan_raw);
  EXPECT_EQ(plan_raw->target, "/media/caf%C3%A9.jpg");

  auto lower_hex = get_object("/media/caf%c3%a9.jpg");
  auto plan_lower = lower_hex.plan();
  ASSERT_TRUE(plan_lower.ok()) << failure_text(plan_lower);
  EXPECT_EQ(plan_lower->target, "/media/caf%C3%A9.jpg");
}

// S3 decodes the path before it splits off the bucket: "a%2Fb.jpg" and "a/b.jpg" name one
// key. The upstream path is built from the decoded key, as audited.
TEST(PlanForward, SendsEncodedSlashInKeyAsTheSameKey) {
  auto s = get_object("/media/a%2Fb.jpg");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a/b.jpg");
}

TEST(PlanForward, RemovesPresignedParametersAndKeepsTheRest) {
  Scenario s;
  s.client.method = "GET";
  s.client.query = "x-id=GetObject&response-cache-control=no-cache";
  s.client.sign_presigned();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a.jpg?response-cache-control=no-cache&x-id=GetObject");
  EXPECT_EQ(plan->target.find("X-Amz-"), std::string::npos);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, KeepsMultipartQueryParameters) {
  Scenario s;
  const std::string body = "part";
  s.client.query = "uploadId=2~abc%2Bdef&partNumber=3&x-id=UploadPart";
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a.jpg?partNumber=3&uploadId=2~abc%2Bdef&x-id=UploadPart");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, BareQueryNameGetsEqualsSign) {
  Scenario s;
  s.client.method = "POST";
  s.client.query = "uploads";
  s.client.sign_header(kEmptySha256);
  s.content_length = 0;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a.jpg?uploads=");
  EXPECT_EQ(header(plan.value(), "content-length"), "0") << "a POST always states its length";
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, PathStyleBucketRequestHasNoKeyPart) {
  auto s = get_object("/media", "list-type=2");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media?list-type=2");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, VirtualHostedClientBecomesPathStyleUpstream) {
  Scenario s;
  s.client.method = "GET";
  s.client.host = "media.s3.local:8080";
  s.client.path = "/dir/a%20b.jpg";
  s.client_domains = {"s3.local"};
  s.client.sign_header(kEmptySha256);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->host, kUpstreamHostHeader);
  EXPECT_EQ(plan->target, "/media/dir/a%20b.jpg");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, StripsAclQueryParameterOfPresignedUrlInStripMode) {
  Scenario s;
  s.client.query = "x-amz-acl=public-read&x-id=PutObject";
  s.client.sign_presigned();
  s.content_length = 3;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target, "/media/a.jpg?x-id=PutObject");
  expect_upstream_verifies(plan.value());
}

// --- Payload modes -----------------------------------------------------------------

TEST(PlanForward, HexPayloadKeepsHashAndLength) {
  const std::string body = make_payload(1000);
  auto s = hex_put(body);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::raw_hashed);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), crypto::sha256_hex(body));
  EXPECT_EQ(header(plan.value(), "content-length"), "1000");
  EXPECT_EQ(plan->upstream_content_length, 1000u);
  EXPECT_FALSE(plan->upstream_chain.has_value());
}

TEST(PlanForward, HexPayloadHashIsSentLowerCase) {
  const std::string body = "hello";
  Scenario s;
  std::string upper = crypto::sha256_hex(body);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  s.client.sign_header(upper);
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), crypto::sha256_hex(body));
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, UnsignedPayloadIsKept) {
  auto s = unsigned_put(42);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::raw_unsigned);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), sigv4::kUnsignedPayload);
  EXPECT_EQ(header(plan.value(), "content-length"), "42");
}

TEST(PlanForward, GetWithoutBodyHasNoContentLength) {
  auto s = get_object();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::none);
  EXPECT_FALSE(plan->has_body);
  EXPECT_EQ(count(plan.value(), "content-length"), 0u);
}

TEST(PlanForward, EmptyPutStatesZeroLength) {
  auto s = hex_put("");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::none);
  EXPECT_EQ(header(plan.value(), "content-length"), "0");
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), kEmptySha256);
}

TEST(PlanForward, StreamingIsResignedAsSignedStreaming) {
  auto s = unsigned_trailer_put(100000);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::decode_signed);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), sigv4::kStreamingSigned);
  EXPECT_EQ(header(plan.value(), "x-amz-decoded-content-length"), "100000");
  EXPECT_EQ(header(plan.value(), "content-encoding"), "aws-chunked");
  const auto encoded = *chunked::SignedChunkEncoder::encoded_length(100000, kUpstreamChunkSize);
  EXPECT_EQ(header(plan.value(), "content-length"), std::to_string(encoded));
  EXPECT_EQ(plan->upstream_content_length, encoded);
  EXPECT_EQ(plan->decoded_length, 100000u);
  EXPECT_TRUE(plan->upstream_chain.has_value());
}

TEST(PlanForward, StreamingDropsTheClientsChunkFraming) {
  auto s = unsigned_trailer_put(5);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-trailer"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-sdk-checksum-algorithm"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-decoded-content-length"), 1u);
  EXPECT_EQ(count(plan.value(), "content-encoding"), 1u);
  EXPECT_EQ(count(plan.value(), "transfer-encoding"), 0u);
  EXPECT_EQ(plan->trailer_checksum, crypto::ChecksumAlgorithm::crc32);
}

TEST(PlanForward, StreamingKeepsOtherContentEncodingsAfterAwsChunked) {
  Scenario s;
  s.client.add("Content-Encoding", "aws-chunked, gzip");
  s.client.add("x-amz-decoded-content-length", "5");
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.client.sign_header(sigv4::kStreamingSigned);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "content-encoding"), "aws-chunked,gzip");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, StreamingSentUnsignedKeepsOnlyOtherContentEncodings) {
  Scenario s;
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  s.client.add("Content-Encoding", "aws-chunked, gzip");
  s.client.add("x-amz-decoded-content-length", "5");
  s.client.sign_header(sigv4::kStreamingSigned);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "content-encoding"), "gzip");
}

TEST(PlanForward, StreamingWithoutContentEncodingHeaderIsStillRecognised) {
  // fog-aws sends STREAMING-AWS4-HMAC-SHA256-PAYLOAD without Content-Encoding.
  Scenario s;
  s.client.add("x-amz-decoded-content-length", "5");
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.client.sign_header(sigv4::kStreamingSigned);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::decode_signed);
  EXPECT_EQ(header(plan.value(), "content-encoding"), "aws-chunked");
  expect_upstream_verifies(plan.value());
}

TEST(PlanForward, UnsignedPayloadUpstreamModeSendsDecodedLength) {
  auto s = unsigned_trailer_put(100000);
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::decode_unsigned);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), sigv4::kUnsignedPayload);
  EXPECT_EQ(header(plan.value(), "content-length"), "100000");
  EXPECT_EQ(count(plan.value(), "x-amz-decoded-content-length"), 0u);
  EXPECT_EQ(count(plan.value(), "content-encoding"), 0u);
  EXPECT_FALSE(plan->upstream_chain.has_value());
}

TEST(PlanForward, SignedChunksModeTurnsUnsignedBodyIntoSignedChunks) {
  auto s = unsigned_put(100000);
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::raw_signed);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), sigv4::kStreamingSigned);
  EXPECT_EQ(header(plan.value(), "x-amz-decoded-content-length"), "100000");
  EXPECT_EQ(header(plan.value(), "content-encoding"), "aws-chunked");
  EXPECT_EQ(header(plan.value(), "content-length"),
            std::to_string(*chunked::SignedChunkEncoder::encoded_length(100000, kUpstreamChunkSize)));
  EXPECT_TRUE(plan->upstream_chain.has_value());
}

TEST(PlanForward, SignedChunksModeLeavesHexBodiesAlone) {
  auto s = hex_put("hello");
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::raw_hashed);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), crypto::sha256_hex("hello"));
}

TEST(PlanForward, MissingDecodedLengthIsMissingContentLength) {
  Scenario s;
  s.client.add("Content-Encoding", "aws-chunked");
  s.client.sign_header(sigv4::kStreamingSigned);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::MissingContentLength);
}

TEST(PlanForward, NonNumericDecodedLengthIsInvalidArgument) {
  Scenario s;
  s.client.add("x-amz-decoded-content-length", "5x");
  s.client.sign_header(sigv4::kStreamingSigned);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::InvalidArgument);
}

TEST(PlanForward, TransferEncodingChunkedWithoutAwsChunkedIsMissingContentLength) {
  Scenario s;
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.client.sign_header(sigv4::kUnsignedPayload);
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::MissingContentLength);
}

TEST(PlanForward, UnknownTrailerChecksumIsInvalidRequest) {
  auto s = unsigned_trailer_put(5, "x-amz-checksum-md5");
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::InvalidRequest);
}

TEST(PlanForward, TrailerNameIsMatchedIgnoringCaseAndBlanks) {
  auto s = unsigned_trailer_put(5, " X-Amz-Checksum-CRC32C ");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->trailer_checksum, crypto::ChecksumAlgorithm::crc32c);
}

// --- Declared lengths -------------------------------------------------------------

// Declared lengths beyond S3's single-PUT limit, among them values whose aws-chunked
// encoding would wrap a 64-bit upstream Content-Length to a few bytes: the rest of the
// client's body would then reach the upstream as another request.
TEST(PlanForward, DecodedLengthBeyondFiveGiBIsEntityTooLarge) {
  for (std::string_view declared : {"5368709121", "18446744073709551615", "18446744073709486080",
                                    "18446744073709551000", "99999999999999999999999999"}) {
    Scenario s;
    s.client.add("Content-Encoding", "aws-chunked");
    s.client.add("x-amz-decoded-content-length", std::string(declared));
    s.client.sign_header(sigv4::kStreamingSigned);
    s.content_length = 1000;
    auto plan = s.plan();
    ASSERT_FALSE(plan.ok()) << declared;
    EXPECT_EQ(plan.failure().error, S3Error::EntityTooLarge) << declared;
  }
}

TEST(PlanForward, DecodedLengthOfExactlyFiveGiBIsPlannedWithoutWrapping) {
  auto s = streaming_signed_put(kMaxObjectSize);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_GT(plan->upstream_content_length, kMaxObjectSize);
  EXPECT_EQ(plan->upstream_content_length, *chunked::SignedChunkEncoder::encoded_length(kMaxObjectSize, kUpstreamChunkSize));
}

TEST(PlanForward, ContentLengthBeyondFiveGiBIsEntityTooLarge) {
  for (auto s : {unsigned_put(kMaxObjectSize + 1), hex_put("x")}) {
    s.content_length = kMaxObjectSize + 1;
    auto plan = s.plan();
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.failure().error, S3Error::EntityTooLarge);
  }
  auto at_limit = unsigned_put(kMaxObjectSize);
  EXPECT_TRUE(at_limit.plan().ok());
}

TEST(PlanForward, DecodedLengthWithSignOrBlanksInsideIsInvalidArgument) {
  for (std::string_view declared : {"-1", "+5", "1 2", "0x10", ""}) {
    Scenario s;
    s.client.add("x-amz-decoded-content-length", std::string(declared));
    s.client.sign_header(sigv4::kStreamingSigned);
    s.te_chunked = true;
    auto plan = s.plan();
    ASSERT_FALSE(plan.ok()) << declared;
    EXPECT_EQ(plan.failure().error, S3Error::InvalidArgument) << declared;
  }
}

TEST(EncodedLength, OverflowIsReportedNotWrapped) {
  EXPECT_FALSE(chunked::SignedChunkEncoder::encoded_length(~std::uint64_t{0}, kUpstreamChunkSize).has_value());
  EXPECT_FALSE(chunked::SignedChunkEncoder::encoded_length(~std::uint64_t{0} - 64, 0).has_value());
  EXPECT_TRUE(chunked::SignedChunkEncoder::encoded_length(kMaxObjectSize, kUpstreamChunkSize).has_value());
}

// By construction: whatever a plan says, the transform never releases a byte beyond the
// Content-Length the upstream was told, and never ends short of it.
TEST(BodyTransform, NeverReleasesMoreThanTheDeclaredUpstreamLength) {
  const std::string payload = make_payload(200000);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_chunked_body(s.client.chain(), payload);
  plan->upstream_content_length = 88;  // as if the length had wrapped
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 65536));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::InternalError);
  EXPECT_LE(fed.wire.size(), 88u);
}

TEST(BodyTransform, RefusesToEndShortOfTheDeclaredUpstreamLength) {
  const std::string body = make_payload(1000);
  auto s = unsigned_put(body.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  plan->upstream_content_length = body.size() + 1;
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 300));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::InternalError);
}

TEST(BodyTransform, CountsEveryReleasedByte) {
  const std::string payload = make_payload(150000);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, signed_chunked_body(s.client.chain(), payload), random_sizes(200000, 9, 30000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(t.upstream_bytes(), plan->upstream_content_length);
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
}

// --- Upstream names ----------------------------------------------------------------

TEST(PlanForward, VirtualUpstreamRefusesBucketThatIsNoHostName) {
  auto s = get_object("/My_Bucket/k");
  s.client_domains.clear();
  s.legacy_bucket_names = true;
  s.upstream.addressing = Addressing::virtual_host;
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::InvalidBucketName);
}

// --- HopByHop ----------------------------------------------------------------------

TEST(HopByHop, RecognisesRfc9110Fields) {
  for (const char* name : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                           "te", "trailer", "transfer-encoding", "upgrade"}) {
    EXPECT_TRUE(is_hop_by_hop(name)) << name;
  }
  for (const char* name : {"content-length", "content-type", "x-amz-acl", "host", "authorization"}) {
    EXPECT_FALSE(is_hop_by_hop(name)) << name;
  }
}

TEST(HopByHop, StripRemovesFieldsNamedInConnection) {
  http::fields f;
  f.set(http::field::connection, "keep-alive, X-Internal");
  f.set(http::field::keep_alive, "timeout=5");
  f.set("X-Internal", "1");
  f.set(http::field::upgrade, "h2c");
  f.set(http::field::content_type, "image/png");
  strip_hop_by_hop(f);
  EXPECT_EQ(f.count(http::field::connection), 0u);
  EXPECT_EQ(f.count(http::field::keep_alive), 0u);
  EXPECT_EQ(f.count("X-Internal"), 0u);
  EXPECT_EQ(f.count(http::field::upgrade), 0u);
  EXPECT_EQ(f[http::field::content_type], "image/png");
}

TEST(HopByHop, StripRemovesEveryCopyOfANamedFieldWhateverItsCaseAndKeepsTheOrderOfTheRest) {
  http::fields f;
  f.insert("X-Internal", "1");
  f.insert(http::field::etag, "\"e\"");
  f.insert("x-internal", "2");
  f.insert(http::field::connection, "X-INTERNAL");
  f.insert(http::field::te, "trailers");
  f.insert("X-Amz-Request-Id", "tx1");
  strip_hop_by_hop(f);
  std::vector<std::string> left;
  for (const auto& field : f) left.emplace_back(field.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"ETag", "X-Amz-Request-Id"}));
}

TEST(HopByHop, StripKeepsTransferEncodingForTheRelayedBody) {
  http::fields f;
  f.set(http::field::connection, "transfer-encoding");
  f.set(http::field::transfer_encoding, "chunked");
  strip_hop_by_hop(f);
  EXPECT_EQ(f[http::field::transfer_encoding], "chunked");
}

// --- BodyTransform: raw bodies -----------------------------------------------------

TEST(BodyTransform, HexBodyInRandomPiecesPassesUnchanged) {
  const std::string body = make_payload(300000);
  auto s = hex_put(body);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    BodyTransform t(plan.value(), *s.verified);
    const auto fed = feed(t, body, random_sizes(body.size(), seed, 40000));
    ASSERT_FALSE(fed.failure) << fed.failure->message;
    EXPECT_EQ(fed.wire, body);
    EXPECT_EQ(t.decoded_bytes(), body.size());
  }
}

TEST(BodyTransform, WrongHashFailsOnLastPieceAndWithholdsIt) {
  const std::string body = make_payload(10000);
  auto s = hex_put("a different body");
  s.content_length = body.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto sizes = fixed_sizes(body.size(), 3000);
  const auto fed = feed(t, body, sizes);
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::XAmzContentSHA256Mismatch);
  EXPECT_EQ(fed.per_piece.size(), sizes.size()) << "the failure comes with the last piece, not before";
  EXPECT_EQ(fed.per_piece.back(), 0u);
  EXPECT_EQ(fed.wire.size(), body.size() - sizes.back()) << "the last piece must not be released";
  EXPECT_LT(fed.wire.size(), plan->upstream_content_length);
}

TEST(BodyTransform, UnsignedPayloadBodyPassesUnchanged) {
  const std::string body = make_payload(100000);
  auto s = unsigned_put(body.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 4, 20000));
  ASSERT_FALSE(fed.failure);
  EXPECT_EQ(fed.wire, body);
}

TEST(BodyTransform, UnsignedBodyIsSentAsSignedChunks) {
  const std::string body = make_payload(200000);
  auto s = unsigned_put(body.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 5, 30000));
  ASSERT_FALSE(fed.failure);
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
  const auto decoded = decode_upstream(plan.value(), fed.wire);
  EXPECT_EQ(decoded.status, chunked::Status::done) << (decoded.failure ? decoded.failure->message : "");
  EXPECT_EQ(decoded.payload, body);
  EXPECT_EQ(t.decoded_bytes(), body.size());
}

// --- BodyTransform: aws-chunked bodies ---------------------------------------------

TEST(BodyTransform, SignedStreamingBodyIsReSigned) {
  const std::string payload = make_payload(150000);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_chunked_body(s.client.chain(), payload);
  ASSERT_EQ(body.size(), *s.content_length);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 6, 50000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
  const auto decoded = decode_upstream(plan.value(), fed.wire);
  EXPECT_EQ(decoded.status, chunked::Status::done) << (decoded.failure ? decoded.failure->message : "");
  EXPECT_EQ(decoded.payload, payload);
  EXPECT_EQ(t.decoded_bytes(), payload.size());
}

TEST(BodyTransform, SignedStreamingBodyInSmallChunksIsReChunkedAtUpstreamSize) {
  // fog-aws and others pick their own chunk size; upstream sizes follow the plan's.
  const std::string payload = make_payload(150000);
  Scenario s;
  const auto encoded = chunked::SignedChunkEncoder::encoded_length(payload.size(), 1000);
  s.client.add("x-amz-decoded-content-length", std::to_string(payload.size()));
  s.client.sign_header(sigv4::kStreamingSigned);
  s.content_length = encoded;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_chunked_body(s.client.chain(), payload, 1000);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 7, 7000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
  EXPECT_EQ(decode_upstream(plan.value(), fed.wire).payload, payload);
}

TEST(BodyTransform, SignedStreamingBodyIsReSignedWhateverTheClientsChunkSize) {
  // Client chunks of exactly the upstream size lend their verified hash to the upstream
  // chunk; every other size is hashed again. Either way the upstream chain must verify.
  const std::string payload = make_payload(300000);
  std::uint32_t seed = 20;
  for (const std::size_t client_chunk : {std::size_t{65536}, std::size_t{32768}, std::size_t{65535},
                                         std::size_t{65537}, std::size_t{131072}, std::size_t{10000}}) {
    Scenario s;
    s.client.add("x-amz-decoded-content-length", std::to_string(payload.size()));
    s.client.sign_header(sigv4::kStreamingSigned);
    s.content_length = chunked::SignedChunkEncoder::encoded_length(payload.size(), client_chunk);
    auto plan = s.plan();
    ASSERT_TRUE(plan.ok()) << failure_text(plan);
    const std::string body = signed_chunked_body(s.client.chain(), payload, client_chunk);
    BodyTransform t(plan.value(), *s.verified);
    const auto fed = feed(t, body, random_sizes(body.size(), ++seed, 70000));
    ASSERT_FALSE(fed.failure) << client_chunk << ": " << fed.failure->message;
    ASSERT_EQ(fed.wire.size(), plan->upstream_content_length) << client_chunk;
    const auto decoded = decode_upstream(plan.value(), fed.wire);
    EXPECT_EQ(decoded.status, chunked::Status::done)
        << client_chunk << ": " << (decoded.failure ? decoded.failure->message : "");
    EXPECT_EQ(decoded.payload, payload) << client_chunk;
  }
}

TEST(BodyTransform, UnsignedTrailerBodyIsReSigned) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 8, 9000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
  const auto decoded = decode_upstream(plan.value(), fed.wire);
  EXPECT_EQ(decoded.status, chunked::Status::done) << (decoded.failure ? decoded.failure->message : "");
  EXPECT_EQ(decoded.payload, payload);
}

TEST(BodyTransform, SignedTrailerBodyIsReSigned) {
  const std::string payload = make_payload(70000);
  auto s = signed_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_trailer_body(s.client.chain(), payload);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 9, 9000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  const auto decoded = decode_upstream(plan.value(), fed.wire);
  EXPECT_EQ(decoded.status, chunked::Status::done) << (decoded.failure ? decoded.failure->message : "");
  EXPECT_EQ(decoded.payload, payload);
}

// RGW refuses an empty signed-chunk body: an empty aws-chunked object goes upstream as a
// plain empty PUT, once the client's framing and signatures verified.
TEST(BodyTransform, EmptyStreamingBodyBecomesAPlainEmptyUpload) {
  auto s = streaming_signed_put(0);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->body, BodyMode::decode_empty);
  EXPECT_EQ(plan->upstream_content_length, 0u);
  EXPECT_EQ(header(plan.value(), "x-amz-content-sha256"), std::string(kEmptySha256));
  EXPECT_EQ(header(plan.value(), "content-length"), std::string("0"));
  expect_upstream_verifies(plan.value());
  const std::string body = signed_chunked_body(s.client.chain(), "");
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, {body.size()});
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_TRUE(fed.wire.empty());
}

TEST(BodyTransform, EmptyStreamingBodyWithABadFinalSignatureIsRefused) {
  auto s = streaming_signed_put(0);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  std::string body = signed_chunked_body(s.client.chain(), "");
  const auto sig = body.find("chunk-signature=") + std::string_view("chunk-signature=").size();
  body[sig] = body[sig] == '0' ? '1' : '0';
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, {body.size()});
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::SignatureDoesNotMatch);
}

TEST(BodyTransform, FinalChunkOnlyAfterLastAndVerified) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload));
  BodyTransform t(plan.value(), *s.verified);
  // The whole body, trailer included, but the client's framing has not said it ended.
  ASSERT_FALSE(t.consume(body, false));
  const std::string early = take(t);
  EXPECT_LT(early.size(), plan->upstream_content_length);
  EXPECT_EQ(decode_upstream(plan.value(), early, false).status, chunked::Status::need_more);
  ASSERT_FALSE(t.consume("", true));
  const std::string wire = early + take(t);
  EXPECT_EQ(wire.size(), plan->upstream_content_length);
  const auto decoded = decode_upstream(plan.value(), wire);
  EXPECT_EQ(decoded.status, chunked::Status::done);
  EXPECT_EQ(decoded.payload, payload);
}

TEST(BodyTransform, BadChunkSignatureFailsWithoutFinalChunk) {
  const std::string payload = make_payload(150000);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  std::string body = signed_chunked_body(s.client.chain(), payload);
  // Flip one payload byte of the second chunk (65536 bytes, like the first): its signature
  // no longer matches.
  const std::size_t header_len = std::string_view("10000;chunk-signature=").size() + chunked::kSignatureHexLength + 2;
  const std::size_t data_at = header_len + kClientChunkSize + 2 + header_len + 10;
  body[data_at] = static_cast<char>(body[data_at] ^ 0x01);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 16384));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::SignatureDoesNotMatch);
  EXPECT_LT(fed.wire.size(), plan->upstream_content_length);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

TEST(BodyTransform, BadTrailerChecksumFailsWithoutFinalChunk) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64("something else"));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 10, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
  EXPECT_LT(fed.wire.size(), plan->upstream_content_length);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

TEST(BodyTransform, BadTrailerSignatureFailsWithoutFinalChunk) {
  const std::string payload = make_payload(70000);
  auto s = signed_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  std::string body = signed_trailer_body(s.client.chain(), payload);
  const auto sig_at = body.rfind("x-amz-trailer-signature:") + std::string_view("x-amz-trailer-signature:").size();
  body[sig_at] = body[sig_at] == '0' ? '1' : '0';
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 11, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::SignatureDoesNotMatch);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

TEST(BodyTransform, BodyShorterThanDecodedLengthFailsWithoutFinalChunk) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size() + 1);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 12, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::IncompleteBody);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

TEST(BodyTransform, TruncatedStreamingBodyFailsAtTheEnd) {
  const std::string payload = make_payload(100000);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_chunked_body(s.client.chain(), payload);
  const std::string cut = body.substr(0, body.size() - 100);  // the final chunk is lost
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, cut, fixed_sizes(cut.size(), 16384));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::IncompleteBody);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

TEST(BodyTransform, UnsignedUpstreamGetsDecodedBytesAndTailAfterVerification) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 13, 9000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire, payload);
  // With Content-Length = decoded length, the upstream must not see the whole object early.
  EXPECT_LT(fed.before_last.size(), payload.size());
}

TEST(BodyTransform, UnsignedUpstreamWithholdsTailWhenBodyEndsOnChunkBoundary) {
  // A payload of whole upstream chunks leaves no short tail: the last full one is held.
  const std::string payload = make_payload(2 * kUpstreamChunkSize);
  auto s = unsigned_trailer_put(payload.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload), kUpstreamChunkSize);
  BodyTransform t(plan.value(), *s.verified);
  ASSERT_FALSE(t.consume(body, false));
  EXPECT_LT(take(t).size(), payload.size());
  ASSERT_FALSE(t.consume("", true));
  EXPECT_EQ(t.decoded_bytes(), payload.size());
}

TEST(BodyTransform, UnsignedUpstreamWithholdsTailWhenTrailerIsBad) {
  const std::string payload = make_payload(100000);
  auto s = unsigned_trailer_put(payload.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::unsigned_payload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64("something else"));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 14, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
  EXPECT_LT(fed.wire.size(), payload.size());
}

TEST(BodyTransform, OutputOfOneConsumeIsNotRepeatedByTheNext) {
  // take_output() is documented as valid until the next consume(); a caller that does not
  // call clear_output() must not be handed a chunk twice.
  const std::string payload = make_payload(3 * kUpstreamChunkSize);
  auto s = unsigned_put(payload.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const std::string_view p(payload);
  ASSERT_FALSE(t.consume(p.substr(0, kUpstreamChunkSize + 1), false));  // releases chunk 1
  std::string wire;
  for (const auto& b : t.take_output()) wire.append(static_cast<const char*>(b.data()), b.size());
  ASSERT_FALSE(t.consume(p.substr(kUpstreamChunkSize + 1, kUpstreamChunkSize), false));  // releases chunk 2
  const auto& out = t.take_output();
  std::size_t total = 0;
  for (const auto& b : out) total += b.size();
  const std::size_t framed_chunk = *chunked::SignedChunkEncoder::encoded_length(kUpstreamChunkSize, 0) -
                                   *chunked::SignedChunkEncoder::encoded_length(0, 0);
  EXPECT_LE(total, 2 * framed_chunk) << "the second consume() hands out chunk 1 again";
}

// --- BodyTransform: bounded memory -------------------------------------------------

// A 5 MiB body in 64 KiB reads: no single consume() may release more than two framed
// upstream chunks and the final chunk, whatever the client's own chunking. (The last read
// releases the full chunk held back from the read before, its own piece and the final
// chunk: 2 * 64 KiB + 262 bytes of framing.)
constexpr std::size_t kBigBody = 5 * 1024 * 1024;
constexpr std::size_t kReadPiece = 64 * 1024;
const std::size_t kMaxReleasePerConsume =
    *chunked::SignedChunkEncoder::encoded_length(2 * kUpstreamChunkSize, kUpstreamChunkSize);

TEST(BodyTransform, SignedStreamingReleasesBoundedOutputPerPiece) {
  const std::string payload = make_payload(kBigBody);
  auto s = streaming_signed_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = signed_chunked_body(s.client.chain(), payload);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), kReadPiece));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_LE(*std::max_element(fed.per_piece.begin(), fed.per_piece.end()), kMaxReleasePerConsume);
  EXPECT_EQ(fed.wire.size(), plan->upstream_content_length);
  EXPECT_EQ(decode_upstream(plan.value(), fed.wire).payload, payload);
}

TEST(BodyTransform, UnsignedTrailerReleasesBoundedOutputPerPiece) {
  const std::string payload = make_payload(kBigBody);
  auto s = unsigned_trailer_put(payload.size());
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload), 1024 * 1024);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), kReadPiece));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_LE(*std::max_element(fed.per_piece.begin(), fed.per_piece.end()), kMaxReleasePerConsume);
  EXPECT_EQ(decode_upstream(plan.value(), fed.wire).payload, payload);
}

TEST(BodyTransform, SignedChunksModeReleasesBoundedOutputPerPiece) {
  const std::string payload = make_payload(kBigBody);
  auto s = unsigned_put(payload.size());
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, payload, fixed_sizes(payload.size(), kReadPiece));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_LE(*std::max_element(fed.per_piece.begin(), fed.per_piece.end()), kMaxReleasePerConsume);
  EXPECT_EQ(decode_upstream(plan.value(), fed.wire).payload, payload);
}

// --- upstream.checksums = "strip" ------------------------------------------------------

UpstreamConfig strip_checksums() {
  UpstreamConfig up = upstream_config();
  up.checksums = UpstreamChecksums::strip;
  return up;
}

// The JavaScript SDK's Buffer upload: hex body hash, a CRC32 header and the SDK's algorithm header.
Scenario hex_put_with_crc32(std::string_view body, std::string_view crc32) {
  Scenario s;
  s.client.add("x-amz-checksum-crc32", std::string(crc32));
  s.client.add("x-amz-sdk-checksum-algorithm", "CRC32");
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  return s;
}

bool has_checksum_header(const ForwardPlan& plan) {
  return std::any_of(plan.headers.begin(), plan.headers.end(),
                     [](const auto& h) { return checksums::is_checksum_header(h.first); });
}

TEST(PlanForwardChecksums, ForwardModeSendsChecksumHeadersSigned) {
  const std::string body = "hello world";
  auto s = hex_put_with_crc32(body, crc32_base64(body));
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(header(plan.value(), "x-amz-checksum-crc32"), crc32_base64(body));
  EXPECT_TRUE(is_signed(plan.value(), "x-amz-checksum-crc32"));
  EXPECT_TRUE(plan->header_checksums.empty());
}

TEST(PlanForwardChecksums, StripModeDropsEveryChecksumHeader) {
  const std::string body = "hello world";
  auto s = hex_put_with_crc32(body, crc32_base64(body));
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_FALSE(has_checksum_header(plan.value()));
  EXPECT_FALSE(is_signed(plan.value(), "x-amz-checksum-crc32"));
  ASSERT_EQ(plan->header_checksums.size(), 1u);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardChecksums, StripModeDropsChecksumModeOnGet) {
  auto s = get_object();
  s.client.headers.clear();
  s.client.signed_names.clear();
  s.client.add("x-amz-checksum-mode", "ENABLED");
  s.client.sign_header(kEmptySha256);
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(count(plan.value(), "x-amz-checksum-mode"), 0u);
  expect_upstream_verifies(plan.value());
}

TEST(PlanForwardChecksums, StripModeDropsMultipartChecksumDescriptions) {
  Scenario s;
  s.client.method = "POST";
  s.client.query = "uploads";
  s.client.add("x-amz-checksum-algorithm", "CRC32");
  s.client.add("x-amz-checksum-type", "FULL_OBJECT");
  s.client.sign_header(kEmptySha256);
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_FALSE(has_checksum_header(plan.value()));
}

TEST(PlanForwardChecksums, StripModeDropsTrailerDeclarationOfStreamingUpload) {
  auto s = unsigned_trailer_put(1000);
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_FALSE(has_checksum_header(plan.value()));
  EXPECT_EQ(plan->trailer_checksum, crypto::ChecksumAlgorithm::crc32) << "the proxy still verifies the trailer";
}

TEST(PlanForwardChecksums, StripModeDropsChecksumQueryParameterOfPresignedUrl) {
  Scenario s;
  s.client.query = "x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32";
  s.client.sign_presigned();
  s.content_length = 0;
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(plan->target.find("checksum"), std::string::npos) << plan->target;
}

TEST(PlanForwardChecksums, StripModeRefusesEmptyBodyWhoseChecksumDoesNotMatch) {
  auto s = hex_put_with_crc32("", crc32_base64("not empty"));
  s.content_length = 0;
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::BadDigest);
}

TEST(PlanForwardChecksums, StripModeRefusesMalformedChecksumValue) {
  auto s = hex_put_with_crc32("hello world", "bm90IGEgY3JjMzI=");
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.failure().error, S3Error::InvalidRequest);
}

TEST(BodyTransformChecksums, MatchingHeaderChecksumPassesTheBodyUnchanged) {
  const std::string body = make_payload(100000);
  auto s = hex_put_with_crc32(body, crc32_base64(body));
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 3, 7000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire, body);
}

TEST(BodyTransformChecksums, MismatchingHeaderChecksumWithholdsTheLastPiece) {
  // An unsigned body (no hash to catch the change): only the checksum stands guard.
  const std::string body = make_payload(10000);
  auto s = unsigned_put(body.size());
  s.client.headers.clear();
  s.client.signed_names.clear();
  s.client.add("x-amz-checksum-crc32", crc32_base64("a different body"));
  s.client.sign_header(sigv4::kUnsignedPayload);
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto sizes = fixed_sizes(body.size(), 3000);
  const auto fed = feed(t, body, sizes);
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
  EXPECT_EQ(fed.per_piece.size(), sizes.size()) << "the failure comes with the last piece";
  EXPECT_EQ(fed.wire.size(), body.size() - sizes.back()) << "the last piece must not be released";
}

TEST(BodyTransformChecksums, ForwardModeLeavesHeaderChecksumToTheUpstream) {
  const std::string body = make_payload(10000);
  auto s = unsigned_put(body.size());
  s.client.headers.clear();
  s.client.signed_names.clear();
  s.client.add("x-amz-checksum-crc32", crc32_base64("a different body"));
  s.client.sign_header(sigv4::kUnsignedPayload);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 3000));
  EXPECT_FALSE(fed.failure);
  EXPECT_EQ(fed.wire, body);
}

TEST(BodyTransformChecksums, HeaderChecksumOfStreamingBodyIsVerifiedOverDecodedBytes) {
  const std::string payload = make_payload(150000);
  for (const bool good : {true, false}) {
    Scenario s;
    const auto encoded = *chunked::SignedChunkEncoder::encoded_length(payload.size(), kClientChunkSize);
    s.client.add("Content-Encoding", "aws-chunked");
    s.client.add("x-amz-decoded-content-length", std::to_string(payload.size()));
    s.client.add("x-amz-checksum-crc32", crc32_base64(good ? payload : payload + "x"));
    s.client.sign_header(sigv4::kStreamingSigned);
    s.content_length = encoded;
    s.upstream = strip_checksums();
    auto plan = s.plan();
    ASSERT_TRUE(plan.ok()) << failure_text(plan);
    EXPECT_FALSE(has_checksum_header(plan.value()));
    const std::string body = signed_chunked_body(s.client.chain(), payload);
    BodyTransform t(plan.value(), *s.verified);
    const auto fed = feed(t, body, random_sizes(body.size(), 11, 20000));
    if (good) {
      ASSERT_FALSE(fed.failure) << fed.failure->message;
      EXPECT_EQ(decode_upstream(plan.value(), fed.wire).payload, payload);
    } else {
      ASSERT_TRUE(fed.failure.has_value());
      EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
      EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done) << "the upstream cannot complete";
    }
  }
}

TEST(BodyTransformChecksums, BadTrailerChecksumIsRefusedInStripModeToo) {
  const std::string payload = make_payload(50000);
  auto s = unsigned_trailer_put(payload.size());
  s.upstream = strip_checksums();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64("something else"));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 5, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
  EXPECT_NE(decode_upstream(plan.value(), fed.wire).status, chunked::Status::done);
}

Scenario complete_upload(std::string_view body) {
  Scenario s;
  s.client.method = "POST";
  s.client.query = "uploadId=abc";
  s.client.sign_header(crypto::sha256_hex(body));
  s.content_length = body.size();
  s.upstream = strip_checksums();
  return s;
}

TEST(BodyTransformChecksums, CompleteWithPartChecksumsIsRefusedBeforeItsEnd) {
  const std::string body =
      "<CompleteMultipartUpload><Part><ETag>\"e\"</ETag><ChecksumCRC32>DUoRhQ==</ChecksumCRC32>"
      "<PartNumber>1</PartNumber></Part></CompleteMultipartUpload>";
  auto s = complete_upload(body);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  ASSERT_TRUE(plan->refuse_part_checksums);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 16));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::InvalidRequest);
  EXPECT_LT(fed.wire.size(), body.size());
}

TEST(BodyTransformChecksums, CompleteWithoutPartChecksumsPasses) {
  const std::string body =
      "<CompleteMultipartUpload><Part><ETag>\"e\"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>";
  auto s = complete_upload(body);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, fixed_sizes(body.size(), 16));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire, body);
}

// --- Requests forwarded without credentials (access.hpp) ----------------------------

// A request that carries no credentials, planned as the relay plans it: unauthenticated()
// stands in for verification and no identity signs it.
struct AnonymousScenario {
  ClientRequest client;  // never signed
  AclMode acl_mode = AclMode::strip;
  UpstreamConfig upstream = upstream_config();
  std::optional<std::uint64_t> content_length;
  bool te_chunked = false;

  std::optional<sigv4::Verified> verified;
  S3Target target;
  AclDecision acl;

  Result<ForwardPlan> plan() {
    client.headers.emplace_back("Host", client.host);
    const auto view = client.view();
    EXPECT_FALSE(carries_credentials(view));
    auto v = unauthenticated(view);
    if (!v.ok()) return v.failure();
    verified = std::move(v).value();
    auto classified = classify(ClassifyInput{client.method, client.path, client.query, client.host});
    if (!classified) return classified.failure();
    target = std::move(classified).value();
    acl = decide_acl(acl_mode, AclRequests::reject, target, client.method, view.headers, view.raw_query);
    const ForwardInput in{view, target, *verified, acl, content_length, te_chunked, std::nullopt, upstream, fixed_now()};
    return plan_forward(in);
  }
};

// Nothing in the plan that could carry or reveal an identity.
void expect_no_credentials(const ForwardPlan& plan) {
  EXPECT_EQ(count(plan, "authorization"), 0u);
  EXPECT_EQ(count(plan, "x-amz-date"), 0u);
  EXPECT_EQ(count(plan, "x-amz-security-token"), 0u);
  EXPECT_FALSE(plan.upstream_chain.has_value());
  for (const auto& [name, value] : plan.headers) {
    EXPECT_EQ(value.find(kUpstreamKeyId), std::string::npos) << name;
  }
  EXPECT_EQ(plan.target.find("X-Amz-"), std::string::npos) << plan.target;
}

TEST(PlanForwardAnonymous, GetCarriesNoCredentials) {
  AnonymousScenario s;
  s.client.method = "GET";
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(header(plan.value(), "host"), std::string(kUpstreamHostHeader));
  EXPECT_EQ(plan->target, "/media/a.jpg");
  EXPECT_EQ(count(plan.value(), "x-amz-content-sha256"), 0u);  // the client gave none
}

TEST(PlanForwardAnonymous, PutHasItsAclHeadersStrippedInStripMode) {
  AnonymousScenario s;
  s.client.add_unsigned("x-amz-acl", "public-read");
  s.client.add_unsigned("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"");
  s.client.add_unsigned("x-amz-meta-colour", "blue");
  s.client.query = "x-amz-acl=public-read";
  s.content_length = 5;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(count(plan.value(), "x-amz-acl"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-grant-read"), 0u);
  EXPECT_EQ(plan->target, "/media/a.jpg");
  EXPECT_EQ(header(plan.value(), "x-amz-meta-colour"), "blue");
  EXPECT_EQ(header(plan.value(), "content-length"), "5");
  EXPECT_EQ(plan->body, BodyMode::raw_unsigned);
}

TEST(PlanForwardAnonymous, PutKeepsItsAclHeadersInAuditMode) {
  AnonymousScenario s;
  s.acl_mode = AclMode::audit;
  s.client.add_unsigned("x-amz-acl", "public-read");
  s.content_length = 5;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(header(plan.value(), "x-amz-acl"), "public-read");
}

TEST(PlanForwardAnonymous, UnsignedBodyIsNeverTurnedIntoSignedChunks) {
  AnonymousScenario s;
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  s.content_length = 1000;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(plan->body, BodyMode::raw_unsigned);
  EXPECT_EQ(plan->upstream_content_length, 1000u);
  EXPECT_EQ(count(plan.value(), "content-encoding"), 0u);
}

TEST(PlanForwardAnonymous, HexBodyIsStillCheckedBeforeItsLastByte) {
  const std::string payload = make_payload(100000);
  AnonymousScenario s;
  s.client.add_unsigned("x-amz-content-sha256", crypto::sha256_hex("something else"));
  s.content_length = payload.size();
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(plan->body, BodyMode::raw_hashed);
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, payload, fixed_sizes(payload.size(), 30000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::XAmzContentSHA256Mismatch);
  EXPECT_LT(fed.wire.size(), payload.size());
}

TEST(PlanForwardAnonymous, UnsignedTrailerBodyIsDecodedAndSentPlain) {
  const std::string payload = make_payload(100000);
  AnonymousScenario s;
  s.client.add_unsigned("Content-Encoding", "aws-chunked");
  s.client.add_unsigned("x-amz-content-sha256", std::string(sigv4::kStreamingUnsignedTrailer));
  s.client.add_unsigned("x-amz-decoded-content-length", std::to_string(payload.size()));
  s.client.add_unsigned("x-amz-trailer", "x-amz-checksum-crc32");
  s.client.add_unsigned("Transfer-Encoding", "chunked");
  s.te_chunked = true;
  s.upstream = upstream_config(Addressing::path, UpstreamPayload::signed_chunks);
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(plan->body, BodyMode::decode_unsigned);
  EXPECT_EQ(header(plan.value(), "content-length"), std::to_string(payload.size()));
  EXPECT_EQ(count(plan.value(), "content-encoding"), 0u);
  EXPECT_EQ(count(plan.value(), "x-amz-trailer"), 0u);
  const std::string body = unsigned_trailer_body(payload, crc32_base64(payload));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 11, 9000));
  ASSERT_FALSE(fed.failure) << fed.failure->message;
  EXPECT_EQ(fed.wire, payload);
}

TEST(PlanForwardAnonymous, UnsignedTrailerWithAWrongChecksumIsWithheld) {
  const std::string payload = make_payload(70000);
  AnonymousScenario s;
  s.client.add_unsigned("x-amz-content-sha256", std::string(sigv4::kStreamingUnsignedTrailer));
  s.client.add_unsigned("x-amz-decoded-content-length", std::to_string(payload.size()));
  s.client.add_unsigned("x-amz-trailer", "x-amz-checksum-crc32");
  s.te_chunked = true;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  const std::string body = unsigned_trailer_body(payload, crc32_base64("not the payload"));
  BodyTransform t(plan.value(), *s.verified);
  const auto fed = feed(t, body, random_sizes(body.size(), 12, 9000));
  ASSERT_TRUE(fed.failure.has_value());
  EXPECT_EQ(fed.failure->error, S3Error::BadDigest);
  EXPECT_LT(fed.wire.size(), payload.size());
}

TEST(PlanForwardOptions, PreflightCarriesNoCredentials) {
  AnonymousScenario s;
  s.client.method = "OPTIONS";
  s.client.add_unsigned("Origin", "https://app.example");
  s.client.add_unsigned("Access-Control-Request-Method", "PUT");
  s.client.add_unsigned("Access-Control-Request-Headers", "content-type,x-amz-acl");
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  EXPECT_EQ(s.target.op, Op::PreflightRequest);
  expect_no_credentials(plan.value());
  EXPECT_EQ(plan->method_string, "OPTIONS");
  EXPECT_EQ(header(plan.value(), "origin"), "https://app.example");
  EXPECT_EQ(header(plan.value(), "access-control-request-method"), "PUT");
  EXPECT_EQ(header(plan.value(), "access-control-request-headers"), "content-type,x-amz-acl");
  EXPECT_EQ(count(plan.value(), "content-length"), 0u);
}

TEST(PlanForwardOptions, VerifiedOptionsLosesTheClientsCredentialsAndGetsNoneOfTheProxys) {
  Scenario s;
  s.client.method = "OPTIONS";
  s.client.add("Origin", "https://app.example");
  s.client.add("Access-Control-Request-Method", "GET");
  s.client.sign_header(kEmptySha256);
  s.sign_upstream = false;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(header(plan.value(), "origin"), "https://app.example");
  for (const auto& [name, value] : plan->headers) EXPECT_EQ(value.find(kClientKeyId), std::string::npos) << name;
}

TEST(PlanForwardOptions, PresignedOptionsLosesItsQueryCredentials) {
  Scenario s;
  s.client.method = "OPTIONS";
  s.client.query = "versionId=7";
  s.client.sign_presigned();
  s.sign_upstream = false;
  auto plan = s.plan();
  ASSERT_TRUE(plan.ok()) << failure_text(plan);
  expect_no_credentials(plan.value());
  EXPECT_EQ(plan->target, "/media/a.jpg?versionId=7");
}

}  // namespace
}  // namespace s3proxy
