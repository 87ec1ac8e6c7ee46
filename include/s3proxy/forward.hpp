#pragma once
// The upstream request, planned without a socket: which headers go on (and which are
// signed), the target, the payload mode, and the body transform that verifies the
// client's body while it streams and holds back the bytes that would let the upstream
// complete the object until everything verified.
#include "s3proxy/acl_policy.hpp"
#include "s3proxy/checksums.hpp"
#include "s3proxy/chunked.hpp"
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"
#include "s3proxy/post_form.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/s3_request.hpp"
#include "s3proxy/sigv4.hpp"
#include "s3proxy/suspension.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace s3proxy {

// The size of the signed chunks the proxy sends upstream (the AWS SDKs' default).
inline constexpr std::size_t kUpstreamChunkSize = 64 * 1024;
// S3's largest single PUT or part (5 GiB). Every declared length (Content-Length,
// x-amz-decoded-content-length) is bounded by it before anything is derived from it, so
// no computed upstream length can wrap.
inline constexpr std::uint64_t kMaxObjectSize = 5ULL << 30;

enum class BodyMode {
  none,            // no request body
  raw_hashed,      // the client's hex SHA-256 mode: bytes pass unchanged, hash checked before the last piece
  raw_unsigned,    // UNSIGNED-PAYLOAD: bytes pass unchanged
  raw_signed,      // UNSIGNED-PAYLOAD from the client, signed chunks upstream (upstream.payload = "signed-chunks")
  decode_signed,   // aws-chunked from the client, re-signed as STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  decode_unsigned, // aws-chunked from the client, sent as UNSIGNED-PAYLOAD (https upstreams only)
  decode_empty,    // aws-chunked empty object: verified whole first, then a plain empty PUT upstream
  post_form,       // POST Object: the rewritten form head, then the file's data as it comes, its end held back
};

// The x-amz-tagging an upload carries upstream when the proxy adds (or, on a copy, removes)
// its visibility tag: signed, in place of the client's header or presigned parameter.
struct UploadTagging {
  std::string value;               // URL-encoded tag set; empty: no x-amz-tagging header
  bool replace_directive = false;  // CopyObject: x-amz-tagging-directive: REPLACE
};

struct ForwardInput {
  const sigv4::RequestView& request;
  const S3Target& target;
  const sigv4::Verified& verified;
  const AclDecision& acl;
  std::optional<std::uint64_t> content_length;  // the client's framing, as parsed
  bool chunked = false;                         // Transfer-Encoding: chunked from the client
  // Who signs the upstream request; nullopt: it goes without credentials (an OPTIONS, or an
  // anonymous request: see access.hpp), and nothing is signed or chained.
  std::optional<UpstreamIdentity> identity;
  const UpstreamConfig& upstream;
  std::chrono::system_clock::time_point now;
  const UploadTagging* tagging = nullptr;  // null: the client's tagging goes on unchanged
};

struct ForwardPlan {
  Op op = Op::Unknown;
  http::verb method = http::verb::unknown;
  std::string method_string;
  std::string host;    // Host header and connection-pool key
  std::string target;  // canonical path and query as sent upstream
  std::vector<std::pair<std::string, std::string>> headers;  // in send order, Authorization included
  BodyMode body = BodyMode::none;
  bool has_body = false;
  std::uint64_t upstream_content_length = 0;
  std::optional<std::uint64_t> decoded_length;
  std::optional<crypto::ChecksumAlgorithm> trailer_checksum;  // declared by x-amz-trailer, checked by the proxy
  std::optional<chunked::ChainContext> upstream_chain;  // decode_signed: the proxy's own chunk chain
  // upstream.checksums = "strip": the client's header checksums, verified over the decoded
  // body before the upstream can complete it (they are not forwarded), and whether a
  // CompleteMultipartUpload body listing part checksums is refused.
  std::vector<checksums::Declared> header_checksums;
  bool refuse_part_checksums = false;
  // post_form: the form head the upstream gets before the client's remaining body, and the
  // form's boundary, whose delimiter ends the file.
  std::string body_prefix;
  std::string form_boundary;
  bool upstream_reusable = false;                       // set by the relay once the exchange completed cleanly

  std::string serialize_head(bool expect_continue) const;
};

Result<ForwardPlan> plan_forward(const ForwardInput& in);

// POST Object (browser-form upload): the form's head was read and verified by the caller
// (post_form, post_policy); the client's body after that head is the file's data and the end
// of the form, passed on unchanged.
struct PostForwardInput {
  const sigv4::RequestView& request;
  const S3Target& target;
  std::string boundary;
  std::string rewritten_head;           // post::serialize_form_head of the rewritten fields
  std::uint64_t client_content_length;  // the client's whole body
  std::uint64_t client_head_length;     // the part of it the rewritten head replaces
  const UpstreamConfig& upstream;
};
// The upstream Content-Length is the rewritten head plus the rest of the client's body,
// computed with checked arithmetic; RGW refuses Transfer-Encoding: chunked on POST (411),
// so a body without Content-Length is refused the same way.
Result<ForwardPlan> plan_post_forward(const PostForwardInput& in);

// ACL parameters in a query string (presigners hoist x-amz-acl and x-amz-grant-* there, and
// S3 applies them): decoded, names lower-case, for the ACL decision.
std::vector<std::pair<std::string, std::string>> acl_query_parameters(std::string_view raw_query);

// The ACL decision over everything S3 would apply: the headers and the ACL query parameters.
AclDecision decide_acl(AclMode mode, AclRequests acl_requests, const S3Target& target, std::string_view method,
                       std::span<const sigv4::Header> headers, std::string_view raw_query);

// --- The visibility tag on uploads (modes strip and tag) ------------------------------------

// What the ACL an upload carries (x-amz-acl or grant headers) makes of the object: nullopt
// when it carries none or one S3 would refuse.
std::optional<bool> upload_acl_is_public(const AclDecision& acl);
// The client's x-amz-tagging: its header, else a presigned URL's x-amz-tagging parameter.
std::optional<std::string> client_tagging(std::span<const sigv4::Header> headers, std::string_view raw_query);
// True for a CopyObject whose x-amz-tagging-directive is REPLACE (the default is COPY).
bool replaces_tags(std::span<const sigv4::Header> headers);

// PutObject, CreateMultipartUpload and a CopyObject that replaces its tags, with a non-public
// ACL: the client's tags plus the visibility tag. nullopt when nothing changes.
Result<std::optional<UploadTagging>> upload_tagging(const AclConfig& acl_config, const S3Target& target,
                                                    const AclDecision& acl, std::span<const sigv4::Header> headers,
                                                    std::string_view raw_query);
// A CopyObject that copies its source's tags (directive COPY): those tags with the visibility
// tag set (non-public ACL) or removed (public ACL); nullopt when they already say so.
Result<std::optional<UploadTagging>> copy_tagging(const suspension::TagSet& source_tags,
                                                  const suspension::VisibilityTag& tag, bool make_private);

// x-amz-copy-source: "[/]bucket/key[?versionId=ID]", the key URL-encoded.
struct CopySource {
  std::string bucket, key, version_id;
};
std::optional<CopySource> parse_copy_source(std::string_view value);

// A query parameter's decoded value (nullopt when absent or badly encoded).
std::optional<std::string> query_parameter(std::string_view raw_query, std::string_view name);

// Operations whose body is object data: for these Expect: 100-continue goes end to end, so
// the upstream can refuse before the client sends the body. Other bodies are small XML
// documents, and some servers never answer 100 for them (RGW on POST ?delete).
bool carries_object_data(Op op);

// Hop-by-hop fields (RFC 9110 §7.6.1) and those named in Connection are not forwarded.
bool is_hop_by_hop(std::string_view lower_name);
void strip_hop_by_hop(http::fields& fields);

class BodyTransform {
 public:
  BodyTransform(const ForwardPlan& plan, const sigv4::Verified& verified);

  // Feeds the next piece of the client's body (HTTP framing removed); `last` when the
  // client's framing says the body ended. Returns the refusal when the body is bad, and an
  // InternalError when the output would not add up to exactly the upstream Content-Length
  // the plan declared: bytes beyond it would be parsed upstream as another request, so the
  // caller must then abort the upstream connection.
  std::optional<Failure> consume(std::string_view data, bool last);
  // What may be sent upstream now; valid until clear_output() or the next consume(), which
  // starts afresh.
  const std::vector<asio::const_buffer>& take_output() const { return out_; }
  void clear_output();
  [[nodiscard]] std::uint64_t decoded_bytes() const { return decoded_; }
  [[nodiscard]] std::uint64_t upstream_bytes() const { return upstream_bytes_; }

 private:
  std::optional<Failure> consume_raw(std::string_view data, bool last);
  std::optional<Failure> consume_chunked(std::string_view data, bool last);
  std::optional<Failure> consume_resigned(std::string_view data, bool last);
  std::optional<Failure> consume_form(std::string_view data, bool last);
  // Feeds decoded body bytes to the checksum checks of strip mode; at the end of the body
  // (`last`) verifies the header checksums.
  std::optional<Failure> check_checksums(std::string_view decoded, bool last);
  void stage(std::string_view payload);
  void emit_staged();

  BodyMode mode_;
  std::string expected_hash_;
  crypto::Sha256 hash_;
  std::optional<chunked::Decoder> decoder_;
  std::optional<chunked::SignedChunkEncoder> encoder_;
  std::optional<checksums::Verifier> checksums_;
  std::optional<checksums::PartChecksumScanner> part_scan_;
  std::optional<post::FileStream> form_;
  std::string prefix_;  // post_form: the rewritten form head, sent before the client's remaining body
  bool prefix_sent_ = false;
  std::string staged_;                // decoded payload held back (at most one upstream chunk)
  // The SHA-256 of staged_ when it holds exactly one client chunk whose signature verified:
  // that hash signs the upstream chunk too, so each byte is hashed once.
  std::optional<crypto::Digest> staged_sha256_;
  std::vector<std::string> emitted_;  // chunk headers, chunk data and line ends ready to send
  std::string spare_;                 // a sent chunk's data buffer, staged into again
  std::vector<asio::const_buffer> out_;
  std::uint64_t decoded_ = 0;
  std::uint64_t upstream_limit_ = 0;  // the upstream Content-Length the plan declared
  std::uint64_t upstream_bytes_ = 0;  // released for sending so far
};

}  // namespace s3proxy
