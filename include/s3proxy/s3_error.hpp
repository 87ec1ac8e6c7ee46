#pragma once
// The S3 errors the proxy answers itself, and parsing of the upstream's XML errors.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace s3proxy {

enum class S3Error {
  AccessDenied,
  AuthorizationHeaderMalformed,
  AuthorizationQueryParametersError,
  BadDigest,
  EntityTooLarge,
  IncompleteBody,
  InternalError,
  InvalidAccessKeyId,
  InvalidArgument,
  InvalidBucketName,
  InvalidDigest,
  IncorrectNumberOfFilesInPostRequest,
  InvalidPolicyDocument,
  InvalidRequest,
  InvalidTag,
  InvalidURI,
  KeyTooLongError,
  MalformedPOSTRequest,
  MaxPostPreDataLengthExceeded,
  MalformedACLError,
  MalformedTrailerError,
  MissingSecurityHeader,
  MethodNotAllowed,
  MissingContentLength,
  NotImplemented,
  RequestHeaderSectionTooLarge,
  RequestTimeTooSkewed,
  RequestTimeout,
  SlowDown,
  SignatureDoesNotMatch,
  UnexpectedContent,
  XAmzContentSHA256Mismatch,
  // The proxy's own codes for upstream trouble (S3 has none for a gateway).
  UpstreamUnreachable,
  UpstreamTimeout,
  UpstreamResponseInvalid,
  PhantomWrite,
};

struct S3ErrorInfo {
  unsigned status;
  std::string_view code;
};
S3ErrorInfo info(S3Error e);

// A refusal on the request path: maps one-to-one to an S3 error response.
struct Failure {
  S3Error error;
  std::string message;  // for the client and the audit line; never holds a secret
};

// The result of a pure step on the request path: a value or the S3 refusal.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Failure failure) : v_(std::move(failure)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Failure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};

// <?xml ...?><Error><Code>..</Code><Message>..</Message><Resource>..</Resource><RequestId>..</RequestId></Error>
std::string error_xml(std::string_view code, std::string_view message, std::string_view resource,
                      std::string_view request_id);

struct ParsedS3Error {
  std::string code;
  std::string message;
};
// Extracts Code and Message from an S3 XML error body (possibly truncated after them).
std::optional<ParsedS3Error> parse_error_xml(std::string_view body);

// An upstream S3 error document rewritten with only the fields a client may see (Code,
// Message, Resource, RequestId, HostId and the plain descriptive ones: BucketName, Key...),
// never the upstream's StringToSign, CanonicalRequest or access key id. nullopt when the
// body is not an <Error> document with a Code.
std::optional<std::string> sanitize_error_xml(std::string_view body);

std::string xml_escape(std::string_view text);
// Decodes the five predefined XML entities; anything else is kept as written.
std::string xml_unescape(std::string_view text);

}  // namespace s3proxy
