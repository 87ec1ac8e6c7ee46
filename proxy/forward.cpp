#include "s3proxy/forward.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace s3proxy {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated tokens of a header value, trimmed and lower-cased.
std::vector<std::string> tokens(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    auto comma = value.find(',');
    auto t = trim(value.substr(0, comma));
    if (!t.empty()) out.push_back(lower(t));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

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

// The query the upstream gets: presigned authentication removed, and in strip mode the ACL
// parameters presigners hoist out of the headers (S3 applies x-amz-* query parameters).
std::string forwarded_query(std::string_view raw_query, bool strip_acl) {
  std::string out;
  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    auto pair = raw_query.substr(0, amp);
    auto name = pair.substr(0, pair.find('='));
    auto decoded = sigv4::uri_decode(name);
    const std::string_view plain = decoded ? std::string_view(*decoded) : name;
    if (!pair.empty() && !is_presign_param(plain) && !(strip_acl && is_acl_header(plain))) {
      if (!out.empty()) out += '&';
      out += pair;
    }
    if (amp == std::string_view::npos) break;
    raw_query.remove_prefix(amp + 1);
  }
  return out;
}

std::string_view verb_string(std::string_view method) { return method; }

}  // namespace

std::vector<std::pair<std::string, std::string>> acl_query_parameters(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    auto pair = raw_query.substr(0, amp);
    auto eq = pair.find('=');
    auto name = sigv4::uri_decode(pair.substr(0, eq));
    if (name && is_acl_header(*name)) {
      auto value = eq == std::string_view::npos ? std::optional<std::string>("") : sigv4::uri_decode(pair.substr(eq + 1));
      out.emplace_back(lower(*name), value.value_or(""));
    }
    if (amp == std::string_view::npos) break;
    raw_query.remove_prefix(amp + 1);
  }
  return out;
}

AclDecision decide_acl(AclMode mode, AclRequests acl_requests, const S3Target& target,
                       std::span<const sigv4::Header> headers, std::string_view raw_query) {
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  pairs.reserve(headers.size());
  for (const auto& h : headers) pairs.emplace_back(h.name, h.value);
  const auto params = acl_query_parameters(raw_query);
  for (const auto& [name, value] : params) pairs.emplace_back(name, value);
  return decide(mode, acl_requests, target, pairs);
}

bool carries_object_data(Op op) {
  return op == Op::PutObject || op == Op::UploadPart || op == Op::PostObject || op == Op::Unknown;
}

bool is_hop_by_hop(std::string_view n) {
  static constexpr std::array kNames = {
      std::string_view("connection"),          std::string_view("keep-alive"),
      std::string_view("proxy-connection"),    std::string_view("proxy-authenticate"),
      std::string_view("proxy-authorization"), std::string_view("te"),
      std::string_view("trailer"),             std::string_view("transfer-encoding"),
      std::string_view("upgrade"),
  };
  return std::find(kNames.begin(), kNames.end(), n) != kNames.end();
}

void strip_hop_by_hop(http::fields& fields) {
  // Transfer-Encoding stays on a response: the serializer frames the relayed body with it.
  std::vector<std::string> named = tokens(fields[http::field::connection]);
  for (const auto& n : named) {
    if (n != "transfer-encoding") fields.erase(n);
  }
  for (auto n : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
                 http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
                 http::field::trailer, http::field::upgrade}) {
    fields.erase(n);
  }
}

Result<ForwardPlan> plan_forward(const ForwardInput& in) {
  ForwardPlan plan;
  plan.op = in.target.op;
  const auto& req = in.request;
  const auto& up = in.upstream;
  plan.method = http::string_to_verb(req.method);
  plan.method_string = std::string(verb_string(req.method));

  // Body mode from the client's payload mode and framing.
  const auto mode = in.verified.payload_mode;
  plan.has_body = in.chunked || in.content_length.value_or(0) > 0;
  std::string payload_hash;
  if (sigv4::is_streaming(mode)) {
    auto dl = sigv4::header_value(req.headers, "x-amz-decoded-content-length");
    std::uint64_t decoded = 0;
    if (!dl) return Failure{S3Error::MissingContentLength, "You must provide the x-amz-decoded-content-length header."};
    auto [p, ec] = std::from_chars(dl->data(), dl->data() + dl->size(), decoded);
    if (ec != std::errc{} || p != dl->data() + dl->size()) {
      return Failure{S3Error::InvalidArgument, "x-amz-decoded-content-length is not a number."};
    }
    if (!plan.has_body) return Failure{S3Error::IncompleteBody, "The aws-chunked body is missing."};
    plan.decoded_length = decoded;
    if (auto trailer = sigv4::header_value(req.headers, "x-amz-trailer")) {
      plan.trailer_checksum = crypto::checksum_from_header(lower(trim(*trailer)));
      if (!plan.trailer_checksum) {
        return Failure{S3Error::InvalidRequest, fmt::format("The trailer {} is not a supported checksum.", *trailer)};
      }
    }
    if (decoded == 0) {
      // An empty object: RGW refuses an empty signed-chunk body, so the upstream gets a plain
      // empty PUT, sent only after the client's framing, signatures and trailer verified.
      plan.body = BodyMode::decode_empty;
      plan.upstream_content_length = 0;
      payload_hash = crypto::sha256_hex("");
    } else if (up.payload == UpstreamPayload::unsigned_payload) {
      plan.body = BodyMode::decode_unsigned;
      plan.upstream_content_length = decoded;
      payload_hash = sigv4::kUnsignedPayload;
    } else {
      plan.body = BodyMode::decode_signed;
      plan.upstream_content_length = chunked::SignedChunkEncoder::encoded_length(decoded, kUpstreamChunkSize);
      payload_hash = sigv4::kStreamingSigned;
    }
  } else {
    if (in.chunked) {
      return Failure{S3Error::MissingContentLength,
                     "You must provide the Content-Length HTTP header (Transfer-Encoding: chunked needs aws-chunked)."};
    }
    plan.upstream_content_length = in.content_length.value_or(0);
    if (mode == sigv4::PayloadMode::hex_sha256) {
      payload_hash = in.verified.params.payload_hash;
      std::transform(payload_hash.begin(), payload_hash.end(), payload_hash.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      plan.body = plan.has_body ? BodyMode::raw_hashed : BodyMode::none;
    } else if (plan.has_body && up.payload == UpstreamPayload::signed_chunks) {
      // The upstream checks every byte even though the client did not sign the body.
      plan.body = BodyMode::raw_signed;
      plan.decoded_length = plan.upstream_content_length;
      plan.upstream_content_length = chunked::SignedChunkEncoder::encoded_length(*plan.decoded_length, kUpstreamChunkSize);
      payload_hash = sigv4::kStreamingSigned;
    } else {
      payload_hash = sigv4::kUnsignedPayload;
      plan.body = plan.has_body ? BodyMode::raw_unsigned : BodyMode::none;
    }
  }

  // Target: the upstream's addressing style, canonical encoding.
  std::string path;
  if (up.addressing == Addressing::virtual_host && !in.target.bucket.empty()) {
    plan.host = fmt::format("{}.{}", in.target.bucket, up.host_header);
    path = in.target.raw_key_path.empty() ? "/" : in.target.raw_key_path;
  } else {
    plan.host = up.host_header;
    path = in.target.bucket.empty() ? "/" : fmt::format("/{}{}", in.target.bucket, in.target.raw_key_path);
  }
  const std::string canonical_path = sigv4::canonical_uri(path);
  const std::string canonical_query = sigv4::canonical_query(forwarded_query(req.raw_query, in.acl.strip_headers), false);
  plan.target = canonical_query.empty() ? canonical_path : fmt::format("{}?{}", canonical_path, canonical_query);

  // Headers: the client's, less hop-by-hop, auth, framing and (in strip mode) ACL headers.
  std::vector<std::string> connection_named;
  for (const auto& h : req.headers) {
    if (lower(h.name) == "connection") {
      auto t = tokens(h.value);
      connection_named.insert(connection_named.end(), t.begin(), t.end());
    }
  }
  const auto& client_signed = in.verified.params.signed_headers;
  std::vector<std::pair<std::string, std::string>> signed_headers;
  std::vector<std::pair<std::string, std::string>> unsigned_headers;
  const bool streaming = sigv4::is_streaming(mode);
  for (const auto& h : req.headers) {
    std::string name = lower(h.name);
    if (is_hop_by_hop(name) || replaced_by_proxy(name)) continue;
    if (std::find(connection_named.begin(), connection_named.end(), name) != connection_named.end()) continue;
    if (in.acl.strip_headers && is_acl_header(name)) continue;
    std::string value(trim(h.value));
    if (streaming && streaming_only(name)) continue;
    if (streaming && name == "content-encoding") {
      std::string rest;
      for (const auto& t : tokens(value)) {
        if (t == "aws-chunked") continue;
        if (!rest.empty()) rest += ',';
        rest += t;
      }
      if (rest.empty()) continue;
      value = rest;
    }
    const bool sign = must_sign(name) ||
                      std::find(client_signed.begin(), client_signed.end(), name) != client_signed.end();
    (sign ? signed_headers : unsigned_headers).emplace_back(std::move(name), std::move(value));
  }

  const std::string amz_date = sigv4::amz_date(in.now);
  signed_headers.emplace_back("host", plan.host);
  signed_headers.emplace_back("x-amz-date", amz_date);
  signed_headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (plan.body == BodyMode::decode_signed || plan.body == BodyMode::raw_signed) {
    signed_headers.emplace_back("x-amz-decoded-content-length", std::to_string(*plan.decoded_length));
    auto ce = std::find_if(signed_headers.begin(), signed_headers.end(),
                           [](const auto& p) { return p.first == "content-encoding"; });
    if (ce == signed_headers.end()) signed_headers.emplace_back("content-encoding", "aws-chunked");
    else ce->second = "aws-chunked," + ce->second;
  }
  // Repeated names are joined into one field so the canonical form is unambiguous.
  std::stable_sort(signed_headers.begin(), signed_headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, std::string>> merged;
  for (auto& h : signed_headers) {
    if (!merged.empty() && merged.back().first == h.first) merged.back().second += "," + h.second;
    else merged.push_back(std::move(h));
  }

  sigv4::SigningInput si{plan.method_string, canonical_path, canonical_query, merged, payload_hash};
  auto signed_result = sigv4::sign(si, in.identity.access_key_id, in.identity.secret_access_key, up.region, amz_date);
  if (plan.body == BodyMode::decode_signed || plan.body == BodyMode::raw_signed) {
    plan.upstream_chain =
        chunked::ChainContext{signed_result.signing_key, amz_date, signed_result.scope, signed_result.signature};
  }

  plan.headers = std::move(merged);
  plan.headers.emplace_back("authorization", std::move(signed_result.authorization));
  for (auto& h : unsigned_headers) plan.headers.push_back(std::move(h));
  const bool needs_length = plan.has_body || plan.method == http::verb::put || plan.method == http::verb::post;
  if (needs_length) plan.headers.emplace_back("content-length", std::to_string(plan.upstream_content_length));
  return plan;
}

std::string ForwardPlan::serialize_head(bool expect_continue) const {
  std::string out;
  out.reserve(1024);
  fmt::format_to(std::back_inserter(out), "{} {} HTTP/1.1\r\n", method_string, target);
  for (const auto& [name, value] : headers) fmt::format_to(std::back_inserter(out), "{}: {}\r\n", name, value);
  if (expect_continue) out += "expect: 100-continue\r\n";
  out += "\r\n";
  return out;
}

BodyTransform::BodyTransform(const ForwardPlan& plan, const sigv4::Verified& verified) : mode_(plan.body) {
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
}

void BodyTransform::clear_output() {
  out_.clear();
  emitted_.clear();
}

std::optional<Failure> BodyTransform::consume(std::string_view data, bool last) {
  clear_output();  // the previous call's output has been sent
  std::optional<Failure> failure;
  switch (mode_) {
    case BodyMode::raw_hashed:
    case BodyMode::raw_unsigned: failure = consume_raw(data, last); break;
    case BodyMode::raw_signed: failure = consume_resigned(data, last); break;
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
  if (!data.empty()) out_.push_back(asio::buffer(data.data(), data.size()));
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_chunked(std::string_view data, bool last) {
  auto& dec = *decoder_;
  while (!data.empty()) {
    auto r = dec.parse(data);
    if (r.status == chunked::Status::error) return dec.failure();
    stage(r.payload);
    data.remove_prefix(r.consumed);
    if (r.consumed == 0 && r.payload.empty()) break;
  }
  if (!last) return std::nullopt;
  if (dec.status() != chunked::Status::done && dec.finish() != chunked::Status::done) {
    return dec.failure().value_or(Failure{S3Error::IncompleteBody, "The aws-chunked body ended early."});
  }
  decoded_ = dec.decoded_bytes();
  // Everything verified: release the held-back tail and let the upstream complete.
  emit_staged();
  if (encoder_) emitted_.push_back(encoder_->final_chunk());
  return std::nullopt;
}

std::optional<Failure> BodyTransform::consume_resigned(std::string_view data, bool last) {
  stage(data);
  if (last) {
    emit_staged();
    emitted_.push_back(encoder_->final_chunk());
  }
  return std::nullopt;
}

void BodyTransform::stage(std::string_view payload) {
  while (!payload.empty()) {
    if (staged_.size() == kUpstreamChunkSize) emit_staged();  // only once more payload exists
    const auto n = std::min(payload.size(), kUpstreamChunkSize - staged_.size());
    staged_.append(payload.data(), n);
    payload.remove_prefix(n);
    if (!decoder_) decoded_ += n;
  }
  if (decoder_) decoded_ = decoder_->decoded_bytes();
}

void BodyTransform::emit_staged() {
  if (staged_.empty()) return;
  if (encoder_) {
    std::string framed = encoder_->chunk_header(staged_);
    framed.reserve(framed.size() + staged_.size() + 2);
    framed += staged_;
    framed += "\r\n";
    emitted_.push_back(std::move(framed));
  } else {
    emitted_.push_back(staged_);
  }
  staged_.clear();
}

}  // namespace s3proxy
