#pragma once
// The HTTP/1.1 framing of a client's request head, checked before anything else looks at
// it: what decides where this request ends and the next begins must be unambiguous, or a
// second request could hide inside the first's body (RFC 9112 §6.3, §11.2).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "s3proxy/s3_error.hpp"
#include "s3proxy/sigv4.hpp"

namespace s3proxy {

// S3 clients send about 10-20 fields; 100 is far beyond any of them, and bounds the work
// (and the per-request header vector) a hostile client can cause within the byte limit.
inline constexpr std::size_t kMaxHeaderFields = 100;
// aws-chunked framing on top of a 5 GiB payload: a signed chunk line costs ~90 bytes, and S3
// requires chunks of 8 KiB or more, so ~63 MiB at most; 128 MiB leaves room for trailers.
inline constexpr std::uint64_t kMaxFramingOverhead = 128ULL << 20;

struct RequestHead {
  std::string_view method;  // as received
  std::string_view target;  // request-target as received
  std::span<const sigv4::Header> headers;
};

// Refuses, with the S3 error the client gets (the connection is then closed):
//  - a method S3 does not use (405 MethodNotAllowed; GET HEAD PUT POST DELETE OPTIONS pass),
//  - a request-target that is not origin-form ("http://h/x", "*", "h:443"),
//  - more than kMaxHeaderFields fields (400 RequestHeaderSectionTooLarge),
//  - Host missing or repeated (RFC 9112 §3.2),
//  - Content-Length repeated, or beside Transfer-Encoding,
//  - x-amz-content-sha256 repeated (the payload mode must be one for verification, the
//    size limit below and the body's framing),
//  - Transfer-Encoding whose last coding is not "chunked", or that names chunked twice
//    (RFC 9112 §6.1: the body length cannot be known),
//  - a Content-Length larger than any S3 request body can be (400 EntityTooLarge): 5 GiB,
//    plus kMaxFramingOverhead for an aws-chunked (STREAMING-*) payload,
//  - a header name holding '_': CGI-style servers (Ceph RGW's frontends, Apache's CGI) read
//    it as '-', so "x_amz_acl" would reach the upstream as an x-amz-acl that was neither
//    signed by the client nor stripped by the proxy. Past "x-amz-meta-" an underscore is
//    allowed: read as '-' the name is still user metadata, it is signed like every x-amz-*
//    field, and SDK users name metadata keys with underscores (boto3: "my_key"),
//  - a Connection header naming a field the request depends on end to end (an x-amz-*
//    field, Authorization, Host, Content-*): dropping it as hop-by-hop would forward a
//    different request from the one verified.
std::optional<Failure> check_request_head(const RequestHead& head);

// True when the header section received so far (raw bytes from the request line on,
// possibly followed by body bytes) holds a line folded onto the previous one: CRLF then
// a space or tab (obs-fold, RFC 9112 §5.2). The parser would join such lines silently; the
// proxy refuses them, so a client cannot hide one header inside another.
bool has_obs_fold(std::string_view raw);

// The method token at the start of a request the parser refused, for the audit line of
// that refusal ("" when the bytes do not start with an upper-case token and a space).
std::string_view leading_method(std::string_view raw);

}  // namespace s3proxy
