#include "s3proxy/forward.hpp"

#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace s3proxy {

namespace {

// Set by the proxy itself on the upstream request, or meaningless there.
bool replaced_by_proxy(std::string_view n) {
  static constexpr std::array kNames = {
      std::string_view("host"),           std::string_view("authorization"), std::string_view("content-length"),
      std::string_view("expect"),         std::string_view("x-amz-date"),    std::string_view("x-amz-content-sha256"),
      std::string_view("x-amz-security-token"),
  };
  return std::find(kNames.begin(), kNames.end(), n) != kNames.end();
}

// Describe the client's aws-chunked framing; the upstream gets its own (or none).
bool streaming_only(std::string_view n) {
  return n == "x-amz-decoded-content-length" || n == "x-amz-trailer" || n == "x-amz-sdk-checksum-algorithm";
}

// S3 requires these signed when present (and the proxy signs every x-amz-* it forwards).
bool must_sign(std::string_view n) {
  return n.starts_with("x-amz-") || n == "content-md5" || n == "content-type" || n == "content-encoding";
}

// Presigned-URL authentication parameters: replaced by header authentication upstream.
bool is_presign_param(std::string_view decoded_name) {
  static constexpr std::array kNames = {
      std::string_view("X-Amz-Algorithm"),     std::string_view("X-Amz-Credential"),
      std::string_view("X-Amz-Date"),          std::string_view("X-Amz-Expires"),
      std::string_view("X-Amz-SignedHeaders"), std::string_view("X-Amz-Signature"),
      std::string_view("X-Amz-Security-Token"),
  };
  return std::find(kNames.begin(), kNames.end(), decoded_name) != kNames.end();
}

// The tagging parameter a presigner hoists out of the x-amz-tagging header. Compared without
// regard to case, like the header it stands for: what is read as the client's tags and what
// is taken out of the forwarded query are the same parameters.
bool is_tagging_param(std::string_view decoded_name) { return text::iequals(decoded_name, "x-amz-tagging"); }

// The decoded value of the first query parameter whose decoded name `matches`; nullopt when
// there is none or its value does not decode.
template <class Matches>
std::optional<std::string> first_parameter(std::string_view raw_query, const Matches& matches) {
  std::string scratch;
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);)
    if (auto name = uri::decode(c.raw_name, scratch); name && matches(*name)) return uri::decode(c.raw_value);
  return std::nullopt;
}

// The query the upstream gets: presigned authentication removed, and in strip mode the ACL
// parameters presigners hoist out of the headers (S3 applies x-amz-* query parameters).
std::string forwarded_query(std::string_view raw_query, bool strip_acl, bool strip_checksums, bool strip_tagging) {
  std::string out;
  std::string scratch;
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);) {
    const std::string_view plain = uri::decode(c.raw_name, scratch).value_or(c.raw_name);
    const bool checksum = strip_checksums && checksums::is_checksum_header(text::lower(plain));
    const bool tagging = strip_tagging && is_tagging_param(plain);
    if (!c.raw.empty() && !is_presign_param(plain) && !(strip_acl && is_acl_header(plain)) && !checksum && !tagging) {
      if (!out.empty()) out += '&';
      out += c.raw;
    }
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> acl_query_parameters(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string scratch;
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);) {
    auto name = uri::decode(c.raw_name, scratch);
    if (name && is_acl_header(*name)) out.emplace_back(text::lower(*name), uri::decode(c.raw_value).value_or(""));
  }
  return out;
}

AclDecision decide_acl(AclMode mode, AclRequests acl_requests, const S3Target& target, std::string_view method,
                       std::span<const sigv4::Header> headers, std::string_view raw_query) {
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  pairs.reserve(headers.size());
  for (const auto& h : headers) pairs.emplace_back(h.name, h.value);
  const auto params = acl_query_parameters(raw_query);
  for (const auto& [name, value] : params) pairs.emplace_back(name, value);
  return decide(mode, acl_requests, target, method, pairs);
}

std::optional<bool> upload_acl_is_public(const AclDecision& acl) {
  if (acl.headers.empty()) return std::nullopt;
  auto requested = suspension::requested_acl(acl.headers, {});
  if (!requested) return std::nullopt;
  return requested->is_public;
}

std::optional<std::string> query_parameter(std::string_view raw_query, std::string_view name) {
  return first_parameter(raw_query, [name](std::string_view decoded) { return decoded == name; });
}

std::optional<std::string> client_tagging(std::span<const sigv4::Header> headers, std::string_view raw_query) {
  if (auto h = sigv4::header_value(headers, "x-amz-tagging")) return std::string(text::trim(*h));
  return first_parameter(raw_query, is_tagging_param);
}

bool replaces_tags(std::span<const sigv4::Header> headers) {
  const auto d = sigv4::header_value(headers, "x-amz-tagging-directive");
  return d && text::iequals(text::trim(*d), "REPLACE");
}

Result<std::optional<UploadTagging>> upload_tagging(const AclConfig& acl_config, const S3Target& target,
                                                    const AclDecision& acl, std::span<const sigv4::Header> headers,
                                                    std::string_view raw_query) {
  const bool upload = target.op == Op::PutObject || target.op == Op::CreateMultipartUpload ||
                      (target.op == Op::CopyObject && replaces_tags(headers));
  if (!upload || !tags_private_uploads(acl_config)) return std::optional<UploadTagging>();
  if (upload_acl_is_public(acl) != false) return std::optional<UploadTagging>();
  auto merged = suspension::merge_tagging_header(client_tagging(headers, raw_query), acl_config.private_tag);
  if (!merged) return merged.failure();
  return std::optional<UploadTagging>(UploadTagging{std::move(merged.value()), false});
}

Result<std::optional<UploadTagging>> copy_tagging(const suspension::TagSet& source_tags,
                                                  const suspension::VisibilityTag& tag, bool make_private) {
  auto change = suspension::apply_visibility(source_tags, tag, make_private);
  if (!change) return change.failure();
  if (!change->changed) return std::optional<UploadTagging>();
  return std::optional<UploadTagging>(UploadTagging{suspension::encode_tagging_header(change->tags), true});
}

std::optional<CopySource> parse_copy_source(std::string_view value) {
  value = text::trim(value);
  const auto q = value.find('?');
  auto path = uri::decode(value.substr(0, q));
  if (!path) return std::nullopt;
  std::string_view p = *path;
  if (p.starts_with('/')) p.remove_prefix(1);
  const auto slash = p.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == p.size()) return std::nullopt;
  CopySource out{std::string(p.substr(0, slash)), std::string(p.substr(slash + 1)), {}};
  if (q != std::string_view::npos) {
    auto version = query_parameter(value.substr(q + 1), "versionId");
    if (version) out.version_id = std::move(*version);
  }
  return out;
}

bool carries_object_data(Op op) {
  return op == Op::PutObject || op == Op::UploadPart || op == Op::PostObject || op == Op::Unknown;
}

namespace {

// Hop-by-hop fields (RFC 9110 §7.6.1): the one list both directions go by.
constexpr std::array kHopByHopFields = {
    http::field::connection,          http::field::keep_alive, http::field::proxy_connection,
    http::field::proxy_authenticate,  http::field::proxy_authorization,
    http::field::te,                  http::field::trailer,    http::field::transfer_encoding,
    http::field::upgrade,
};

bool is_hop_by_hop_field(http::field f) {
  return f != http::field::unknown && std::find(kHopByHopFields.begin(), kHopByHopFields.end(), f) != kHopByHopFields.end();
}

}  // namespace

bool is_hop_by_hop(std::string_view n) { return is_hop_by_hop_field(http::string_to_field(n)); }

void strip_hop_by_hop(http::fields& fields) {
  // One pass over the fields, not a lookup per hop-by-hop name: a response rarely has any.
  // Transfer-Encoding stays on a response: the serializer frames the relayed body with it.
  std::vector<std::string> named;
  if (const auto c = fields.find(http::field::connection); c != fields.end()) named = text::list_tokens(c->value());
  const auto is_named = [&](std::string_view name) {
    return std::any_of(named.begin(), named.end(), [&](const std::string& n) {
      return n != "transfer-encoding" && text::iequals(name, n);
    });
  };
  for (auto it = fields.begin(); it != fields.end();) {
    const http::field f = it->name();
    if ((f != http::field::transfer_encoding && is_hop_by_hop_field(f)) ||
        (!named.empty() && is_named(it->name_string()))) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
}

namespace {

// The body half of the plan: how the client's body becomes the upstream's, and the upstream
// Content-Length, every length derived with checked arithmetic from values that were first
// bounded by S3's own limits.
struct BodyPlan {
  BodyMode mode = BodyMode::none;
  bool has_body = false;
  std::uint64_t upstream_content_length = 0;
  std::optional<std::uint64_t> decoded_length;
  std::optional<crypto::ChecksumAlgorithm> trailer_checksum;
  std::string payload_hash;  // x-amz-content-sha256 towards the upstream
};

Failure too_large(std::uint64_t declared) {
  return Failure{S3Error::EntityTooLarge,
                 fmt::format("Your proposed upload of {} bytes exceeds the maximum allowed object size of {} bytes.",
                             declared, kMaxObjectSize)};
}

Result<std::uint64_t> parse_decoded_length(const sigv4::RequestView& req) {
  const auto dl = sigv4::header_value(req.headers, "x-amz-decoded-content-length");
  if (!dl) return Failure{S3Error::MissingContentLength, "You must provide the x-amz-decoded-content-length header."};
  const auto digits = text::trim(*dl);
  std::uint64_t decoded = 0;
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), decoded);
  if (ec == std::errc::result_out_of_range && text::is_digits(digits)) {
    return Failure{S3Error::EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size."};
  }
  if (ec != std::errc{} || p != digits.data() + digits.size() || !text::is_digits(digits)) {
    return Failure{S3Error::InvalidArgument, "x-amz-decoded-content-length is not a number."};
  }
  if (decoded > kMaxObjectSize) return too_large(decoded);
  return decoded;
}

// The upstream Content-Length of the proxy's own signed chunks over `decoded` bytes.
Result<std::uint64_t> signed_chunks_length(std::uint64_t decoded) {
  const auto n = chunked::SignedChunkEncoder::encoded_length(decoded, kUpstreamChunkSize);
  if (!n) return too_large(decoded);  // unreachable below kMaxObjectSize, kept for construction's sake
  return *n;
}

Result<BodyPlan> plan_streaming_body(const ForwardInput& in, bool has_body) {
  BodyPlan b;
  b.has_body = has_body;
  auto decoded = parse_decoded_length(in.request);
  if (!decoded) return decoded.failure();
  if (!has_body) return Failure{S3Error::IncompleteBody, "The aws-chunked body is missing."};
  b.decoded_length = decoded.value();
  if (auto trailer = sigv4::header_value(in.request.headers, "x-amz-trailer")) {
    b.trailer_checksum = crypto::checksum_from_header(text::lower(text::trim(*trailer)));
    if (!b.trailer_checksum) {
      return Failure{S3Error::InvalidRequest,
                     fmt::format("The trailer {} is not a supported checksum.", text::bounded(*trailer))};
    }
  }
  if (decoded.value() == 0) {
    // An empty object: RGW refuses an empty signed-chunk body, so the upstream gets a plain
    // empty PUT, sent only after the client's framing, signatures and trailer verified.
    b.mode = BodyMode::decode_empty;
    b.upstream_content_length = 0;
    b.payload_hash = crypto::sha256_hex("");
  } else if (in.upstream.payload == UpstreamPayload::unsigned_payload || !in.identity) {
    // Unsigned upstream: the decoded bytes under their own Content-Length.
    b.mode = BodyMode::decode_unsigned;
    b.upstream_content_length = decoded.value();
    b.payload_hash = sigv4::kUnsignedPayload;
  } else {
    b.mode = BodyMode::decode_signed;
    auto length = signed_chunks_length(decoded.value());
    if (!length) return length.failure();
    b.upstream_content_length = length.value();
    b.payload_hash = sigv4::kStreamingSigned;
  }
  return b;
}

Result<BodyPlan> plan_plain_body(const ForwardInput& in, bool has_body) {
  BodyPlan b;
  b.has_body = has_body;
  if (in.chunked) {
    return Failure{S3Error::MissingContentLength,
                   "You must provide the Content-Length HTTP header (Transfer-Encoding: chunked needs aws-chunked)."};
  }
  const std::uint64_t length = in.content_length.value_or(0);
  if (length > kMaxObjectSize) return too_large(length);
  b.upstream_content_length = length;
  if (in.verified.payload_mode == sigv4::PayloadMode::hex_sha256) {
    b.payload_hash = text::lower(in.verified.params.payload_hash);
    b.mode = has_body ? BodyMode::raw_hashed : BodyMode::none;
  } else if (has_body && in.upstream.payload == UpstreamPayload::signed_chunks && in.identity) {
    // The upstream checks every byte even though the client did not sign the body.
    b.mode = BodyMode::raw_signed;
    b.decoded_length = length;
    auto encoded = signed_chunks_length(length);
    if (!encoded) return encoded.failure();
    b.upstream_content_length = encoded.value();
    b.payload_hash = sigv4::kStreamingSigned;
  } else {
    b.payload_hash = sigv4::kUnsignedPayload;
    b.mode = has_body ? BodyMode::raw_unsigned : BodyMode::none;
  }
  return b;
}

Result<BodyPlan> plan_body(const ForwardInput& in) {
  const bool has_body = in.chunked || in.content_length.value_or(0) > 0;
  if (sigv4::is_streaming(in.verified.payload_mode)) return plan_streaming_body(in, has_body);
  return plan_plain_body(in, has_body);
}

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The client's headers that go on: less hop-by-hop, authentication, framing, the client's
// aws-chunked description and (in strip mode) ACL headers; split into those the proxy signs
// and those it passes unsigned.
struct ForwardedHeaders {
  HeaderList signed_headers;
  HeaderList unsigned_headers;
};

ForwardedHeaders forwarded_headers(const ForwardInput& in) {
  const auto& req = in.request;
  std::vector<std::string> connection_named;
  for (const auto& h : req.headers) {
    if (text::iequals(h.name, "connection")) {
      auto t = text::list_tokens(h.value);
      connection_named.insert(connection_named.end(), t.begin(), t.end());
    }
  }
  const auto& client_signed = in.verified.params.signed_headers;
  const bool streaming = sigv4::is_streaming(in.verified.payload_mode);
  ForwardedHeaders out;
  for (const auto& h : req.headers) {
    std::string name = text::lower(h.name);
    if (is_hop_by_hop(name) || replaced_by_proxy(name)) continue;
    if (std::find(connection_named.begin(), connection_named.end(), name) != connection_named.end()) continue;
    if (in.acl.strip_headers && is_acl_header(name)) continue;
    if (in.upstream.checksums == UpstreamChecksums::strip && checksums::is_checksum_header(name)) continue;
    if (in.tagging && (name == "x-amz-tagging" || (in.tagging->replace_directive && name == "x-amz-tagging-directive")))
      continue;
    std::string value(text::trim(h.value));
    if (streaming && streaming_only(name)) continue;
    if (streaming && name == "content-encoding") {
      std::string rest;
      for (const auto& t : text::list_tokens(value)) {
        if (t == "aws-chunked") continue;
        if (!rest.empty()) rest += ',';
        rest += t;
      }
      if (rest.empty()) continue;
      value = rest;
    }
    const bool sign = must_sign(name) ||
                      std::find(client_signed.begin(), client_signed.end(), name) != client_signed.end();
    (sign ? out.signed_headers : out.unsigned_headers).emplace_back(std::move(name), std::move(value));
  }
  if (in.tagging) {
    if (!in.tagging->value.empty()) out.signed_headers.emplace_back("x-amz-tagging", in.tagging->value);
    if (in.tagging->replace_directive) out.signed_headers.emplace_back("x-amz-tagging-directive", "REPLACE");
  }
  return out;
}

// Sorted by name, repeated names joined into one field so the canonical form is unambiguous.
HeaderList sorted_and_merged(HeaderList headers) {
  std::stable_sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto kept = headers.begin();  // one past the last merged field; merged in place
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (kept != headers.begin() && std::prev(kept)->first == it->first) {
      std::prev(kept)->second.append(",").append(it->second);
      continue;
    }
    if (kept != it) *kept = std::move(*it);
    ++kept;
  }
  headers.erase(kept, headers.end());
  return headers;
}

// Strip mode: the checksums the client declared, in headers or (presigned) in the query.
Result<std::vector<checksums::Declared>> declared_checksums(const ForwardInput& in) {
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  for (const auto& h : in.request.headers) fields.emplace_back(h.name, h.value);
  std::vector<std::pair<std::string, std::string>> params;
  std::string scratch;
  uri::QueryComponents components(in.request.raw_query);
  for (uri::QueryComponent c; components.next(c);) {
    const auto name = uri::decode(c.raw_name, scratch);
    if (name && text::istarts_with(*name, "x-amz-checksum-"))
      params.emplace_back(std::string(*name), uri::decode(c.raw_value).value_or(""));
  }
  for (const auto& [n, v] : params) fields.emplace_back(n, v);
  return checksums::declared(fields);
}

// The upstream's framing: a Content-Length for every body, and for every PUT and POST.
void add_content_length(ForwardPlan& plan) {
  const bool needs_length = plan.has_body || plan.method == http::verb::put || plan.method == http::verb::post;
  if (needs_length) plan.headers.emplace_back("content-length", std::to_string(plan.upstream_content_length));
}

}  // namespace

Result<ForwardPlan> plan_forward(const ForwardInput& in) {
  ForwardPlan plan;
  plan.op = in.target.op;
  const auto& req = in.request;
  const auto& up = in.upstream;
  plan.method = http::string_to_verb(req.method);
  plan.method_string = std::string(req.method);

  auto body = plan_body(in);
  if (!body) return body.failure();
  BodyPlan& b = body.value();
  plan.body = b.mode;
  plan.has_body = b.has_body;
  plan.upstream_content_length = b.upstream_content_length;
  plan.decoded_length = b.decoded_length;
  plan.trailer_checksum = b.trailer_checksum;
  if (up.checksums == UpstreamChecksums::strip) {
    auto declared = declared_checksums(in);
    if (!declared) return declared.failure();
    plan.header_checksums = std::move(declared.value());
    plan.refuse_part_checksums = plan.op == Op::CompleteMultipartUpload;
    if (!plan.has_body && !plan.header_checksums.empty()) {
      // No body reaches the transform: the checksums are of the empty body.
      checksums::Verifier empty(plan.header_checksums);
      if (auto f = empty.finish()) return *f;
    }
  }

  // Target: the upstream's addressing style, built from the names that were verified and audited.
  const bool virtual_host = up.addressing == Addressing::virtual_host;
  if (virtual_host && !in.target.bucket.empty() && !dns_compatible_bucket(in.target.bucket)) {
    return Failure{S3Error::InvalidBucketName,
                   fmt::format("The bucket {} cannot be addressed as a host name upstream.", text::bounded(in.target.bucket))};
  }
  auto location = upstream_location(in.target.bucket, in.target.key, in.target.key_part, virtual_host, up.host_header);
  plan.host = std::move(location.host);
  const std::string canonical_query = sigv4::canonical_query(
      forwarded_query(req.raw_query, in.acl.strip_headers, up.checksums == UpstreamChecksums::strip, in.tagging != nullptr),
      false);
  plan.target = canonical_query.empty() ? location.path : fmt::format("{}?{}", location.path, canonical_query);

  auto headers = forwarded_headers(in);
  if (!in.identity) {
    // Nothing is signed: the client's own payload hash, if it gave one, lets the upstream check
    // the body too; no date, no Authorization, no identity of the proxy's.
    headers.signed_headers.emplace_back("host", plan.host);
    if (sigv4::header_value(req.headers, "x-amz-content-sha256")) {
      headers.signed_headers.emplace_back("x-amz-content-sha256", b.payload_hash);
    }
    plan.headers = sorted_and_merged(std::move(headers.signed_headers));
    for (auto& h : headers.unsigned_headers) plan.headers.push_back(std::move(h));
    add_content_length(plan);
    return plan;
  }
  const std::string amz_date = sigv4::amz_date(in.now);
  headers.signed_headers.emplace_back("host", plan.host);
  headers.signed_headers.emplace_back("x-amz-date", amz_date);
  headers.signed_headers.emplace_back("x-amz-content-sha256", b.payload_hash);
  const bool upstream_chunks = plan.body == BodyMode::decode_signed || plan.body == BodyMode::raw_signed;
  if (upstream_chunks) {
    headers.signed_headers.emplace_back("x-amz-decoded-content-length", std::to_string(*plan.decoded_length));
    auto ce = std::find_if(headers.signed_headers.begin(), headers.signed_headers.end(),
                           [](const auto& p) { return p.first == "content-encoding"; });
    if (ce == headers.signed_headers.end()) headers.signed_headers.emplace_back("content-encoding", "aws-chunked");
    else ce->second = "aws-chunked," + ce->second;
  }
  // The signed headers move into the signing input and back out into the plan: not copied.
  sigv4::SigningInput si{plan.method_string, location.path, canonical_query,
                         sorted_and_merged(std::move(headers.signed_headers)), b.payload_hash};
  auto signed_result = sigv4::sign(si, in.identity->access_key_id, in.identity->secret_access_key, up.region, amz_date);
  if (upstream_chunks) {
    plan.upstream_chain =
        chunked::ChainContext{signed_result.signing_key, amz_date, signed_result.scope, signed_result.signature};
  }

  plan.headers = std::move(si.headers);
  plan.headers.reserve(plan.headers.size() + 1 + headers.unsigned_headers.size());
  plan.headers.emplace_back("authorization", std::move(signed_result.authorization));
  for (auto& h : headers.unsigned_headers) plan.headers.push_back(std::move(h));
  add_content_length(plan);
  return plan;
}

Result<ForwardPlan> plan_post_forward(const PostForwardInput& in) {
  ForwardPlan plan;
  plan.op = Op::PostObject;
  plan.method = http::verb::post;
  plan.method_string = "POST";
  plan.body = BodyMode::post_form;
  plan.has_body = true;
  plan.form_boundary = in.boundary;
  // The client's length was bounded by check_request_head; the head it replaces was read from it.
  if (in.client_head_length > in.client_content_length) {
    return Failure{S3Error::IncompleteBody, "The form ends before its file."};
  }
  const std::uint64_t rest = in.client_content_length - in.client_head_length;
  if (in.rewritten_head.size() > std::numeric_limits<std::uint64_t>::max() - rest) {
    return Failure{S3Error::EntityTooLarge, "Your proposed upload exceeds the maximum allowed size."};
  }
  plan.upstream_content_length = rest + in.rewritten_head.size();
  plan.body_prefix = in.rewritten_head;

  const bool virtual_host = in.upstream.addressing == Addressing::virtual_host;
  if (virtual_host && !dns_compatible_bucket(in.target.bucket)) {
    return Failure{S3Error::InvalidBucketName,
                   fmt::format("The bucket {} cannot be addressed as a host name upstream.", text::bounded(in.target.bucket))};
  }
  auto location = upstream_location(in.target.bucket, "", in.target.key_part, virtual_host, in.upstream.host_header);
  plan.host = std::move(location.host);
  plan.target = std::move(location.path);
  // The form carries the authentication; of the client's headers only the form's type (its
  // boundary) and those a browser's CORS exchange needs go on.
  plan.headers.emplace_back("host", plan.host);
  // Quoted: a boundary may hold spaces and other characters a token may not.
  plan.headers.emplace_back("content-type", fmt::format("multipart/form-data; boundary=\"{}\"", in.boundary));
  if (auto origin = sigv4::header_value(in.request.headers, "origin")) {
    plan.headers.emplace_back("origin", std::string(text::trim(*origin)));
  }
  if (auto agent = sigv4::header_value(in.request.headers, "user-agent")) {
    plan.headers.emplace_back("user-agent", std::string(text::trim(*agent)));
  }
  plan.headers.emplace_back("content-length", std::to_string(plan.upstream_content_length));
  return plan;
}

std::string ForwardPlan::serialize_head(bool expect_continue) const {
  constexpr std::string_view kVersion = " HTTP/1.1\r\n", kExpect = "expect: 100-continue\r\n";
  std::size_t size = method_string.size() + 1 + target.size() + kVersion.size() + kExpect.size() + 2;
  for (const auto& [name, value] : headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out.append(method_string).append(" ").append(target).append(kVersion);
  for (const auto& [name, value] : headers) out.append(name).append(": ").append(value).append("\r\n");
  if (expect_continue) out.append(kExpect);
  out.append("\r\n");
  return out;
}

BodyTransform::BodyTransform(const ForwardPlan& plan, const sigv4::Verified& verified)
    : mode_(plan.body), upstream_limit_(plan.upstream_content_length) {
  if (mode_ == BodyMode::raw_hashed) expected_hash_ = verified.params.payload_hash;
  if (mode_ == BodyMode::decode_signed || mode_ == BodyMode::decode_unsigned || mode_ == BodyMode::decode_empty) {
    chunked::Decoder::Options o;
    const auto pm = verified.payload_mode;
    o.signed_chunks = pm == sigv4::PayloadMode::streaming_signed || pm == sigv4::PayloadMode::streaming_signed_trailer;
    o.trailer = pm == sigv4::PayloadMode::streaming_signed_trailer || pm == sigv4::PayloadMode::streaming_unsigned_trailer;
    if (o.signed_chunks) {
      o.chain = chunked::ChainContext{verified.signing_key, verified.params.amz_date, verified.scope,
                                      verified.params.signature};
    }
    o.decoded_length = plan.decoded_length;
    o.trailer_checksum = plan.trailer_checksum;
    decoder_.emplace(std::move(o));
    staged_.reserve(kUpstreamChunkSize);
  }
  if (mode_ == BodyMode::decode_signed || mode_ == BodyMode::raw_signed) encoder_.emplace(*plan.upstream_chain);
  if (mode_ == BodyMode::raw_signed) staged_.reserve(kUpstreamChunkSize);
  if (!plan.header_checksums.empty()) checksums_.emplace(plan.header_checksums);
  if (plan.refuse_part_checksums) part_scan_.emplace();
  if (mode_ == BodyMode::post_form) {
    form_.emplace(plan.form_boundary);
    prefix_ = plan.body_prefix;
  }
}

std::optional<Failure> BodyTransform::check_checksums(std::string_view decoded, bool last) {
  if (part_scan_ && part_scan_->feed(decoded)) return checksums::part_checksums_refused();
  if (!checksums_) return std::nullopt;
  checksums_->update(decoded);
  return last ? checksums_->finish() : std::nullopt;
}

void BodyTransform::clear_output() {
  out_.clear();
  // Chunk data moved out of staged_ has been sent: keep one such buffer to stage into
  // again rather than allocating a new one per chunk.
  for (auto& e : emitted_) {
    if (e.capacity() >= kUpstreamChunkSize && spare_.capacity() < kUpstreamChunkSize) spare_ = std::move(e);
  }
  emitted_.clear();
}

std::optional<Failure> BodyTransform::consume(std::string_view data, bool last) {
  clear_output();  // the previous call's output has been sent
  std::optional<Failure> failure;
  switch (mode_) {
    case BodyMode::raw_hashed:
    case BodyMode::raw_unsigned: failure = consume_raw(data, last); break;
    case BodyMode::raw_signed: failure = consume_resigned(data, last); break;
    case BodyMode::post_form: failure = consume_form(data, last); break;
    case BodyMode::decode_signed:
    case BodyMode::decode_unsigned:
    case BodyMode::decode_empty: failure = consume_chunked(data, last); break;
    case BodyMode::none: break;
  }
  if (failure) {
    clear_output();
    return failure;
  }
  for (const auto& e : emitted_) out_.push_back(asio::buffer(e));
  // The upstream frames the request by the declared Content-Length alone: never release a
  // byte beyond it, and never end short of it.
  const std::uint64_t released = asio::buffer_size(out_);
  if (released > upstream_limit_ - upstream_bytes_ || (last && upstream_bytes_ + released != upstream_limit_)) {
    clear_output();
    return Failure{S3Error::InternalError, "The request body does not add up to the length declared upstream."};
  }
  upstream_bytes_ += released;
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_raw(std::string_view data, bool last) {
  decoded_ += data.size();
  if (mode_ == BodyMode::raw_hashed) {
    hash_.update(data);
    if (last) {
      // Checked before the last piece goes out: with Content-Length framing the upstream
      // cannot complete the object without it.
      const std::string got = crypto::hex(hash_.finish());
      std::string want = expected_hash_;
      std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (!crypto::constant_time_equal(got, want)) {
        return Failure{S3Error::XAmzContentSHA256Mismatch,
                       "The provided 'x-amz-content-sha256' header does not match what was computed."};
      }
    }
  }
  // Like the hash: checked before the last piece goes out.
  if (auto f = check_checksums(data, last)) return f;
  if (!data.empty()) out_.push_back(asio::buffer(data.data(), data.size()));
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_chunked(std::string_view data, bool last) {
  auto& dec = *decoder_;
  while (!data.empty()) {
    auto r = dec.parse(data);
    if (r.status == chunked::Status::error) return dec.failure();
    if (auto f = check_checksums(r.payload, false)) return f;
    stage(r.payload);
    // staged_ ends where this chunk ends; holding as many bytes as the chunk, it is the chunk.
    if (r.chunk_sha256 && staged_.size() == r.chunk_size) staged_sha256_ = r.chunk_sha256;
    data.remove_prefix(r.consumed);
    if (r.consumed == 0 && r.payload.empty()) break;
  }
  if (!last) return std::nullopt;
  if (dec.status() != chunked::Status::done && dec.finish() != chunked::Status::done) {
    return dec.failure().value_or(Failure{S3Error::IncompleteBody, "The aws-chunked body ended early."});
  }
  decoded_ = dec.decoded_bytes();
  if (auto f = check_checksums({}, true)) return f;
  // Everything verified: release the held-back tail and let the upstream complete.
  emit_staged();
  if (encoder_) emitted_.push_back(encoder_->final_chunk());
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_resigned(std::string_view data, bool last) {
  if (auto f = check_checksums(data, last)) return f;
  stage(data);
  if (last) {
    emit_staged();
    emitted_.push_back(encoder_->final_chunk());
  }
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_form(std::string_view data, bool last) {
  if (auto f = form_->feed(data, last)) return f;
  if (!prefix_sent_) {
    out_.push_back(asio::buffer(prefix_));
    prefix_sent_ = true;
  }
  decoded_ = form_->file_bytes();
  for (const auto piece : form_->release()) out_.push_back(asio::buffer(piece.data(), piece.size()));
  return std::nullopt;
}

void BodyTransform::stage(std::string_view payload) {
  while (!payload.empty()) {
    if (staged_.size() == kUpstreamChunkSize) emit_staged();  // only once more payload exists
    const auto n = std::min(payload.size(), kUpstreamChunkSize - staged_.size());
    staged_.append(payload.data(), n);
    staged_sha256_.reset();
    payload.remove_prefix(n);
    if (!decoder_) decoded_ += n;
  }
  if (decoder_) decoded_ = decoder_->decoded_bytes();
}

void BodyTransform::emit_staged() {
  if (staged_.empty()) return;
  if (encoder_) {
    emitted_.push_back(staged_sha256_ ? encoder_->chunk_header(staged_.size(), *staged_sha256_)
                                      : encoder_->chunk_header(staged_));
  }
  // The data goes out as it is; the buffer of an earlier chunk, already sent, takes its place.
  emitted_.push_back(std::exchange(staged_, std::move(spare_)));
  if (encoder_) emitted_.emplace_back("\r\n");
  spare_ = std::string();
  staged_.clear();
  if (staged_.capacity() < kUpstreamChunkSize) staged_.reserve(kUpstreamChunkSize);
  staged_sha256_.reset();
}

}  // namespace s3proxy
