#pragma once
// Bucket-policy lint: finds the statements that make uploads fail with 403 AccessDenied
// although the uploader's own permissions allow them ("an explicit Deny wins").
//
// Only Deny statements can block an upload that is otherwise allowed, so only they are
// analysed. A Deny statement concerns uploads when its action part covers s3:PutObject
// (CreateMultipartUpload, UploadPart, CompleteMultipartUpload and CopyObject are all
// authorised as s3:PutObject), its resource part covers the bucket's objects and its
// principal part covers the upstream identity. Its Condition is then evaluated for the
// requests that reach the storage: one per ACL the application sends (mode audit) and
// one without any ACL header (mode strip). Keys the lint cannot know from the policy
// alone (source IP, VPC, tags...) make the result uncertain: a warning.
//
// Rule ids (PolicyFinding::rule):
//   deny-not-principal       Deny with NotPrincipal: refuses everyone not listed. Blocking
//                            unless the upstream identity is listed; a warning even then,
//                            because AWS also evaluates the account ARN and, for roles,
//                            the assumed-role session ARN, which are easy to leave out.
//   deny-not-action          Deny with NotAction that does not exempt s3:PutObject.
//   deny-put-object          Unconditional Deny whose Action matches s3:PutObject.
//   deny-acl-condition       Deny on s3:PutObject conditioned on s3:x-amz-acl: blocking
//                            when an ACL the application sends (or no ACL) satisfies it.
//   deny-insecure-transport  Deny conditioned on aws:SecureTransport false: informational
//                            while the upstream is https, blocking when it is http.
//   deny-conditional         Deny on s3:PutObject with other conditions: a warning, since
//                            whether it applies depends on the request's context.
//   suspension-privacy       Deny on s3:GetObject for everyone when an object carries a tag
//                            (s3:ExistingObjectTag/KEY), exempting the upstream identity by a
//                            negated condition on aws:username or aws:PrincipalArn (aws:userid)
//                            or by NotPrincipal: what keeps suspended media private; info.
//   suspension-locks-out-proxy
//                            The same Deny without such an exemption: it also refuses the
//                            proxy's own GET and HEAD of tagged objects (verify_writes, the
//                            canary, the application's reads of suspended media); a warning.
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "s3proxy/s3_error.hpp"

namespace s3proxy {

enum class Severity { info, warning, blocking };
// "info", "warning", "blocking"
std::string_view severity_name(Severity s);

struct PolicyFinding {
  Severity severity = Severity::info;
  std::string statement;  // the statement's Sid, or "Statement[2]" when it has none
  std::string rule;       // one of the rule ids above
  std::string message;    // one sentence: what gets blocked and what to do
};

struct LintContext {
  // The upstream identity, e.g. "arn:aws:iam::123456789012:user/mastodon" or, on Ceph
  // RGW, "arn:aws:iam:::user/tester". Empty = unknown: every principal may be it.
  std::string principal_arn;
  // The bucket uploads go to (Resource must cover arn:aws:s3:::bucket/*). Empty = any.
  std::string bucket;
  // Canned ACLs the application sends (Mastodon: S3_PERMISSION, default public-read).
  // Empty = the application sends no ACL header.
  std::vector<std::string> acl_values_sent{"public-read"};
  bool upstream_is_https = true;
};

struct PolicyLintResult {
  std::vector<PolicyFinding> findings;
  // Some statement refuses uploads for certain.
  [[nodiscard]] bool blocks_uploads() const;
  // Some finding is a warning or blocking: what makes lint-policy exit 1 (info does not).
  [[nodiscard]] bool needs_attention() const;
};

// The Deny that gives the proxy's visibility tag its effect, looked for in a bucket policy.
struct SuspensionDeny {
  enum class State {
    absent,           // no Deny on s3:GetObject for everyone conditioned on the tag
    in_force,         // present, and the upstream identity is exempt
    locks_out_proxy,  // present, but it denies the upstream identity's reads too
  } state = State::absent;
  std::string statement;  // Sid or Statement[i] of the statement found
  std::string exemption;  // how the identity is exempt: "StringNotEquals aws:username [tester]", "NotPrincipal"
};
std::string_view suspension_state_name(SuspensionDeny::State s);  // "absent", "in_force", "locks_out_proxy"
// tag_key/tag_value: the proxy's visibility tag. A statement counts when its condition
// compares s3:ExistingObjectTag/<tag_key> with tag_value (StringEquals, StringLike...).
// When context.principal_arn is known, the exemption must name it (its ARN, or its user
// name for aws:username).
Result<SuspensionDeny> find_suspension_deny(std::string_view policy_json, const LintContext& context,
                                            std::string_view tag_key, std::string_view tag_value);

// Malformed JSON, or JSON that is not a policy (no Statement, an Effect other than
// Allow/Deny, both or neither of Action/NotAction...) -> Failure{InvalidArgument}.
Result<PolicyLintResult> lint_policy(std::string_view policy_json, const LintContext& context);

// One line per finding ("blocking  Sid  rule: message"), then a verdict line.
std::string render_report(const PolicyLintResult& result);
// {"findings":[{"severity","statement","rule","message"}...],"blocks_uploads":bool}
std::string render_json(const PolicyLintResult& result);

// Files larger than this are refused unread: AWS caps a bucket policy at 20 KB, and the
// extra room covers other S3 stores without reading a wrong file (an image, a dump).
inline constexpr std::size_t kMaxPolicyFileBytes = 1024 * 1024;

// `s3-acl-proxy lint-policy FILE [--json]`: the report (or JSON) on out, problems reading
// the file on err. Returns 0 when nothing needs attention, 1 on a warning or blocking
// finding, 2 when the file cannot be read or is not a policy.
int run_lint_policy_command(const std::string& path, bool json, std::ostream& out, std::ostream& err);
// The same with a known upstream identity, bucket, ACLs and scheme (as `check` has them).
int run_lint_policy_command(const std::string& path, bool json, const LintContext& context, std::ostream& out,
                            std::ostream& err);

}  // namespace s3proxy
