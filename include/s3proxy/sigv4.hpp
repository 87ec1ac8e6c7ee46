#pragma once
// AWS Signature Version 4 for S3: the canonicalisation steps as small pure functions,
// verification of a client's request exactly as received, and signing of the proxy's
// own request to the upstream.
//
// Step names follow the AWS documentation "Signature Calculations for the
// Authorization Header" (Task 1: canonical request, Task 2: string to sign,
// Task 3: signature) and "Authenticating Requests: Using Query Parameters".
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3proxy/crypto.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/secret.hpp"

namespace s3proxy::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kService = "s3";
inline constexpr std::string_view kTerminator = "aws4_request";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

struct Header {
  std::string_view name;   // as received: any case
  std::string_view value;  // as received, untrimmed
};

struct RequestView {
  std::string_view method;
  std::string_view raw_path;   // request-target before '?', exactly as received
  std::string_view raw_query;  // after '?', exactly as received, without the '?'
  std::span<const Header> headers;  // repeats allowed, order kept
};

// First header with this name, compared case-insensitively (lower_name is lower-case).
std::optional<std::string_view> header_value(std::span<const Header> headers, std::string_view lower_name);

// --- Task 1: canonical request ----------------------------------------------------

// CanonicalURI as S3 computes it: each '/'-separated segment decoded then encoded once,
// no dot-segment normalisation, "" -> "/". A path that does not decode is used as is.
std::string canonical_uri(std::string_view raw_path);
// CanonicalQueryString: '&'-separated name[=value] pairs, each decoded and re-encoded,
// sorted by name then value, a bare name gets '=' ("uploads" -> "uploads=").
// drop_signature removes X-Amz-Signature (a presigned URL signs everything else).
std::string canonical_query(std::string_view raw_query, bool drop_signature);
// CanonicalHeaders: "name:value\n" for each signed name, in the given order; repeated
// headers joined with ','; each value trimmed and inner runs of blanks folded to one space.
// A signed name absent from the request contributes "name:\n".
std::string canonical_headers(std::span<const Header> headers, std::span<const std::string> signed_lower_names);
// "a;b;c"
std::string join_signed_headers(std::span<const std::string> signed_lower_names);
std::string canonical_request(std::string_view method, std::string_view canonical_uri,
                              std::string_view canonical_query, std::string_view canonical_headers,
                              std::string_view signed_headers_joined, std::string_view payload_hash);

// --- Task 2: string to sign --------------------------------------------------------

// date/region/service/aws4_request
std::string credential_scope(std::string_view date, std::string_view region, std::string_view service);
// AWS4-HMAC-SHA256\n<amz_date>\n<scope>\nhex(sha256(canonical_request))
std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);

// --- Task 3: signature -------------------------------------------------------------

// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
crypto::Digest signing_key(const Secret& secret, std::string_view date, std::string_view region,
                           std::string_view service);
std::string signature_hex(const crypto::Digest& key, std::string_view string_to_sign);

// --- Dates -------------------------------------------------------------------------

// ISO 8601 basic format in UTC, as X-Amz-Date: 20130524T000000Z
std::string amz_date(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text);

// --- Payload mode ------------------------------------------------------------------

enum class PayloadMode {
  hex_sha256,                  // x-amz-content-sha256 is the body's hash
  unsigned_payload,            // UNSIGNED-PAYLOAD
  streaming_signed,            // aws-chunked with a chunk signature chain
  streaming_signed_trailer,    // ... and a signed trailer
  streaming_unsigned_trailer,  // aws-chunked without chunk signatures, with a trailer
};
// The x-amz-content-sha256 value: 64 hex digits (either case) or one of the markers.
std::optional<PayloadMode> parse_payload_mode(std::string_view x_amz_content_sha256);
bool is_streaming(PayloadMode mode);

// --- Request-level verification ----------------------------------------------------

enum class AuthKind { none, sigv4_header, sigv4_presigned, sigv2_header, sigv2_presigned, other };
// How the request claims to be authenticated (without checking anything).
AuthKind detect_auth(const RequestView& request);

struct Credential {
  std::string access_key_id, date, region, service, terminator;
};

struct AuthParams {
  AuthKind kind = AuthKind::none;
  Credential credential;
  std::vector<std::string> signed_headers;  // lower-case, in the order given
  std::string signature;                    // hex as given by the client
  std::string amz_date;                     // X-Amz-Date header (or the presigned parameter)
  std::optional<std::chrono::seconds> expires;  // presigned X-Amz-Expires
  std::string payload_hash;  // x-amz-content-sha256 value; presigned without it: "UNSIGNED-PAYLOAD"
};

// Extracts and checks the shape of the SigV4 parameters (header or presigned).
// Refuses with the S3 error the client would get from S3 itself.
Result<AuthParams> parse_auth(const RequestView& request);

// The canonical request the client must have signed, rebuilt from the request as
// received and its parsed parameters.
std::string request_canonical_request(const RequestView& request, const AuthParams& params);

using KeyLookup = std::function<const Secret*(std::string_view access_key_id)>;  // nullptr = unknown key

struct Verified {
  AuthParams params;
  PayloadMode payload_mode;
  crypto::Digest signing_key;  // for the aws-chunked signature chain
  std::string scope;           // credential scope, for the chunk chain
};

// S3 refuses header-signed requests whose X-Amz-Date is further than this from its clock.
constexpr std::chrono::minutes kMaxClockSkew{15};
// S3's longest presigned URL lifetime.
constexpr std::chrono::seconds kMaxPresignedExpiry{604800};

// Verifies the client's SigV4 signature on the request exactly as received. The
// client's region is accepted as signed: the proxy serves whatever region the
// application is configured for.
Result<Verified> verify(const RequestView& request, const KeyLookup& lookup, std::chrono::system_clock::time_point now);

// --- Signing for the upstream ------------------------------------------------------

struct SigningInput {
  std::string_view method;
  std::string_view canonical_uri;    // the encoded path the proxy sends
  std::string_view canonical_query;  // already canonical
  // Lower-case name, value: exactly the headers to sign (host, x-amz-date and
  // x-amz-content-sha256 included by the caller). Sorted and merged here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload_hash;
};

struct Signed {
  std::string authorization;  // the Authorization header value
  std::string signature;
  crypto::Digest signing_key;  // for the aws-chunked signature chain
  std::string scope;
};

Signed sign(const SigningInput& input, std::string_view access_key_id, const Secret& secret, std::string_view region,
            std::string_view amz_date);

}  // namespace s3proxy::sigv4
