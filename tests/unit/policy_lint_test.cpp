#include "s3proxy/policy_lint.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifndef S3P_TEST_DATA
#define S3P_TEST_DATA "tests/data"
#endif

namespace s3proxy {
namespace {

constexpr const char* kApp = "arn:aws:iam:::user/mastodon";

std::string policy_path(const std::string& name) {
  return (std::filesystem::path(S3P_TEST_DATA) / "policies" / name).string();
}

std::string read_policy(const std::string& name) {
  std::ifstream in(policy_path(name));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << "missing test policy " << name;
  return text.str();
}

LintContext app_context() {
  LintContext ctx;
  ctx.principal_arn = kApp;
  ctx.bucket = "media";
  return ctx;
}

PolicyLintResult lint_text(const std::string& policy, const LintContext& ctx = app_context()) {
  auto result = lint_policy(policy, ctx);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.failure().message);
  return result.ok() ? result.value() : PolicyLintResult{};
}

PolicyLintResult lint_file(const std::string& name, const LintContext& ctx = app_context()) {
  return lint_text(read_policy(name), ctx);
}

// One Deny statement on the app's bucket with the given extra members.
std::string deny_with(const std::string& members) {
  return R"({"Statement":{"Effect":"Deny","Resource":"arn:aws:s3:::media/*",)" + members + "}}";
}

// --- example policies ------------------------------------------------------------------

TEST(PolicyLint, AllowOnlyPolicyHasNoFindings) {
  EXPECT_TRUE(lint_file("allow-only.json").findings.empty());
}

TEST(PolicyLint, AllowOnlyPolicyHasNoFindingsForAnUnknownIdentity) {
  EXPECT_TRUE(lint_file("allow-only.json", LintContext{}).findings.empty());
}

TEST(PolicyLint, InvertedNotPrincipalDenyBlocksAnIdentityItDoesNotList) {
  const auto r = lint_file("deny-not-principal.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-not-principal");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
  EXPECT_EQ(r.findings[0].statement, "OnlyAdminMayWrite");
  EXPECT_NE(r.findings[0].message.find(kApp), std::string::npos);
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLint, InvertedNotPrincipalDenyBlocksWhenTheIdentityIsUnknown) {
  const auto r = lint_file("deny-not-principal.json", LintContext{});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

TEST(PolicyLint, NotPrincipalListingTheIdentityStillWarns) {
  LintContext ctx = app_context();
  ctx.principal_arn = "arn:aws:iam:::user/admin";
  const auto r = lint_file("deny-not-principal.json", ctx);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-not-principal");
  EXPECT_EQ(r.findings[0].severity, Severity::warning);
  EXPECT_FALSE(r.blocks_uploads());
}

TEST(PolicyLint, NotPrincipalWarningNamesTheMissingAccountArn) {
  LintContext ctx = app_context();
  ctx.principal_arn = "arn:aws:iam::123456789012:user/mastodon";
  const auto r = lint_text(deny_with(R"("Action":"s3:*","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/mastodon"})"), ctx);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_NE(r.findings[0].message.find("arn:aws:iam::123456789012:root"), std::string::npos);
}

TEST(PolicyLint, ConditionalAclDenyBlocksThePublicReadTheAppSends) {
  const auto r = lint_file("deny-acl-condition.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-acl-condition");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
  EXPECT_EQ(r.findings[0].statement, "RejectCannedAcls");
}

TEST(PolicyLint, ConditionalAclDenyAdvisesModeStripOrEmptyPermission) {
  const auto r = lint_file("deny-acl-condition.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_NE(r.findings[0].message.find("mode strip"), std::string::npos);
  EXPECT_NE(r.findings[0].message.find("S3_PERMISSION to the empty string"), std::string::npos);
}

TEST(PolicyLint, ConditionalAclDenyIsOnlyANoteWhenTheAppSendsNoAcl) {
  LintContext ctx = app_context();
  ctx.acl_values_sent.clear();
  const auto r = lint_file("deny-acl-condition.json", ctx);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::info);
}

TEST(PolicyLint, UnconditionalPutObjectDenyBlocks) {
  const auto r = lint_file("deny-put-object.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-put-object");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
  EXPECT_EQ(r.findings[0].statement, "FreezeBucket");
}

TEST(PolicyLint, NotActionDenyWithoutPutObjectBlocks) {
  const auto r = lint_file("deny-not-action.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-not-action");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

TEST(PolicyLint, NotActionDenyThatExemptsPutObjectIsClean) {
  const auto r = lint_text(deny_with(R"("Principal":"*","NotAction":["s3:GetObject","s3:Put*"])"));
  EXPECT_TRUE(r.findings.empty());
}

TEST(PolicyLint, DenyOnDeleteBucketIsClean) {
  EXPECT_TRUE(lint_file("deny-delete-bucket.json").findings.empty());
}

TEST(PolicyLint, DenyForAnotherPrincipalIsClean) {
  EXPECT_TRUE(lint_file("deny-other-principal.json").findings.empty());
}

TEST(PolicyLint, DenyForNamedPrincipalsOnlyWarnsWhenTheIdentityIsUnknown) {
  const auto r = lint_file("deny-other-principal.json", LintContext{});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::warning);
}

TEST(PolicyLint, DenyOnS3StarBlocks) {
  const auto r = lint_file("deny-s3-star.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-put-object");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

TEST(PolicyLint, DenyOnPutStarBlocks) {
  const auto r = lint_file("deny-put-star.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

TEST(PolicyLint, SecureTransportDenyIsANoteWithAnHttpsUpstream) {
  const auto r = lint_file("deny-insecure-transport.json");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-insecure-transport");
  EXPECT_EQ(r.findings[0].severity, Severity::info);
  EXPECT_FALSE(r.needs_attention());
}

TEST(PolicyLint, SecureTransportDenyBlocksWithAnHttpUpstream) {
  LintContext ctx = app_context();
  ctx.upstream_is_https = false;
  const auto r = lint_file("deny-insecure-transport.json", ctx);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

// --- actions ---------------------------------------------------------------------------

TEST(PolicyLintActions, MatchActionNamesCaseInsensitively) {
  const auto r = lint_text(deny_with(R"("Principal":"*","Action":"S3:PUTOBJECT")"));
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintActions, MatchABareStar) {
  EXPECT_TRUE(lint_text(deny_with(R"("Principal":"*","Action":"*")")).blocks_uploads());
}

TEST(PolicyLintActions, MatchAQuestionMarkWildcard) {
  EXPECT_TRUE(lint_text(deny_with(R"("Principal":"*","Action":"s3:PutObj?ct")")).blocks_uploads());
}

TEST(PolicyLintActions, IgnoreActionsThatOnlyShareAPrefix) {
  EXPECT_TRUE(lint_text(deny_with(R"("Principal":"*","Action":["s3:PutObjectAcl","s3:PutObjectTagging"])"))
                  .findings.empty());
}

// --- principals ------------------------------------------------------------------------

TEST(PolicyLintPrincipals, MatchAwsStar) {
  EXPECT_TRUE(lint_text(deny_with(R"("Principal":{"AWS":"*"},"Action":"s3:PutObject")")).blocks_uploads());
}

TEST(PolicyLintPrincipals, MatchTheIdentityInAList) {
  const auto r = lint_text(deny_with(
      R"("Principal":{"AWS":["arn:aws:iam:::user/other","arn:aws:iam:::user/mastodon"]},"Action":"s3:PutObject")"));
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintPrincipals, MatchTheIdentitysAccount) {
  LintContext ctx = app_context();
  ctx.principal_arn = "arn:aws:iam::123456789012:user/mastodon";
  EXPECT_TRUE(lint_text(deny_with(R"("Principal":{"AWS":"123456789012"},"Action":"s3:PutObject")"), ctx)
                  .blocks_uploads());
}

TEST(PolicyLintPrincipals, MatchTheRoleOfAnAssumedRoleSession) {
  LintContext ctx = app_context();
  ctx.principal_arn = "arn:aws:sts::123456789012:assumed-role/uploader/i-0abc";
  const auto r =
      lint_text(deny_with(R"("Principal":{"AWS":"arn:aws:iam::123456789012:role/uploader"},"Action":"s3:*")"), ctx);
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintPrincipals, IgnoreServicePrincipals) {
  EXPECT_TRUE(
      lint_text(deny_with(R"("Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject")")).findings.empty());
}

// --- resources -------------------------------------------------------------------------

TEST(PolicyLintResources, IgnoreADenyOnAnotherBucket) {
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::backups/*"}]})");
  EXPECT_TRUE(r.findings.empty());
}

TEST(PolicyLintResources, IgnoreADenyOnTheBucketItselfNotItsObjects) {
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::media"}]})");
  EXPECT_TRUE(r.findings.empty());
}

TEST(PolicyLintResources, MatchAPrefixOfTheBucketsKeys) {
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::media/cache/*"}]})");
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintResources, MatchAnyBucketWhenTheBucketIsUnknown) {
  LintContext ctx = app_context();
  ctx.bucket.clear();
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::backups/*"}]})",
      ctx);
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintResources, IgnoreANotResourceThatExemptsEveryObject) {
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::media/*"}]})");
  EXPECT_TRUE(r.findings.empty());
}

TEST(PolicyLintResources, MatchANotResourceThatExemptsOnlyAPrefix) {
  const auto r = lint_text(
      R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::media/public/*"}]})");
  EXPECT_TRUE(r.blocks_uploads());
}

// --- conditions ------------------------------------------------------------------------

TEST(PolicyLintConditions, StringLikeOnTheAclBlocksTheAppsAcl) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringLike":{"s3:x-amz-acl":"public-*"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-acl-condition");
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
}

TEST(PolicyLintConditions, ForAnyValueOnTheAclBlocksTheAppsAcl) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"ForAnyValue:StringEquals":{"s3:x-amz-acl":["public-read"]}})"));
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintConditions, AclConditionKeyIsCaseInsensitive) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringEquals":{"S3:X-Amz-Acl":"public-read"}})"));
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintConditions, AclConditionOnAnotherAclIsANote) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read-write"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::info);
}

TEST(PolicyLintConditions, RequiredAclDenyBlocksEvenStrippedUploads) {
  // "Deny unless bucket-owner-full-control": an absent header satisfies StringNotEquals.
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringNotEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::blocking);
  EXPECT_NE(r.findings[0].message.find("with and without an ACL header"), std::string::npos);
}

TEST(PolicyLintConditions, IfExistsAclConditionBlocksStrippedUploads) {
  LintContext ctx = app_context();
  ctx.acl_values_sent.clear();
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringEqualsIfExists":{"s3:x-amz-acl":"public-read"}})"),
      ctx);
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintConditions, NullAclConditionBlocksStrippedUploads) {
  LintContext ctx = app_context();
  ctx.acl_values_sent.clear();
  const auto r = lint_text(
      deny_with(R"("Principal":"*","Action":"s3:PutObject","Condition":{"Null":{"s3:x-amz-acl":"true"}})"), ctx);
  EXPECT_TRUE(r.blocks_uploads());
}

TEST(PolicyLintConditions, UnknownConditionKeyWarns) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "deny-conditional");
  EXPECT_EQ(r.findings[0].severity, Severity::warning);
}

TEST(PolicyLintConditions, UnknownKeyBesideAMatchingAclWarns) {
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read","aws:SourceVpc":"vpc-1"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::warning);
}

TEST(PolicyLintConditions, UnknownKeyBesideANonMatchingAclIsOnlyANote) {
  // Every clause must hold, so the ACL clause that cannot match settles it.
  const auto r = lint_text(deny_with(
      R"("Principal":"*","Action":"s3:PutObject","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read-write","aws:SourceVpc":"vpc-1"}})"));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].severity, Severity::info);
}

TEST(PolicyLintConditions, SecureTransportAsJsonBooleanIsUnderstood) {
  LintContext ctx = app_context();
  ctx.upstream_is_https = false;
  const auto r = lint_text(
      deny_with(R"("Principal":"*","Action":"s3:PutObject","Condition":{"Bool":{"aws:SecureTransport":false}})"), ctx);
  EXPECT_TRUE(r.blocks_uploads());
}

// --- policy shapes ---------------------------------------------------------------------

TEST(PolicyLintShape, UnnamedStatementIsNamedByIndex) {
  const auto r = lint_text(R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"},
                                           {"Effect":"Deny","Principal":"*","Action":"s3:PutObject"}]})");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].statement, "Statement[1]");
}

TEST(PolicyLintShape, LowerCaseEffectIsNotAPolicy) {
  auto r = lint_policy(R"({"Statement":{"Effect":"deny","Principal":"*","Action":"s3:PutObject"}})", app_context());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().error, S3Error::InvalidArgument);
}

TEST(PolicyLintShape, MalformedJsonIsRefused) {
  auto r = lint_policy(R"({"Statement": [)", app_context());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().error, S3Error::InvalidArgument);
}

TEST(PolicyLintShape, JsonWithoutStatementIsRefused) {
  EXPECT_FALSE(lint_policy(R"({"Version":"2012-10-17"})", app_context()).ok());
}

TEST(PolicyLintShape, StatementWithActionAndNotActionIsRefused) {
  EXPECT_FALSE(lint_policy(R"({"Statement":{"Effect":"Deny","Action":"s3:*","NotAction":"s3:GetObject"}})",
                           app_context())
                   .ok());
}

TEST(PolicyLintShape, NonStringActionIsRefused) {
  EXPECT_FALSE(lint_policy(R"({"Statement":{"Effect":"Deny","Action":[42]}})", app_context()).ok());
}

TEST(PolicyLintShape, RefusalNamesTheStatement) {
  auto r = lint_policy(R"({"Statement":[{"Sid":"Broken","Effect":"Maybe","Action":"s3:*"}]})", app_context());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failure().message.find("Broken"), std::string::npos);
}

// --- rendering -------------------------------------------------------------------------

TEST(PolicyLintRender, ReportNamesStatementAndRule) {
  const std::string report = render_report(lint_file("deny-not-principal.json"));
  EXPECT_NE(report.find("OnlyAdminMayWrite"), std::string::npos);
  EXPECT_NE(report.find("deny-not-principal"), std::string::npos);
  EXPECT_NE(report.find("blocking"), std::string::npos);
}

TEST(PolicyLintRender, ReportEndsWithAVerdict) {
  EXPECT_NE(render_report(lint_file("allow-only.json")).find("verdict: OK"), std::string::npos);
  EXPECT_NE(render_report(lint_file("deny-put-object.json")).find("verdict: BLOCKED"), std::string::npos);
}

TEST(PolicyLintRender, JsonCarriesEveryFieldAndTheVerdict) {
  const auto doc = boost::json::parse(render_json(lint_file("deny-acl-condition.json"))).as_object();
  EXPECT_EQ(doc.at("blocks_uploads"), true);
  const auto& finding = doc.at("findings").as_array().at(0).as_object();
  EXPECT_EQ(finding.at("severity"), "blocking");
  EXPECT_EQ(finding.at("statement"), "RejectCannedAcls");
  EXPECT_EQ(finding.at("rule"), "deny-acl-condition");
  EXPECT_TRUE(finding.at("message").is_string());
}

// --- the command -----------------------------------------------------------------------

struct CommandRun {
  int exit_code;
  std::string out, err;
};

CommandRun run(const std::string& path, bool json = false) {
  std::ostringstream out, err;
  const int code = run_lint_policy_command(path, json, out, err);
  return {code, out.str(), err.str()};
}

TEST(LintPolicyCommand, CleanPolicyExitsZero) {
  const auto r = run(policy_path("allow-only.json"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("verdict: OK"), std::string::npos);
}

TEST(LintPolicyCommand, InformationalNoteExitsZero) {
  EXPECT_EQ(run(policy_path("deny-insecure-transport.json")).exit_code, 0);
}

TEST(LintPolicyCommand, FindingExitsOneAndNamesStatementAndRule) {
  const auto r = run(policy_path("deny-acl-condition.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("RejectCannedAcls"), std::string::npos);
  EXPECT_NE(r.out.find("deny-acl-condition"), std::string::npos);
}

TEST(LintPolicyCommand, WarningExitsOne) {
  // Without an identity the command cannot rule out that the named principal is it.
  const auto r = run(policy_path("deny-other-principal.json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("verdict: REVIEW"), std::string::npos);
}

TEST(LintPolicyCommand, JsonOutputIsOneJsonDocument) {
  const auto r = run(policy_path("deny-not-principal.json"), true);
  EXPECT_EQ(r.exit_code, 1);
  boost::system::error_code ec;
  const auto doc = boost::json::parse(r.out, ec);
  ASSERT_FALSE(ec) << r.out;
  EXPECT_EQ(doc.at("blocks_uploads"), true);
}

TEST(LintPolicyCommand, MissingFileExitsTwo) {
  const auto r = run(policy_path("no-such-policy.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no-such-policy.json"), std::string::npos);
  EXPECT_TRUE(r.out.empty());
}

TEST(LintPolicyCommand, InvalidJsonExitsTwo) {
  const auto path = std::filesystem::path(testing::TempDir()) / "policy_lint_invalid.json";
  std::ofstream(path) << "{\"Statement\": [";
  const auto r = run(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos);
}

TEST(LintPolicyCommand, DirectoryExitsTwo) {
  EXPECT_EQ(run(std::filesystem::path(S3P_TEST_DATA).string()).exit_code, 2);
}

TEST(LintPolicyCommand, ContextOverloadUsesTheGivenUpstreamScheme) {
  LintContext ctx;
  ctx.upstream_is_https = false;
  std::ostringstream out, err;
  EXPECT_EQ(run_lint_policy_command(policy_path("deny-insecure-transport.json"), false, ctx, out, err), 1);
}

}  // namespace
}  // namespace s3proxy
