#include "s3proxy/suspension.hpp"

#include "s3proxy/acl_policy.hpp"
#include "s3proxy/cli.hpp"
#include "s3proxy/forward.hpp"
#include "s3proxy/policy_lint.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace s3proxy {
namespace {

using namespace suspension;

const VisibilityTag kTag{"s3-acl-proxy-visibility", "private"};

std::string acl_xml(std::string_view grants) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy "
         "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>tester</ID></Owner><AccessControlList>" +
         std::string(grants) + "</AccessControlList></AccessControlPolicy>";
}

std::string grant(std::string_view grantee, std::string_view permission) {
  return "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"" +
         std::string(grantee.starts_with("http") ? "Group" : "CanonicalUser") + "\">" +
         (grantee.starts_with("http") ? "<URI>" + std::string(grantee) + "</URI>"
                                      : "<ID>" + std::string(grantee) + "</ID>") +
         "</Grantee><Permission>" + std::string(permission) + "</Permission></Grant>";
}

constexpr std::string_view kAllUsers = "http://acs.amazonaws.com/groups/global/AllUsers";

// --- What an ACL request asks for ---------------------------------------------------------

TEST(CannedAcl, NonPublicCannedAclsAreNotPublic) {
  for (const char* name : {"private", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"})
    EXPECT_EQ(canned_acl_is_public(name), false) << name;
}

TEST(CannedAcl, PublicCannedAclsArePublic) {
  EXPECT_EQ(canned_acl_is_public("public-read"), true);
  EXPECT_EQ(canned_acl_is_public("public-read-write"), true);
}

TEST(CannedAcl, UnknownNamesAreNotCannedAcls) {
  EXPECT_FALSE(canned_acl_is_public("Public-Read").has_value());
  EXPECT_FALSE(canned_acl_is_public("").has_value());
}

TEST(AclXml, OwnerOnlyIsPrivate) {
  auto r = acl_from_xml(acl_xml(grant("tester", "FULL_CONTROL")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->canned, "private");
  EXPECT_FALSE(r->is_public);
}

TEST(AclXml, AllUsersReadIsPublicRead) {
  auto r = acl_from_xml(acl_xml(grant("tester", "FULL_CONTROL") + grant(kAllUsers, "READ")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->canned, "public-read");
  EXPECT_TRUE(r->is_public);
}

TEST(AclXml, AllUsersReadAndWriteIsPublicReadWrite) {
  auto r = acl_from_xml(acl_xml(grant(kAllUsers, "READ") + grant(kAllUsers, "WRITE")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->canned, "public-read-write");
}

TEST(AclXml, AuthenticatedUsersReadIsNotPublic) {
  auto r = acl_from_xml(acl_xml(grant("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->canned, "authenticated-read");
  EXPECT_FALSE(r->is_public);
}

TEST(AclXml, AllUsersReadAclOnlyIsNotPublic) {
  auto r = acl_from_xml(acl_xml(grant(kAllUsers, "READ_ACP")));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->is_public);
}

TEST(AclXml, NotAnAclDocumentIsMalformed) {
  for (std::string_view body : {std::string_view("<Tagging/>"), std::string_view("garbage"),
                                std::string_view("<AccessControlPolicy></AccessControlPolicy>")}) {
    auto r = acl_from_xml(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.failure().error, S3Error::MalformedACLError);
  }
}

TEST(AclXml, GrantWithoutPermissionIsMalformed) {
  auto r = acl_from_xml(acl_xml("<Grant><Grantee><URI>x</URI></Grantee></Grant>"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::MalformedACLError);
}

TEST(RequestedAcl, CannedHeaderDecides) {
  auto r = requested_acl({{"x-amz-acl", "private"}}, "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->canned, "private");
  EXPECT_FALSE(r->is_public);
}

TEST(RequestedAcl, UnknownCannedHeaderIsInvalidArgument) {
  auto r = requested_acl({{"x-amz-acl", "everyone"}}, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidArgument);
}

TEST(RequestedAcl, GrantHeaderToAllUsersIsPublic) {
  auto r = requested_acl({{"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""}}, "");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_public);
}

TEST(RequestedAcl, GrantHeaderToOneUserIsPrivate) {
  auto r = requested_acl({{"x-amz-grant-full-control", "id=\"tester\""}}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->is_public);
}

TEST(RequestedAcl, CannedAndGrantHeadersTogetherAreRefused) {
  auto r = requested_acl({{"x-amz-acl", "private"}, {"x-amz-grant-read", "id=\"x\""}}, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidRequest);
}

TEST(RequestedAcl, HeaderAndBodyTogetherAreRefused) {
  auto r = requested_acl({{"x-amz-acl", "private"}}, acl_xml(grant("tester", "FULL_CONTROL")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::UnexpectedContent);
}

TEST(RequestedAcl, BodyDecidesWithoutHeaders) {
  auto r = requested_acl({}, acl_xml(grant(kAllUsers, "READ")));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_public);
}

TEST(RequestedAcl, NothingAtAllIsMissingSecurityHeader) {
  auto r = requested_acl({}, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::MissingSecurityHeader);
}

// --- The tag set ---------------------------------------------------------------------------

TEST(TaggingXml, ParsesRgwAnswer) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<TagSet><Tag><Key>owner</Key><Value>a &amp; b</Value></Tag><Tag><Key>empty</Key><Value></Value></Tag>"
      "</TagSet></Tagging>";
  auto r = parse_tagging_xml(xml);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r.value()[0], (std::pair<std::string, std::string>{"owner", "a & b"}));
  EXPECT_EQ(r.value()[1].second, "");
}

TEST(TaggingXml, EmptyTagSetIsNoTags) {
  auto r = parse_tagging_xml("<Tagging><TagSet/></Tagging>");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST(TaggingXml, NotATaggingDocumentIsRefused) {
  auto r = parse_tagging_xml("<ListBucketResult/>");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::UpstreamResponseInvalid);
}

TEST(TaggingXml, WrittenDocumentReadsBackEscaped) {
  const TagSet tags{{"a<b", "x&y"}, {kTag.key, kTag.value}};
  const std::string xml = tagging_xml(tags);
  EXPECT_NE(xml.find("<Key>a&lt;b</Key>"), std::string::npos);
  auto back = parse_tagging_xml(xml);
  ASSERT_TRUE(back);
  EXPECT_EQ(back.value(), tags);
}

TEST(ApplyVisibility, PrivateAddsTheTagAndKeepsTheOthers) {
  auto r = apply_visibility({{"owner", "alice"}}, kTag, true);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->tags, (TagSet{{"owner", "alice"}, {kTag.key, kTag.value}}));
}

TEST(ApplyVisibility, PrivateTwiceChangesNothing) {
  auto r = apply_visibility({{kTag.key, kTag.value}}, kTag, true);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->changed);
}

TEST(ApplyVisibility, PrivateOverwritesAnotherValueOfTheKey) {
  auto r = apply_visibility({{kTag.key, "public"}}, kTag, true);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->tags, (TagSet{{kTag.key, kTag.value}}));
}

TEST(ApplyVisibility, PublicRemovesOnlyTheTag) {
  auto r = apply_visibility({{"a", "1"}, {kTag.key, kTag.value}, {"b", "2"}}, kTag, false);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->tags, (TagSet{{"a", "1"}, {"b", "2"}}));
}

TEST(ApplyVisibility, PublicWithoutTheTagChangesNothing) {
  auto r = apply_visibility({{"a", "1"}}, kTag, false);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->changed);
}

TagSet ten_tags() {
  TagSet tags;
  for (int i = 0; i < 10; ++i) tags.emplace_back("k" + std::to_string(i), "v");
  return tags;
}

TEST(ApplyVisibility, AnEleventhTagIsInvalidTagNamingTheLimit) {
  auto r = apply_visibility(ten_tags(), kTag, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidTag);
  EXPECT_NE(r.failure().message.find("10"), std::string::npos);
  EXPECT_NE(r.failure().message.find(kTag.key), std::string::npos);
}

TEST(ApplyVisibility, TenTagsIncludingOursStayWithinTheLimit) {
  TagSet tags = ten_tags();
  tags.back() = {kTag.key, "other"};
  auto r = apply_visibility(tags, kTag, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tags.size(), 10u);
}

TEST(ApplyVisibility, PublicWithTenTagsIsFine) {
  auto r = apply_visibility(ten_tags(), kTag, false);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->changed);
}

// --- x-amz-tagging -------------------------------------------------------------------------

TEST(TaggingHeader, DecodesPercentAndPlus) {
  auto r = parse_tagging_header("a%20b=c+d&e=%26");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), (TagSet{{"a b", "c d"}, {"e", "&"}}));
}

TEST(TaggingHeader, KeyWithoutValueHasAnEmptyValue) {
  auto r = parse_tagging_header("flag");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), (TagSet{{"flag", ""}}));
}

TEST(TaggingHeader, DuplicateKeysAreRefused) {
  auto r = parse_tagging_header("a=1&a=2");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidArgument);
}

TEST(TaggingHeader, BadEscapesAndEmptyPairsAreRefused) {
  for (std::string_view v : {"a=%zz", "a=1&&b=2", "=x", "a=1&"}) {
    EXPECT_FALSE(parse_tagging_header(v)) << v;
  }
}

TEST(TaggingHeader, MoreThanTenTagsAreRefused) {
  std::string v;
  for (int i = 0; i < 11; ++i) v += (i ? "&k" : "k") + std::to_string(i) + "=v";
  auto r = parse_tagging_header(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidTag);
}

TEST(TaggingHeader, EncodesAsAwsUriEncode) {
  EXPECT_EQ(encode_tagging_header({{"a b", "c/d&e"}, {"k", ""}}), "a%20b=c%2Fd%26e&k=");
}

TEST(TaggingHeader, MergeWithoutClientTagsIsOursAlone) {
  auto r = merge_tagging_header(std::nullopt, kTag);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "s3-acl-proxy-visibility=private");
}

TEST(TaggingHeader, MergeKeepsTheClientsTagsFirst) {
  auto r = merge_tagging_header(std::string("project=blue+sky&x=%2F"), kTag);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "project=blue%20sky&x=%2F&s3-acl-proxy-visibility=private");
}

TEST(TaggingHeader, MergeBeyondTenIsInvalidTag) {
  std::string v;
  for (int i = 0; i < 10; ++i) v += (i ? "&k" : "k") + std::to_string(i) + "=v";
  auto r = merge_tagging_header(v, kTag);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidTag);
}

TEST(PrivateTag, ParsesKeyAndValue) {
  auto r = parse_private_tag("visibility=hidden");
  ASSERT_TRUE(std::holds_alternative<VisibilityTag>(r));
  EXPECT_EQ(std::get<VisibilityTag>(r).key, "visibility");
  EXPECT_EQ(std::get<VisibilityTag>(r).value, "hidden");
}

TEST(PrivateTag, RefusesWhatS3Would) {
  for (std::string_view bad : {"novalue", "=x", "aws:reserved=x", "a\nb=c"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_private_tag(bad))) << bad;
  }
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_private_tag(std::string(129, 'k') + "=v")));
}

TEST(TagGate, OneUpdatePerObjectAtATime) {
  TagGate gate;
  EXPECT_TRUE(gate.try_enter("b\nk\n"));
  EXPECT_FALSE(gate.try_enter("b\nk\n"));
  EXPECT_TRUE(gate.try_enter("b\nother\n"));
  gate.leave("b\nk\n");
  EXPECT_TRUE(gate.try_enter("b\nk\n"));
}

// --- Uploads -------------------------------------------------------------------------------

S3Target object_target(Op op) {
  S3Target t;
  t.op = op;
  t.bucket = "media";
  t.key = "a.png";
  return t;
}

AclDecision decision_with(std::string_view acl) {
  AclDecision d;
  d.action = AclAction::stripped;
  d.strip_headers = true;
  d.headers.emplace_back("x-amz-acl", std::string(acl));
  return d;
}

AclConfig strip_config() { return AclConfig{}; }

TEST(UploadTagging, PrivatePutInStripModeGetsTheTag) {
  const std::vector<sigv4::Header> headers{{"x-amz-acl", "private"}};
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), decision_with("private"), headers, "");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(r.value()->value, "s3-acl-proxy-visibility=private");
  EXPECT_FALSE(r.value()->replace_directive);
}

TEST(UploadTagging, PublicPutGetsNoTag) {
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), decision_with("public-read"), {}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(UploadTagging, PutWithoutAclGetsNoTag) {
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), AclDecision{}, {}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(UploadTagging, MergesTheClientsHeader) {
  const std::vector<sigv4::Header> headers{{"X-Amz-Tagging", "team=a"}};
  auto r = upload_tagging(strip_config(), object_target(Op::CreateMultipartUpload),
                          decision_with("bucket-owner-full-control"), headers, "");
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "team=a&s3-acl-proxy-visibility=private");
}

TEST(UploadTagging, MergesAPresignedParameter) {
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), decision_with("private"), {},
                          "X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-tagging=team%3Db");
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "team=b&s3-acl-proxy-visibility=private");
}

// The forwarded query loses every tagging parameter whatever its case (forward.cpp), so the
// tags read from it must be found the same way, or a mixed-case parameter would vanish.
TEST(UploadTagging, MergesAPresignedParameterWhateverTheCaseOfItsName) {
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), decision_with("private"), {},
                          "X-Amz-Tagging=team%3Dc");
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "team=c&s3-acl-proxy-visibility=private");
}

TEST(UploadTagging, AuditModeWithoutTagRequestsAddsNothing) {
  AclConfig audit;
  audit.mode = AclMode::audit;
  audit.acl_requests = AclRequests::forward;
  auto r = upload_tagging(audit, object_target(Op::PutObject), decision_with("private"), {}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(UploadTagging, AuditModeWithTagRequestsAddsTheTag) {
  AclConfig audit;
  audit.mode = AclMode::audit;
  audit.acl_requests = AclRequests::tag;
  auto r = upload_tagging(audit, object_target(Op::PutObject), decision_with("private"), {}, "");
  ASSERT_TRUE(r && r->has_value());
}

TEST(UploadTagging, SwitchedOffAddsNothing) {
  AclConfig off;
  off.tag_private_uploads = false;
  auto r = upload_tagging(off, object_target(Op::PutObject), decision_with("private"), {}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(UploadTagging, CopyWithoutReplaceIsLeftToTheSourceTags) {
  auto r = upload_tagging(strip_config(), object_target(Op::CopyObject), decision_with("private"), {}, "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(UploadTagging, CopyWithReplaceMergesTheClientsTags) {
  const std::vector<sigv4::Header> headers{{"x-amz-tagging-directive", "REPLACE"}, {"x-amz-tagging", "a=1"}};
  auto r = upload_tagging(strip_config(), object_target(Op::CopyObject), decision_with("private"), headers, "");
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "a=1&s3-acl-proxy-visibility=private");
}

TEST(UploadTagging, TooManyClientTagsAreInvalidTag) {
  std::string v;
  for (int i = 0; i < 10; ++i) v += (i ? "&k" : "k") + std::to_string(i) + "=v";
  const std::vector<sigv4::Header> headers{{"x-amz-tagging", v}};
  auto r = upload_tagging(strip_config(), object_target(Op::PutObject), decision_with("private"), headers, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.failure().error, S3Error::InvalidTag);
}

TEST(CopyTagging, PrivateCopyOfAnUntaggedSourceReplacesWithTheTagAdded) {
  auto r = copy_tagging({{"a", "1"}}, kTag, true);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "a=1&s3-acl-proxy-visibility=private");
  EXPECT_TRUE(r.value()->replace_directive);
}

TEST(CopyTagging, PublicCopyOfATaggedSourceDropsTheTag) {
  auto r = copy_tagging({{kTag.key, kTag.value}}, kTag, false);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(r.value()->value, "");
  EXPECT_TRUE(r.value()->replace_directive);
}

TEST(CopyTagging, NothingToChangeKeepsTheDirective) {
  auto r = copy_tagging({{"a", "1"}}, kTag, false);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(CopySource, ParsesBucketKeyAndVersion) {
  auto s = parse_copy_source("/media/a%20b/c.png?versionId=v1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bucket, "media");
  EXPECT_EQ(s->key, "a b/c.png");
  EXPECT_EQ(s->version_id, "v1");
  auto plain = parse_copy_source("media/k");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->key, "k");
  EXPECT_FALSE(parse_copy_source("media"));
  EXPECT_FALSE(parse_copy_source("/media/"));
}

TEST(QueryParameter, FindsDecodedValue) {
  EXPECT_EQ(query_parameter("acl&versionId=a%2Bb", "versionId"), "a+b");
  EXPECT_EQ(query_parameter("acl", "acl"), "");
  EXPECT_FALSE(query_parameter("acl", "versionId"));
}

// --- PUT ?acl decision --------------------------------------------------------------------

TEST(AclDecisionTag, ObjectAclRequestBecomesATagUpdate) {
  S3Target t = object_target(Op::PutObjectAcl);
  t.acl_subresource = true;
  const std::vector<std::pair<std::string_view, std::string_view>> headers{{"x-amz-acl", "private"}};
  const AclDecision d = decide(AclMode::strip, AclRequests::tag, t, "PUT", headers);
  EXPECT_EQ(d.answer, LocalAnswer::visibility_tag);
  EXPECT_EQ(action_name(d.action), "tagged");
  EXPECT_FALSE(d.warn);
}

TEST(AclDecisionTag, BucketAclRequestIsNotImplemented) {
  S3Target t;
  t.op = Op::PutBucketAcl;
  t.bucket = "media";
  t.acl_subresource = true;
  const AclDecision d = decide(AclMode::strip, AclRequests::tag, t, "PUT", {});
  EXPECT_EQ(d.answer, LocalAnswer::not_implemented);
}

// --- The policy ---------------------------------------------------------------------------

PolicyInput input(PolicyFlavor flavor) { return PolicyInput{"media", "arn:aws:iam:::user/tester", kTag, flavor}; }

boost::json::object deny_statement(const std::string& policy) {
  const auto doc = boost::json::parse(policy);
  for (const auto& s : doc.at("Statement").as_array())
    if (s.at("Effect") == "Deny") return s.as_object();
  ADD_FAILURE() << "no Deny in " << policy;
  return {};
}

TEST(SuspensionPolicy, AwsExemptsTheProxyByPrincipalArn) {
  auto p = suspension_policy(input(PolicyFlavor::aws));
  ASSERT_TRUE(p);
  const auto deny = deny_statement(p.value());
  EXPECT_EQ(deny.at("Action"), "s3:GetObject");
  EXPECT_EQ(deny.at("Resource"), "arn:aws:s3:::media/*");
  const auto& cond = deny.at("Condition").as_object();
  EXPECT_EQ(cond.at("StringEquals").at("s3:ExistingObjectTag/s3-acl-proxy-visibility"), "private");
  EXPECT_EQ(cond.at("ArnNotEquals").at("aws:PrincipalArn"), "arn:aws:iam:::user/tester");
}

TEST(SuspensionPolicy, CephAndMinioExemptTheProxyByUserName) {
  for (auto flavor : {PolicyFlavor::ceph, PolicyFlavor::minio}) {
    auto p = suspension_policy(input(flavor));
    ASSERT_TRUE(p);
    const auto deny = deny_statement(p.value());
    EXPECT_EQ(deny.at("Condition").at("StringNotEquals").at("aws:username"), "tester");
    EXPECT_FALSE(deny.at("Condition").as_object().contains("ArnNotEquals"));
  }
}

TEST(SuspensionPolicy, KeepsThePublicReadAllow) {
  auto p = suspension_policy(input(PolicyFlavor::aws));
  ASSERT_TRUE(p);
  const auto doc = boost::json::parse(p.value());
  const auto& allow = doc.at("Statement").as_array().at(0);
  EXPECT_EQ(allow.at("Effect"), "Allow");
  EXPECT_EQ(allow.at("Principal"), "*");
}

TEST(SuspensionPolicy, NeedsTheProxysIdentity) {
  PolicyInput in = input(PolicyFlavor::aws);
  in.principal_arn.clear();
  auto p = suspension_policy(in);
  ASSERT_FALSE(p);
  EXPECT_NE(p.failure().message.find("upstream.principal_arn"), std::string::npos);
}

TEST(SuspensionPolicy, CephNeedsAUserArn) {
  PolicyInput in = input(PolicyFlavor::ceph);
  in.principal_arn = "arn:aws:iam::123456789012:role/media";
  EXPECT_FALSE(suspension_policy(in));
}

TEST(SuspensionPolicy, UserNameOfAPathArn) {
  EXPECT_EQ(user_name_of("arn:aws:iam::123456789012:user/apps/mastodon"), "mastodon");
  EXPECT_EQ(user_name_of("arn:aws:iam:::user/tester"), "tester");
  EXPECT_FALSE(user_name_of("arn:aws:iam::1:root"));
  EXPECT_FALSE(user_name_of("tester"));
}

TEST(SuspensionPolicy, FlavorNames) {
  EXPECT_EQ(parse_flavor("ceph"), PolicyFlavor::ceph);
  EXPECT_FALSE(parse_flavor("gcs"));
  EXPECT_EQ(flavor_name(PolicyFlavor::minio), "minio");
}

// --- Finding it again ----------------------------------------------------------------------

LintContext context_for(std::string arn = "arn:aws:iam:::user/tester") {
  LintContext c;
  c.principal_arn = std::move(arn);
  c.bucket = "media";
  c.acl_values_sent.clear();
  return c;
}

TEST(FindSuspensionDeny, TheGeneratedPoliciesAreInForce) {
  for (auto flavor : {PolicyFlavor::aws, PolicyFlavor::ceph}) {
    auto p = suspension_policy(input(flavor));
    ASSERT_TRUE(p);
    auto found = find_suspension_deny(p.value(), context_for(), kTag.key, kTag.value);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->state, SuspensionDeny::State::in_force) << flavor_name(flavor);
    EXPECT_EQ(found->statement, kDenySid);
  }
}

constexpr std::string_view kDenyEveryone = R"({"Statement":[
  {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"},
  {"Sid":"Hide","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
   "Condition":{"StringEquals":{"s3:ExistingObjectTag/s3-acl-proxy-visibility":"private"}}}]})";

TEST(FindSuspensionDeny, ADenyToEveryoneLocksOutTheProxy) {
  auto found = find_suspension_deny(kDenyEveryone, context_for(), kTag.key, kTag.value);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::locks_out_proxy);
  EXPECT_EQ(found->statement, "Hide");
}

TEST(FindSuspensionDeny, NotPrincipalExempts) {
  const std::string policy = R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam:::user/tester"},
    "Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
    "Condition":{"StringEquals":{"s3:ExistingObjectTag/s3-acl-proxy-visibility":"private"}}}]})";
  auto found = find_suspension_deny(policy, context_for(), kTag.key, kTag.value);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::in_force);
}

TEST(FindSuspensionDeny, AnExemptionOfAnotherUserDoesNotCount) {
  auto p = suspension_policy(input(PolicyFlavor::ceph));
  ASSERT_TRUE(p);
  auto found = find_suspension_deny(p.value(), context_for("arn:aws:iam:::user/someone"), kTag.key, kTag.value);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::locks_out_proxy);
}

TEST(FindSuspensionDeny, ADenyOnAnotherTagIsAbsent) {
  auto found = find_suspension_deny(kDenyEveryone, context_for(), kTag.key, "hidden");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::absent);
}

TEST(FindSuspensionDeny, APublicReadPolicyAloneIsAbsent) {
  const std::string policy = R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
    "Resource":"arn:aws:s3:::media/*"}]})";
  auto found = find_suspension_deny(policy, context_for(), kTag.key, kTag.value);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::absent);
}

TEST(FindSuspensionDeny, ADenyOnAnotherBucketIsAbsent) {
  PolicyInput in = input(PolicyFlavor::aws);
  in.bucket = "other";
  auto p = suspension_policy(in);
  ASSERT_TRUE(p);
  auto found = find_suspension_deny(p.value(), context_for(), kTag.key, kTag.value);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->state, SuspensionDeny::State::absent);
}

TEST(LintSuspension, GeneratedPolicyIsRecognisedAndNeedsNoAttention) {
  auto p = suspension_policy(input(PolicyFlavor::ceph));
  ASSERT_TRUE(p);
  auto lint = lint_policy(p.value(), context_for(""));
  ASSERT_TRUE(lint);
  ASSERT_EQ(lint->findings.size(), 1u);
  EXPECT_EQ(lint->findings[0].rule, "suspension-privacy");
  EXPECT_EQ(lint->findings[0].severity, Severity::info);
  EXPECT_FALSE(lint->needs_attention());
}

TEST(LintSuspension, PrincipalArnExemptionMentionsCephsBlindSpot) {
  auto p = suspension_policy(input(PolicyFlavor::aws));
  ASSERT_TRUE(p);
  auto lint = lint_policy(p.value(), context_for(""));
  ASSERT_TRUE(lint);
  ASSERT_EQ(lint->findings.size(), 1u);
  EXPECT_NE(lint->findings[0].message.find("aws:username"), std::string::npos);
}

TEST(LintSuspension, DenyToEveryoneIsAWarning) {
  auto lint = lint_policy(kDenyEveryone, context_for(""));
  ASSERT_TRUE(lint);
  ASSERT_EQ(lint->findings.size(), 1u);
  EXPECT_EQ(lint->findings[0].rule, "suspension-locks-out-proxy");
  EXPECT_EQ(lint->findings[0].severity, Severity::warning);
  EXPECT_TRUE(lint->needs_attention());
}

// --- The command line ------------------------------------------------------------------------

std::variant<Command, std::string> parse(std::vector<std::string_view> args) { return parse_command_line(args); }

TEST(CliPolicy, ConfigAndDefaultFlavor) {
  auto r = parse({"policy", "--config", "p.toml"});
  ASSERT_TRUE(std::holds_alternative<Command>(r));
  EXPECT_EQ(std::get<Command>(r).kind, CommandKind::policy);
  EXPECT_EQ(std::get<Command>(r).config_path, "p.toml");
  EXPECT_EQ(std::get<Command>(r).flavor, "aws");
}

TEST(CliPolicy, FlavorBothSpellings) {
  auto a = parse({"policy", "--config=p.toml", "--flavor", "ceph"});
  ASSERT_TRUE(std::holds_alternative<Command>(a));
  EXPECT_EQ(std::get<Command>(a).flavor, "ceph");
  auto b = parse({"policy", "--flavor=minio", "--config", "p.toml"});
  ASSERT_TRUE(std::holds_alternative<Command>(b));
  EXPECT_EQ(std::get<Command>(b).flavor, "minio");
}

TEST(CliPolicy, UnknownFlavorAndMissingConfigAreUsageErrors) {
  EXPECT_TRUE(std::holds_alternative<std::string>(parse({"policy", "--config", "p", "--flavor", "gcs"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse({"policy", "--flavor", "aws"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse({"policy", "--config", "p", "--json"})));
}

}  // namespace
}  // namespace s3proxy
