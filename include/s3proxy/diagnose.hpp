#pragma once
// `s3-acl-proxy check --config FILE [--json]`: the operator's diagnosis of the upstream
// bucket in one go, binding no port. Can we write and read back an object without ACL
// headers? Does a write with x-amz-acl succeed? What do the bucket's ownership controls,
// policy status and policy say? It ends in a verdict and an exit code (0 healthy, 1
// writes fail, 2 bad config), so a cron job or a Kubernetes probe can run it.
#include "s3proxy/canary.hpp"
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"
#include "s3proxy/policy_lint.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace s3proxy {

class S3Client;
struct S3Response;

// The canned ACL the diagnosis writes with: Mastodon's default S3_PERMISSION.
inline constexpr std::string_view kDiagnosisAcl = "public-read";

enum class StepState {
  ok,           // the call worked (for a write: the object was written)
  failed,       // the call was refused or got no answer
  unsupported,  // the upstream does not implement the call (not a failure)
  not_set,      // the bucket has no such setting (no policy, no ownership controls)
};
std::string_view state_name(StepState s);  // "ok", "failed", "unsupported", "not_set"

struct DiagnosisStep {
  StepState state = StepState::failed;
  unsigned status = 0;  // HTTP status of the deciding answer; 0: none
  std::string s3_code, s3_message;
  std::string summary;  // one line for humans, e.g. "BucketOwnerEnforced", "AccessDenied (403)"
};

struct DiagnosisReport {
  std::string endpoint;  // "http://127.0.0.1:7480"
  std::string addressing;
  std::string access_key_id;  // the [upstream] identity (never a secret)
  std::string bucket, prefix;
  AclMode acl_mode = AclMode::strip;

  CanaryOutcome canary;
  DiagnosisStep canary_step;
  DiagnosisStep acl_write;
  DiagnosisStep ownership_controls;
  DiagnosisStep policy_status;
  DiagnosisStep bucket_policy;
  std::optional<PolicyLintResult> lint;  // set when the policy was read and parsed

  // Suspension privacy: checked when objects get the private tag (acl_requests = "tag", or
  // uploads in mode strip); required (a failure fails the check) with acl_requests = "tag".
  bool suspension_checked = false;
  bool suspension_required = false;
  std::string private_tag;          // "key=value"
  DiagnosisStep suspension_policy;  // the Deny in the bucket policy
  DiagnosisStep tagged_read;        // the proxy's own GET of an object carrying the tag
  DiagnosisStep tagged_anonymous;   // an anonymous GET of that object
};

enum class VerdictKind {
  healthy,          // plain and ACL writes work
  acl_writes_fail,  // plain writes work, writes carrying x-amz-acl fail, and the proxy strips them
  writes_fail,      // plain writes fail, or ACL writes fail and the proxy forwards the headers
  privacy_not_in_force,  // acl_requests = "tag", but objects carrying the tag are not private
                         // (or the Deny locks out the proxy's own reads)
};
// "healthy", "acl_writes_fail", "writes_fail", "privacy_not_in_force"
std::string_view verdict_name(VerdictKind k);

struct Verdict {
  VerdictKind kind = VerdictKind::writes_fail;
  int exit_code = 1;
  std::string message;  // one line
};

// --- Pure pieces ------------------------------------------------------------------------

DiagnosisStep canary_step(const CanaryOutcome& outcome);
// The ACL write and, when it was written, the clean-up delete.
DiagnosisStep acl_write_step(const S3Response& put, const S3Response* cleanup);
// An answer that means "this upstream does not implement the call": 501, 405,
// NotImplemented, MethodNotAllowed, UnsupportedOperation, or a 200 whose body is not the
// document asked for (Ceph RGW answers an unknown bucket subresource with a listing).
bool is_unsupported_answer(const S3Response& r, std::string_view expected_root);
DiagnosisStep ownership_controls_step(const S3Response& r);
DiagnosisStep policy_status_step(const S3Response& r);
// The policy read and, when it was readable, the lint's result in `lint`.
DiagnosisStep bucket_policy_step(const S3Response& r, const LintContext& context,
                                 std::optional<PolicyLintResult>& lint);
// The lint's view of the upstream identity, bucket and the ACLs that reach the storage
// (none when the proxy strips them, Mastodon's default otherwise).
LintContext lint_context(const Config& config);

// The Deny that makes the tag count, looked for in the bucket policy read.
DiagnosisStep suspension_policy_step(const S3Response& policy, const LintContext& context,
                                     const suspension::VisibilityTag& tag);
// A tagged object written (put) and read back by the proxy (get).
DiagnosisStep tagged_read_step(const S3Response& put, const S3Response& get);
// An anonymous GET of the tagged object: refused is what suspension privacy means.
DiagnosisStep tagged_anonymous_step(const S3Response& anonymous_get);

Verdict decide_verdict(const DiagnosisReport& report);
std::string render_diagnosis_text(const DiagnosisReport& report, const Verdict& verdict);
// One JSON object: the setting, each step, the lint findings and the verdict.
std::string render_diagnosis_json(const DiagnosisReport& report, const Verdict& verdict);

// --- The run ----------------------------------------------------------------------------

// Runs every step against config.canary's bucket (which must be set).
asio::awaitable<DiagnosisReport> run_diagnosis(S3Client& client, const Config& config);

// `s3-acl-proxy policy`: the suspension policy for config.canary's bucket and
// upstream.principal_arn, on `out`; 0, or 2 with the missing key named on `err`.
int run_policy_command(const Config& config, std::string_view flavor, std::ostream& out, std::ostream& err);

// The command: its own io_context, no listener. Returns the exit code; the report goes to
// `out`, problems before the diagnosis could run (no [canary] bucket, TLS set-up) to `err`.
int run_diagnose_command(const Config& config, bool json, std::ostream& out, std::ostream& err);

}  // namespace s3proxy
