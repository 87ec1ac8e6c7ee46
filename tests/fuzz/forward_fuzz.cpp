// The request path after verification, without sockets: classification, the ACL decision,
// plan_forward and BodyTransform over a fuzzed request (header list and body), the body
// handed over in random pieces as the HTTP layer would.
//
// Input layout: byte 0 = options, byte 1 = split seed, then "METHOD TARGET\nName: value\n..."
// up to the first empty line, then the body.
//   bits 0-1 upstream.payload: 0 auto, 1 signed-chunks, 2 unsigned, 3 auto
//   bit 2    upstream.addressing = virtual
//   bit 3    acl.mode = audit (else strip)
//   bit 4    Transfer-Encoding: chunked framing (no Content-Length)
//   bit 5    with chunked framing, the end of the body arrives as an empty last piece
//   bits 6-7 acl.acl_requests: 0 reject, 1 accept, 2-3 forward
//
// Verification is stood in for (a fuzzer cannot forge signatures): the request's own SigV4
// parameters when they parse, and the chunk-signature chain of the AWS documentation
// example, so the signed seeds of tests/fuzz/corpus/chunked verify here too. A request
// without credentials is planned as the relay plans it with server.anonymous = "forward"
// (unauthenticated() stands in), and neither it nor any OPTIONS is signed by an identity.
//
// What must hold for every input:
//   - the upstream head is well formed: no CR/LF/NUL in the target or any header, no space in
//     the target, Content-Length (when sent) equal to the planned length;
//   - in strip mode no ACL header or ACL query parameter reaches the upstream (but for a
//     PUT ?acl forwarded whole), and never a presigned-URL parameter or the client's
//     Authorization; exactly one Authorization (the proxy's) on a signed request, none on
//     one planned without credentials;
//   - nothing that lets the upstream complete the object is released before the whole body
//     verified (fewer bytes than the planned Content-Length until the last piece);
//   - the body verifies exactly when a one-piece reference decode does (split independence);
//   - a verified body reaches the upstream whole: the planned length exactly, and its
//     payload equal to the client's (re-signed chunks decode with the proxy's own chain).
#include "fuzz_input.hpp"
#include "s3proxy/access.hpp"
#include "s3proxy/forward.hpp"
#include "s3proxy/uri.hpp"

#include <algorithm>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace s3proxy;

constexpr std::size_t kHeaderBytes = 2;

// Names the invariant that broke, then stops like any other crash.
#define check(condition)                                                              \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "forward_fuzz: %s does not hold (line %d)\n", #condition, __LINE__); \
      __builtin_trap();                                                               \
    }                                                                                 \
  } while (0)

std::uint32_t next(std::uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// What an HTTP/1.1 parser lets through: token names, values without control characters
// other than HTAB, a target without blanks or control characters.
bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool valid_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return is_tchar(c); });
}
bool valid_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); });
}
bool valid_target_char(unsigned char c) { return c > 0x20 && c != 0x7f; }
bool no_line_breaks(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

const chunked::ChainContext& example_chain() {
  static const chunked::ChainContext ctx = [] {
    namespace crypto = s3proxy::crypto;
    auto k = crypto::hmac_sha256("AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524");
    k = crypto::hmac_sha256(crypto::as_view(k), "us-east-1");
    k = crypto::hmac_sha256(crypto::as_view(k), "s3");
    k = crypto::hmac_sha256(crypto::as_view(k), "aws4_request");
    return chunked::ChainContext{k, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                                 "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"};
  }();
  return ctx;
}

// Decodes a whole aws-chunked body in one piece; nullopt when it does not verify.
std::optional<std::string> decode_whole(chunked::Decoder::Options options, std::string_view body) {
  chunked::Decoder decoder(std::move(options));
  std::string payload;
  while (!body.empty()) {
    auto r = decoder.parse(body);
    if (r.status == chunked::Status::error) return std::nullopt;
    payload.append(r.payload);
    body.remove_prefix(r.consumed);
    if (r.consumed == 0 && r.payload.empty()) break;
  }
  if (decoder.status() != chunked::Status::done && decoder.finish() != chunked::Status::done) return std::nullopt;
  return payload;
}

// The name of each parameter of a query string, percent-decoded.
std::vector<std::string> query_names(std::string_view query) {
  std::vector<std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto name = pair.substr(0, pair.find('='));
    out.push_back(uri::decode(name).value_or(std::string(name)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

bool is_presign_param(std::string_view name) {
  for (std::string_view p : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                             "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}) {
    if (name == p) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderBytes) return 0;
  const std::uint8_t opt = data[0];
  std::uint32_t rng = 0x9e3779b9u ^ data[1];
  const std::uint32_t max_piece = 1u + (data[1] & 0x3f) * 3u;
  std::string_view in(reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes);
  const auto blank = in.find("\n\n");
  const std::string_view head = in.substr(0, blank);
  const std::string_view body = blank == std::string_view::npos ? std::string_view{} : in.substr(blank + 2);

  const auto parsed = fuzz::split_request(head);
  if (!valid_token(parsed.method)) return 0;
  // The relay answers any other request target 400 before classification, and verify()
  // a path that does not percent-decode.
  if (parsed.path.empty() || parsed.path.front() != '/' || !uri::decode(parsed.path)) return 0;
  const std::string_view target_text = head.substr(0, head.find('\n')).substr(parsed.method.size());
  if (target_text.size() < 2 ||
      !std::all_of(target_text.begin() + 1, target_text.end(), [](unsigned char c) { return valid_target_char(c); })) {
    return 0;
  }
  // Values as the HTTP parser hands them over: without surrounding blanks.
  std::vector<sigv4::Header> headers;
  for (auto h : parsed.headers) {
    while (!h.value.empty() && (h.value.front() == ' ' || h.value.front() == '\t')) h.value.remove_prefix(1);
    while (!h.value.empty() && (h.value.back() == ' ' || h.value.back() == '\t')) h.value.remove_suffix(1);
    if (valid_token(h.name) && valid_value(h.value)) headers.push_back(h);
  }
  const sigv4::RequestView view{parsed.method, parsed.path, parsed.query, headers};

  // Stand-in for sigv4::verify.
  const bool without_credentials = !carries_credentials(view);
  const bool signs = !without_credentials && parsed.method != "OPTIONS";  // as signs_upstream()
  sigv4::Verified verified;
  if (without_credentials) {
    auto stand_in = unauthenticated(view);
    if (!stand_in) return 0;  // refused before planning
    verified = std::move(stand_in.value());
  } else if (auto params = sigv4::parse_auth(view)) {
    verified.params = std::move(params.value());
  } else {
    for (const auto& h : headers) verified.params.signed_headers.push_back(lower(h.name));
    verified.params.payload_hash =
        std::string(sigv4::header_value(headers, "x-amz-content-sha256").value_or(sigv4::kUnsignedPayload));
  }
  const auto mode = sigv4::parse_payload_mode(verified.params.payload_hash);
  if (!mode) return 0;
  verified.payload_mode = *mode;
  const auto& chain = example_chain();
  verified.signing_key = chain.signing_key;
  verified.scope = chain.scope;
  verified.params.amz_date = chain.amz_date;
  verified.params.signature = chain.seed_signature;

  static const std::vector<std::string> domains{"s3.local"};
  const auto host = sigv4::header_value(headers, "host").value_or("");
  const bool copy = sigv4::header_value(headers, "x-amz-copy-source").has_value();
  // Payload option 3 is "auto" like 0, with the legacy bucket-name rule.
  const bool legacy = (opt & 3) == 3;
  const auto classified = classify(ClassifyInput{parsed.method, parsed.path, parsed.query, host, copy, domains, legacy});
  if (!classified) return 0;  // refused before verification: nothing is planned
  const S3Target& target = classified.value();

  const AclMode acl_mode = (opt & 8) ? AclMode::audit : AclMode::strip;
  const AclRequests acl_requests =
      (opt >> 6) == 0 ? AclRequests::reject : (opt >> 6) == 1 ? AclRequests::accept : AclRequests::forward;
  const auto acl = decide_acl(acl_mode, acl_requests, target, parsed.method, headers, parsed.query);
  if (acl.answer != LocalAnswer::none) return 0;  // answered without the upstream

  UpstreamConfig up;
  up.host = "127.0.0.1";
  up.port = 7480;
  up.host_header = "127.0.0.1:7480";
  up.region = "us-east-1";
  up.access_key_id = "RGWTESTERKEY00000001";
  up.secret_access_key = Secret("rgwtestersecretrgwtestersecret0000000001");
  up.addressing = (opt & 4) ? Addressing::virtual_host : Addressing::path;
  const int payload_option = opt & 3;
  up.payload = payload_option == 1 ? UpstreamPayload::signed_chunks
               : payload_option == 2 ? UpstreamPayload::unsigned_payload
                              : UpstreamPayload::automatic;
  const bool te_chunked = (opt & 16) != 0;
  const bool empty_last = te_chunked && (opt & 32) != 0;

  const ForwardInput fin{view,
                         target,
                         verified,
                         acl,
                         te_chunked ? std::nullopt : std::optional<std::uint64_t>(body.size()),
                         te_chunked,
                         !signs ? std::nullopt
                                : std::optional<UpstreamIdentity>(
                                                   UpstreamIdentity{up.access_key_id, up.secret_access_key}),
                         up,
                         std::chrono::system_clock::time_point(std::chrono::seconds(1795453972))};
  auto result = plan_forward(fin);
  if (!result) return 0;
  const ForwardPlan& plan = result.value();

  // The upstream head.
  check(!plan.host.empty() && no_line_breaks(plan.host));
  check(!plan.target.empty() && plan.target.front() == '/');
  check(std::all_of(plan.target.begin(), plan.target.end(), [](unsigned char c) { return valid_target_char(c); }));
  const auto q = plan.target.find('?');
  const auto names = query_names(q == std::string::npos ? std::string_view{} : std::string_view(plan.target).substr(q + 1));
  // PUT ?acl forwarded as a whole (acl_requests = "forward") is the one request whose ACL goes on.
  const bool put_acl = target.op == Op::PutObjectAcl || target.op == Op::PutBucketAcl;
  const bool must_strip = acl_mode == AclMode::strip && !put_acl;
  int authorizations = 0;
  for (const auto& [name, value] : plan.headers) {
    check(valid_token(name) && no_line_breaks(value));
    if (name == "authorization") {
      ++authorizations;
      // The proxy's own signature, never the client's passed on.
      const auto sig = value.rfind("Signature=");
      check(sig != std::string::npos && value.substr(sig + 10) != verified.params.signature);
    }
    if (name == "content-length") check(value == std::to_string(plan.upstream_content_length));
    if (must_strip) check(!is_acl_header(name));
  }
  check(authorizations == (signs ? 1 : 0));
  if (!signs) check(!plan.upstream_chain && plan.body != BodyMode::raw_signed && plan.body != BodyMode::decode_signed);
  for (const auto& n : names) {
    check(!is_presign_param(n));
    if (must_strip) check(!is_acl_header(n));
  }
  const std::string wire = plan.serialize_head(false);
  std::size_t line_ends = 0;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\n') {
      check(i > 0 && wire[i - 1] == '\r');
      ++line_ends;
    }
  }
  check(line_ends == plan.headers.size() + 2);

  if (!plan.has_body) return 0;

  // The body, in random pieces.
  BodyTransform transform(plan, verified);
  std::string out;
  bool refused = false;
  std::string_view rest = body;
  while (!rest.empty()) {
    const std::string_view piece = rest.substr(0, 1 + next(rng) % max_piece);
    rest.remove_prefix(piece.size());
    const bool last = rest.empty() && !empty_last;
    if (transform.consume(piece, last)) {
      check(transform.take_output().empty());
      refused = true;
      break;
    }
    for (const auto& b : transform.take_output()) out.append(static_cast<const char*>(b.data()), b.size());
    transform.clear_output();
    if (!last) check(out.size() < plan.upstream_content_length || (plan.upstream_content_length == 0 && out.empty()));
  }
  if (!refused && (empty_last || body.empty())) {
    if (transform.consume({}, true)) {
      refused = true;
    } else {
      for (const auto& b : transform.take_output()) out.append(static_cast<const char*>(b.data()), b.size());
    }
  }

  // The same body decoded in one piece, as the reference.
  std::optional<std::string> payload;
  chunked::Decoder::Options client;
  switch (plan.body) {
    case BodyMode::raw_hashed:
      if (lower(crypto::sha256_hex(body)) == lower(verified.params.payload_hash)) payload = std::string(body);
      break;
    case BodyMode::raw_unsigned:
    case BodyMode::raw_signed: payload = std::string(body); break;
    case BodyMode::decode_signed:
    case BodyMode::decode_unsigned:
    case BodyMode::decode_empty:
      client.signed_chunks = verified.payload_mode == sigv4::PayloadMode::streaming_signed ||
                             verified.payload_mode == sigv4::PayloadMode::streaming_signed_trailer;
      client.trailer = verified.payload_mode == sigv4::PayloadMode::streaming_signed_trailer ||
                       verified.payload_mode == sigv4::PayloadMode::streaming_unsigned_trailer;
      if (client.signed_chunks) client.chain = chain;
      client.decoded_length = plan.decoded_length;
      client.trailer_checksum = plan.trailer_checksum;
      payload = decode_whole(std::move(client), body);
      break;
    case BodyMode::none: break;
  }
  check(refused == !payload.has_value());
  if (refused) return 0;

  check(out.size() == plan.upstream_content_length);
  if (plan.body == BodyMode::decode_signed || plan.body == BodyMode::raw_signed) {
    chunked::Decoder::Options upstream;
    upstream.signed_chunks = true;
    upstream.chain = plan.upstream_chain;
    upstream.decoded_length = plan.decoded_length;
    check(decode_whole(std::move(upstream), out) == payload);
  } else {
    check(out == *payload);
  }
  return 0;
}
