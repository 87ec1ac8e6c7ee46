#include "s3proxy/access.hpp"

#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <algorithm>
#include <array>

namespace s3proxy {

namespace {

// Query parameters of presigned URLs, both signature versions (compared case-insensitively:
// a storage that reads them loosely must not see credentials the proxy took for none).
constexpr std::array kCredentialParams = {
    std::string_view("x-amz-algorithm"),     std::string_view("x-amz-credential"),
    std::string_view("x-amz-signature"),     std::string_view("x-amz-signedheaders"),
    std::string_view("x-amz-security-token"), std::string_view("awsaccesskeyid"),
    std::string_view("signature"),
};

bool is_credential_param(std::string_view raw_name) {
  const auto decoded = uri::decode(raw_name);
  const std::string name = text::lower(decoded ? std::string_view(*decoded) : raw_name);
  return std::find(kCredentialParams.begin(), kCredentialParams.end(), name) != kCredentialParams.end();
}

bool query_carries_credentials(std::string_view raw_query) {
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);)
    if (is_credential_param(c.raw_name)) return true;
  return false;
}

}  // namespace

bool carries_credentials(const sigv4::RequestView& request) {
  if (sigv4::header_value(request.headers, "authorization")) return true;
  if (sigv4::header_value(request.headers, "x-amz-security-token")) return true;
  return query_carries_credentials(request.raw_query);
}

Access classify_access(const sigv4::RequestView& request, AnonymousRequests anonymous) {
  if (carries_credentials(request)) return Access::verify;
  if (request.method == "OPTIONS") return Access::options;
  return anonymous == AnonymousRequests::forward ? Access::anonymous : Access::verify_refusing;
}

bool signs_upstream(Access access, std::string_view method) {
  return access == Access::verify && method != "OPTIONS";
}

Result<sigv4::Verified> unauthenticated(const sigv4::RequestView& request) {
  sigv4::Verified v;
  v.params.kind = sigv4::AuthKind::none;
  const auto given = sigv4::header_value(request.headers, "x-amz-content-sha256");
  v.params.payload_hash = given ? std::string(text::trim(*given)) : std::string(sigv4::kUnsignedPayload);
  const auto mode = sigv4::parse_payload_mode(v.params.payload_hash);
  if (!mode) {
    return Failure{S3Error::InvalidArgument,
                   "x-amz-content-sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD or a STREAMING-* value."};
  }
  if (*mode == sigv4::PayloadMode::streaming_signed || *mode == sigv4::PayloadMode::streaming_signed_trailer) {
    return Failure{S3Error::InvalidRequest,
                   "A body of signed aws-chunked chunks needs a signed request; this one carries no credentials."};
  }
  v.payload_mode = *mode;
  return v;
}

}  // namespace s3proxy
