#include "s3proxy/diagnose.hpp"
#include "s3proxy/suspension.hpp"

#include "s3proxy/s3_client.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sstream>

namespace s3proxy {
namespace {

S3Response answer(unsigned status, std::string code = {}, std::string body = {}) {
  S3Response r;
  r.status = status;
  r.s3_code = std::move(code);
  r.body = std::move(body);
  return r;
}

DiagnosisReport healthy_report() {
  DiagnosisReport r;
  r.endpoint = "http://127.0.0.1:7480";
  r.addressing = "path";
  r.access_key_id = "AKIDEXAMPLE";
  r.bucket = "media";
  r.prefix = ".s3-acl-proxy/canary/";
  r.canary.bucket = "media";
  r.canary.key = ".s3-acl-proxy/canary/20261123T181500Z-00";
  r.canary_step = canary_step(r.canary);
  r.acl_write = acl_write_step(answer(200), nullptr);
  r.ownership_controls = ownership_controls_step(answer(200, {}, "<ListBucketResult></ListBucketResult>"));
  r.policy_status = policy_status_step(answer(404, "NoSuchBucketPolicy"));
  r.bucket_policy = bucket_policy_step(answer(404, "NoSuchBucketPolicy"), LintContext{}, r.lint);
  return r;
}

void fail_canary_at_put(DiagnosisReport& r) {
  r.canary.failures.push_back(CanaryFailure{CanaryStep::put, 403, "AccessDenied", "Access Denied", {}, {}});
  r.canary_step = canary_step(r.canary);
}

// --- Suspension privacy -------------------------------------------------------------------

const suspension::VisibilityTag kPrivateTag{"s3-acl-proxy-visibility", "private"};

DiagnosisReport tag_mode_report() {
  DiagnosisReport r = healthy_report();
  r.suspension_checked = true;
  r.suspension_required = true;
  r.private_tag = "s3-acl-proxy-visibility=private";
  auto policy = suspension::suspension_policy({"media", "arn:aws:iam:::user/tester", kPrivateTag,
                                               suspension::PolicyFlavor::ceph});
  r.suspension_policy = suspension_policy_step(answer(200, {}, policy.value()), LintContext{}, kPrivateTag);
  r.tagged_read = tagged_read_step(answer(200), answer(200));
  r.tagged_anonymous = tagged_anonymous_step(answer(403, "AccessDenied"));
  return r;
}

TEST(SuspensionCheck, HealthyWhenTheDenyIsInForce) {
  const auto r = tag_mode_report();
  EXPECT_EQ(r.suspension_policy.state, StepState::ok);
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::healthy);
  EXPECT_EQ(v.exit_code, 0);
}

TEST(SuspensionCheck, MissingPolicyFailsAndSaysSo) {
  auto r = tag_mode_report();
  r.suspension_policy = suspension_policy_step(answer(404, "NoSuchBucketPolicy"), LintContext{}, kPrivateTag);
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::privacy_not_in_force);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.message.find("NOT in force"), std::string::npos);
  EXPECT_NE(v.message.find("s3-acl-proxy policy"), std::string::npos);
}

TEST(SuspensionCheck, APublicReadOnlyPolicyIsMissingTheDeny) {
  const std::string policy = R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
    "Resource":"arn:aws:s3:::media/*"}]})";
  const auto step = suspension_policy_step(answer(200, {}, policy), LintContext{}, kPrivateTag);
  EXPECT_EQ(step.state, StepState::failed);
  EXPECT_NE(step.summary.find("missing"), std::string::npos);
}

TEST(SuspensionCheck, AnAnonymousReadOfATaggedObjectFails) {
  auto r = tag_mode_report();
  r.tagged_anonymous = tagged_anonymous_step(answer(200));
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::privacy_not_in_force);
}

TEST(SuspensionCheck, TheProxyLockedOutFails) {
  auto r = tag_mode_report();
  r.tagged_read = tagged_read_step(answer(200), answer(403, "AccessDenied"));
  EXPECT_EQ(r.tagged_read.state, StepState::failed);
  EXPECT_EQ(decide_verdict(r).kind, VerdictKind::privacy_not_in_force);
}

TEST(SuspensionCheck, NotRequiredOutsideTagModeKeepsTheVerdict) {
  auto r = tag_mode_report();
  r.suspension_required = false;
  r.suspension_policy = suspension_policy_step(answer(404, "NoSuchBucketPolicy"), LintContext{}, kPrivateTag);
  EXPECT_EQ(decide_verdict(r).kind, VerdictKind::healthy);
  EXPECT_NE(render_diagnosis_text(r, decide_verdict(r)).find("suspension Deny"), std::string::npos);
}

// --- Verdict ---------------------------------------------------------------------------

TEST(DiagnosisVerdict, HealthyWhenPlainAndAclWritesWork) {
  const auto v = decide_verdict(healthy_report());
  EXPECT_EQ(v.kind, VerdictKind::healthy);
  EXPECT_EQ(v.exit_code, 0);
}

TEST(DiagnosisVerdict, WritesFailWhenTheCanaryFailsAndNamesTheCode) {
  auto r = healthy_report();
  fail_canary_at_put(r);
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::writes_fail);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.message.find("canary failed at put: AccessDenied (403)"), std::string::npos);
  EXPECT_NE(v.message.find("explicit Deny"), std::string::npos);
}

TEST(DiagnosisVerdict, AclWritesFailingWithStripModeIsHealthyAndSaysSo) {
  auto r = healthy_report();
  r.acl_mode = AclMode::strip;
  r.acl_write = acl_write_step(answer(400, "AccessControlListNotSupported"), nullptr);
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::acl_writes_fail);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.message.find("plain writes work"), std::string::npos);
  EXPECT_NE(v.message.find("AccessControlListNotSupported (400)"), std::string::npos);
  EXPECT_NE(v.message.find("mode = \"strip\""), std::string::npos);
  EXPECT_NE(v.message.find("S3_PERMISSION"), std::string::npos);
}

TEST(DiagnosisVerdict, AclWritesFailingWithAuditModeFailsAndRecommendsStrip) {
  auto r = healthy_report();
  r.acl_mode = AclMode::audit;
  r.acl_write = acl_write_step(answer(403, "AccessDenied"), nullptr);
  const auto v = decide_verdict(r);
  EXPECT_EQ(v.kind, VerdictKind::writes_fail);
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.message.find("set [acl] mode = \"strip\""), std::string::npos);
}

TEST(DiagnosisVerdict, PointsAtTheBlockingPolicyWhenTheLintFoundOne) {
  auto r = healthy_report();
  fail_canary_at_put(r);
  r.lint = PolicyLintResult{{PolicyFinding{Severity::blocking, "DenyPut", "deny-put-object", "refuses uploads"}}};
  const auto v = decide_verdict(r);
  EXPECT_NE(v.message.find("bucket policy has a Deny that blocks uploads: statement DenyPut (deny-put-object)"),
            std::string::npos);
}

TEST(DiagnosisVerdict, NamesAPolicyWarningWhenNothingIsCertainlyBlocking) {
  auto r = healthy_report();
  fail_canary_at_put(r);
  r.lint = PolicyLintResult{{PolicyFinding{Severity::warning, "DenyPut", "deny-put-object", "may refuse uploads"}}};
  const auto v = decide_verdict(r);
  EXPECT_NE(v.message.find("may apply: statement DenyPut (deny-put-object)"), std::string::npos);
}

// --- Steps -----------------------------------------------------------------------------

TEST(AclWriteStep, ReportsTheRefusalCode) {
  const auto s = acl_write_step(answer(403, "AccessDenied"), nullptr);
  EXPECT_EQ(s.state, StepState::failed);
  EXPECT_EQ(s.s3_code, "AccessDenied");
  EXPECT_EQ(s.summary, "AccessDenied (403)");
}

TEST(AclWriteStep, NotesAFailedCleanUp) {
  const auto del = answer(403, "AccessDenied");
  const auto s = acl_write_step(answer(200), &del);
  EXPECT_EQ(s.state, StepState::ok);
  EXPECT_NE(s.summary.find("deleting it failed: AccessDenied (403)"), std::string::npos);
}

TEST(UnsupportedAnswer, NotImplementedAndMethodNotAllowedAreUnsupported) {
  EXPECT_TRUE(is_unsupported_answer(answer(501, "NotImplemented"), "OwnershipControls"));
  EXPECT_TRUE(is_unsupported_answer(answer(405, "MethodNotAllowed"), "OwnershipControls"));
  EXPECT_TRUE(is_unsupported_answer(answer(400, "NotImplemented"), "OwnershipControls"));
}

TEST(UnsupportedAnswer, AListingInsteadOfTheDocumentIsUnsupported) {
  // Ceph RGW answers GET /bucket?ownershipControls with the bucket's listing.
  EXPECT_TRUE(is_unsupported_answer(answer(200, {}, "<ListBucketResult><Name>media</Name></ListBucketResult>"),
                                    "OwnershipControls"));
}

TEST(UnsupportedAnswer, RefusalsAndNoAnswerAreNotUnsupported) {
  EXPECT_FALSE(is_unsupported_answer(answer(403, "AccessDenied"), "PolicyStatus"));
  EXPECT_FALSE(is_unsupported_answer(S3Response{}, "PolicyStatus"));
  EXPECT_FALSE(is_unsupported_answer(answer(200, {}, "<PolicyStatus><IsPublic>false</IsPublic></PolicyStatus>"),
                                     "PolicyStatus"));
}

TEST(OwnershipControlsStep, ReadsObjectOwnership) {
  const auto s = ownership_controls_step(answer(
      200, {}, "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>"));
  EXPECT_EQ(s.state, StepState::ok);
  EXPECT_EQ(s.summary.rfind("BucketOwnerEnforced", 0), 0u);
}

TEST(OwnershipControlsStep, MissingControlsAreNotSetNotAFailure) {
  EXPECT_EQ(ownership_controls_step(answer(404, "OwnershipControlsNotFoundError")).state, StepState::not_set);
}

TEST(OwnershipControlsStep, UnsupportedCallSaysSo) {
  const auto s = ownership_controls_step(answer(501, "NotImplemented"));
  EXPECT_EQ(s.state, StepState::unsupported);
  EXPECT_EQ(s.summary.rfind("not supported by this upstream", 0), 0u);
}

TEST(PolicyStatusStep, ReadsIsPublic) {
  EXPECT_EQ(policy_status_step(answer(200, {}, "<PolicyStatus><IsPublic>true</IsPublic></PolicyStatus>")).summary,
            "the bucket policy makes the bucket public");
}

TEST(PolicyStatusStep, RefusalIsAFailedStep) {
  EXPECT_EQ(policy_status_step(answer(403, "AccessDenied")).state, StepState::failed);
}

TEST(BucketPolicyStep, NoPolicyIsNotSet) {
  std::optional<PolicyLintResult> lint;
  EXPECT_EQ(bucket_policy_step(answer(404, "NoSuchBucketPolicy"), LintContext{}, lint).state, StepState::not_set);
  EXPECT_FALSE(lint);
}

TEST(BucketPolicyStep, UnreadablePolicySaysNotReadable) {
  std::optional<PolicyLintResult> lint;
  const auto s = bucket_policy_step(answer(403, "AccessDenied"), LintContext{}, lint);
  EXPECT_EQ(s.state, StepState::failed);
  EXPECT_EQ(s.summary, "not readable: AccessDenied (403)");
}

TEST(BucketPolicyStep, ReadablePolicyIsLinted) {
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
    {"Sid":"DenyPut","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::media/*"}]})";
  std::optional<PolicyLintResult> lint;
  LintContext ctx;
  ctx.bucket = "media";
  const auto s = bucket_policy_step(answer(200, {}, policy), ctx, lint);
  EXPECT_EQ(s.state, StepState::ok);
  ASSERT_TRUE(lint);
  EXPECT_TRUE(lint->blocks_uploads());
  EXPECT_NE(s.summary.find("blocking"), std::string::npos);
}

TEST(BucketPolicyStep, TextThatIsNotAPolicyIsAFailedStep) {
  std::optional<PolicyLintResult> lint;
  EXPECT_EQ(bucket_policy_step(answer(200, {}, "<html>"), LintContext{}, lint).state, StepState::failed);
  EXPECT_FALSE(lint);
}

TEST(DiagnosisLintContext, StripModeSendsNoAclAuditModeSendsPublicRead) {
  Config c;
  c.canary = CanaryConfig{"media", "p/", {}};
  c.acl.mode = AclMode::strip;
  EXPECT_TRUE(lint_context(c).acl_values_sent.empty());
  EXPECT_EQ(lint_context(c).bucket, "media");
  c.acl.mode = AclMode::audit;
  EXPECT_EQ(lint_context(c).acl_values_sent, std::vector<std::string>{"public-read"});
}

// --- Rendering -------------------------------------------------------------------------

TEST(DiagnosisText, ListsEveryStepAndEndsWithTheVerdict) {
  const auto r = healthy_report();
  const auto text = render_diagnosis_text(r, decide_verdict(r));
  EXPECT_NE(text.find("write/read/list/delete without ACL"), std::string::npos);
  EXPECT_NE(text.find("write with x-amz-acl: public-read"), std::string::npos);
  EXPECT_NE(text.find("GetBucketOwnershipControls"), std::string::npos);
  EXPECT_NE(text.find("not supported by this upstream"), std::string::npos);
  EXPECT_NE(text.find("GetBucketPolicy "), std::string::npos);
  EXPECT_NE(text.find("\nverdict: healthy"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(DiagnosisJson, IsOneObjectWithStepsAndVerdict) {
  auto r = healthy_report();
  fail_canary_at_put(r);
  const auto json = render_diagnosis_json(r, decide_verdict(r));
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);
  const auto v = boost::json::parse(json).as_object();
  EXPECT_EQ(v.at("verdict").at("exit_code").as_int64(), 1);
  EXPECT_EQ(v.at("verdict").at("result").as_string(), "writes_fail");
  const auto& canary = v.at("steps").at("canary").as_object();
  EXPECT_EQ(canary.at("state").as_string(), "failed");
  EXPECT_EQ(canary.at("failures").as_array().at(0).at("s3_code").as_string(), "AccessDenied");
  EXPECT_EQ(v.at("steps").at("ownership_controls").at("state").as_string(), "unsupported");
  EXPECT_EQ(v.at("steps").at("bucket_policy").at("state").as_string(), "not_set");
}

TEST(DiagnoseCommand, WithoutCanaryBucketExitsTwoNamingTheKey) {
  Config c;
  std::ostringstream out, err;
  EXPECT_EQ(run_diagnose_command(c, false, out, err), 2);
  EXPECT_NE(err.str().find("canary.bucket"), std::string::npos);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace s3proxy
