#pragma once
// The SigV4 POST policy of a browser-based upload (AWS "Authenticating Requests in
// Browser-Based Uploads Using POST (AWS Signature Version 4)"): the client's policy verified
// with the client's key, then rewritten for the upstream — the credential and date replaced,
// in strip mode the ACL fields and their conditions removed — and signed with the upstream's
// identity. The upstream enforces every condition it receives; the proxy itself checks the
// conditions on the fields it removes or replaces, since the upstream never sees those.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "s3proxy/acl_types.hpp"
#include "s3proxy/post_form.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/secret.hpp"
#include "s3proxy/sigv4.hpp"

namespace s3proxy::post {

// A decoded policy: its expiration as written and its conditions, names lower-cased.
struct Policy {
  std::string expiration;
  std::chrono::system_clock::time_point expires;
  boost::json::array conditions;
};

// base64 -> JSON object with "expiration" (ISO 8601 UTC, with or without fractional
// seconds) and "conditions" (an array). InvalidPolicyDocument otherwise.
Result<Policy> decode_policy(std::string_view base64_policy);
std::optional<std::chrono::system_clock::time_point> parse_expiration(std::string_view iso8601);

// How one condition treats one field: eq / starts-with on "$name", or the object form
// {"name": "value"}. nullopt when the condition is about another field (or of another kind).
struct FieldCondition {
  std::string name;  // lower-case, without '$'
  bool starts_with = false;
  std::string value;
};
std::vector<FieldCondition> field_conditions(const boost::json::value& condition);

// The form fields the proxy consumes and writes anew.
inline constexpr std::string_view kPolicyField = "policy";
inline constexpr std::string_view kSignatureField = "x-amz-signature";
inline constexpr std::string_view kCredentialField = "x-amz-credential";
inline constexpr std::string_view kDateField = "x-amz-date";
inline constexpr std::string_view kAlgorithmField = "x-amz-algorithm";
inline constexpr std::string_view kSecurityTokenField = "x-amz-security-token";
// The form's name for the canned ACL; the audit line calls it by its header name.
inline constexpr std::string_view kAclField = "acl";
bool is_acl_field(std::string_view lower_name);  // "acl" or "x-amz-grant-*"

struct Verified {
  std::string access_key_id;
  Policy policy;
  std::string key;  // the object key, ${filename} replaced by the file's name
  // ACL fields found (header names: "x-amz-acl", "x-amz-grant-read"...), values as sent.
  std::vector<std::pair<std::string, std::string>> acl;
};

// The object key: the "key" field with every ${filename} replaced by the file part's filename.
// InvalidArgument when there is no key, when it uses ${filename} and the file has no name, or
// when the name brings ${filename} back (the upstream would replace it once more);
// KeyTooLongError over kMaxKeyBytes.
Result<std::string> object_key(const FormHead& form);

// Verifies the client's policy signature (HMAC with the signing key of the credential's
// scope over the base64 policy exactly as sent) and expiration, and works out the key.
// The S3 errors as S3 answers them: AccessDenied without a policy ("anonymous" uploads are
// not forwarded) or once expired ("Invalid according to Policy: Policy expired."),
// InvalidAccessKeyId, SignatureDoesNotMatch, InvalidPolicyDocument, InvalidArgument for a
// missing key or a malformed credential, InvalidRequest for Signature Version 2 forms.
Result<Verified> verify(const FormHead& form, const sigv4::KeyLookup& lookup, std::chrono::system_clock::time_point now);

struct UpstreamSigner {
  std::string_view access_key_id;
  const Secret& secret;
  std::string_view region;
  std::chrono::system_clock::time_point now;
};

// The fields the upstream gets, in order (the file part follows them): the client's fields
// less those the proxy consumes, "key" with ${filename} replaced, in strip mode less the ACL
// fields; then the upstream's credential, date, algorithm, policy and signature. The
// conditions on the removed or replaced fields are checked here first, as S3 would check
// them (403 AccessDenied "Invalid according to Policy: ..."), and every removed field must
// have been allowed by a condition, as S3 requires of every field.
Result<std::vector<Field>> rewrite(const FormHead& form, const Verified& verified, AclMode mode,
                                   const UpstreamSigner& signer);

}  // namespace s3proxy::post
