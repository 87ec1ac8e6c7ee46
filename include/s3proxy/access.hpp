#pragma once
// Which requests reach the upstream without the proxy's signature, decided from the request
// as received, before anything is verified:
//  - OPTIONS (a CORS preflight, or what the storage refuses as not one): browsers never sign
//    a preflight, and S3 answers it from the bucket's CORS configuration alone;
//  - with server.anonymous = "forward", a request that carries no credentials at all, so
//    that the storage's own public-access rules judge it.
// Neither is ever signed with the proxy's identity. A request that carries anything that
// claims an identity -- even an empty or broken Authorization header -- is verified like
// any other and refused when it does not verify: a bad signature is never taken for none.
#include "s3proxy/config.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/sigv4.hpp"

#include <string_view>

namespace s3proxy {

// The access_key_id of the audit line of a request that came without credentials.
inline constexpr std::string_view kAnonymousKeyId = "anonymous";

// True when the request claims an identity: an Authorization header (any value, even empty),
// an x-amz-security-token header, or any query parameter of SigV4 or SigV2 presigned URLs
// (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Security-Token, AWSAccessKeyId,
// Signature, ...), names compared after percent-decoding and without regard to case.
bool carries_credentials(const sigv4::RequestView& request);

enum class Access {
  verify,           // credentials present: verified, then signed anew (OPTIONS: forwarded without)
  options,          // OPTIONS without credentials: forwarded without any
  anonymous,        // no credentials and server.anonymous = "forward": forwarded without any
  verify_refusing,  // no credentials and server.anonymous = "refuse": verification answers 403 AccessDenied
};
Access classify_access(const sigv4::RequestView& request, AnonymousRequests anonymous);

// Whether the upstream request carries the proxy's signature. Never for OPTIONS, whatever
// the client sent: the storage needs none to answer a preflight, and the proxy must not
// lend its identity to a request the browser sends without one.
bool signs_upstream(Access access, std::string_view method);

// What stands in for verification of a request forwarded without credentials: its payload
// mode from x-amz-content-sha256 (absent: UNSIGNED-PAYLOAD). A hex hash is still checked by
// the proxy before the body's last byte goes on, and STREAMING-UNSIGNED-PAYLOAD-TRAILER is
// decoded and its trailer checksum checked; signed aws-chunked (STREAMING-AWS4-HMAC-SHA256-*)
// has no seed signature to chain from and is refused with 400 InvalidRequest, an unknown
// value with 400 InvalidArgument.
Result<sigv4::Verified> unauthenticated(const sigv4::RequestView& request);

}  // namespace s3proxy
