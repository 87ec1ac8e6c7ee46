#include "s3proxy/acl_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace s3proxy {
namespace {

using HeaderList = std::vector<std::pair<std::string_view, std::string_view>>;

const HeaderList kNoAclHeaders{{"Host", "127.0.0.1:8080"}, {"Content-Type", "image/png"}};
const HeaderList kAclHeaders{{"Host", "127.0.0.1:8080"},
                             {"X-Amz-Acl", "public-read"},
                             {"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""},
                             {"Content-Type", "image/png"}};

S3Target target(Op op) {
  S3Target t;
  t.op = op;
  t.bucket = "media";
  t.key = "a.png";
  t.acl_subresource = op == Op::PutObjectAcl || op == Op::PutBucketAcl || op == Op::GetObjectAcl;
  return t;
}

// The method each operation is sent with.
std::string_view method_of(Op op) {
  switch (op) {
    case Op::GetObject:
    case Op::GetObjectAcl:
    case Op::GetBucketAcl: return "GET";
    case Op::DeleteObjects:
    case Op::CreateMultipartUpload: return "POST";
    default: return "PUT";
  }
}

AclDecision decide_for(AclMode mode, AclRequests requests, Op op, const HeaderList& headers) {
  return decide(mode, requests, target(op), method_of(op), headers);
}

// --- is_acl_header ---------------------------------------------------------------------

TEST(IsAclHeader, RecognisesCannedAclHeaderInAnyCase) {
  EXPECT_TRUE(is_acl_header("x-amz-acl"));
  EXPECT_TRUE(is_acl_header("X-Amz-Acl"));
  EXPECT_TRUE(is_acl_header("X-AMZ-ACL"));
}

TEST(IsAclHeader, RecognisesEveryGrantHeader) {
  for (const char* name : {"x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp",
                           "X-Amz-Grant-Full-Control", "x-amz-grant-something-new"}) {
    EXPECT_TRUE(is_acl_header(name)) << name;
  }
}

TEST(IsAclHeader, IgnoresOtherHeaders) {
  for (const char* name : {"x-amz-acl-extra", "x-amz-ac", "x-amz-grant-", "x-amz-grant", "x-amz-date",
                           "x-amz-content-sha256", "acl", "x-amz-copy-source", ""}) {
    EXPECT_FALSE(is_acl_header(name)) << name;
  }
}

TEST(ActionName, NamesEveryAction) {
  EXPECT_EQ(action_name(AclAction::none), "none");
  EXPECT_EQ(action_name(AclAction::stripped), "stripped");
  EXPECT_EQ(action_name(AclAction::kept), "kept");
  EXPECT_EQ(action_name(AclAction::rejected), "rejected");
  EXPECT_EQ(action_name(AclAction::accepted_locally), "accepted_locally");
}

// --- decide: PUT ?acl --------------------------------------------------------------------

struct PutAclCase {
  AclMode mode;
  AclRequests requests;
  bool with_headers;
  AclAction action;
  LocalAnswer answer;
  bool warn;
};

class DecidePutAcl : public ::testing::TestWithParam<PutAclCase> {};

TEST_P(DecidePutAcl, FollowsAclRequestsSettingAndNeverStrips) {
  const PutAclCase& c = GetParam();
  for (Op op : {Op::PutObjectAcl, Op::PutBucketAcl}) {
    const auto d = decide_for(c.mode, c.requests, op, c.with_headers ? kAclHeaders : kNoAclHeaders);
    EXPECT_EQ(action_name(d.action), action_name(c.action)) << op_name(op);
    EXPECT_EQ(d.answer, c.answer) << op_name(op);
    EXPECT_EQ(d.warn, c.warn) << op_name(op);
    EXPECT_FALSE(d.strip_headers) << op_name(op);
    EXPECT_EQ(d.headers.size(), c.with_headers ? 2U : 0U) << op_name(op);
  }
}

using enum AclMode;
using enum AclRequests;

INSTANTIATE_TEST_SUITE_P(
    AllCombinations, DecidePutAcl,
    ::testing::Values(
        PutAclCase{strip, reject, true, AclAction::rejected, LocalAnswer::not_implemented, true},
        PutAclCase{strip, reject, false, AclAction::rejected, LocalAnswer::not_implemented, true},
        PutAclCase{strip, accept, true, AclAction::accepted_locally, LocalAnswer::ok, true},
        PutAclCase{strip, accept, false, AclAction::accepted_locally, LocalAnswer::ok, true},
        PutAclCase{strip, forward, true, AclAction::kept, LocalAnswer::none, false},
        PutAclCase{strip, forward, false, AclAction::kept, LocalAnswer::none, false},
        PutAclCase{audit, reject, true, AclAction::rejected, LocalAnswer::not_implemented, true},
        PutAclCase{audit, reject, false, AclAction::rejected, LocalAnswer::not_implemented, true},
        PutAclCase{audit, accept, true, AclAction::accepted_locally, LocalAnswer::ok, true},
        PutAclCase{audit, accept, false, AclAction::accepted_locally, LocalAnswer::ok, true},
        PutAclCase{audit, forward, true, AclAction::kept, LocalAnswer::none, false},
        PutAclCase{audit, forward, false, AclAction::kept, LocalAnswer::none, false}));

// --- decide: every other request -----------------------------------------------------------

struct OtherCase {
  AclMode mode;
  bool with_headers;
  AclAction action;
  bool strip;
};

class DecideOther : public ::testing::TestWithParam<OtherCase> {};

TEST_P(DecideOther, StripsOrKeepsAclHeadersByModeWhateverAclRequestsSays) {
  const OtherCase& c = GetParam();
  for (Op op : {Op::PutObject, Op::CopyObject, Op::CreateMultipartUpload, Op::UploadPart, Op::CreateBucket,
                Op::GetObject, Op::GetObjectAcl, Op::GetBucketAcl, Op::DeleteObjects}) {
    for (AclRequests r : {reject, accept, forward}) {
      const auto d = decide_for(c.mode, r, op, c.with_headers ? kAclHeaders : kNoAclHeaders);
      EXPECT_EQ(action_name(d.action), action_name(c.action)) << op_name(op);
      EXPECT_EQ(d.strip_headers, c.strip) << op_name(op);
      EXPECT_EQ(d.answer, LocalAnswer::none) << op_name(op);
      EXPECT_FALSE(d.warn) << op_name(op);
      EXPECT_EQ(d.headers.size(), c.with_headers ? 2U : 0U) << op_name(op);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCombinations, DecideOther,
                         ::testing::Values(OtherCase{strip, true, AclAction::stripped, true},
                                           OtherCase{strip, false, AclAction::none, false},
                                           OtherCase{audit, true, AclAction::kept, false},
                                           OtherCase{audit, false, AclAction::none, false}));

TEST(Decide, ReportsFoundHeadersLowerCasedInOrder) {
  const auto d = decide_for(strip, reject, Op::PutObject, kAclHeaders);
  ASSERT_EQ(d.headers.size(), 2U);
  EXPECT_EQ(d.headers[0].first, "x-amz-acl");
  EXPECT_EQ(d.headers[0].second, "public-read");
  EXPECT_EQ(d.headers[1].first, "x-amz-grant-read");
  EXPECT_EQ(d.headers[1].second, "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"");
}

TEST(Decide, TrimsSurroundingWhitespaceFromReportedValues) {
  const HeaderList headers{{"x-amz-acl", "  private\t"}};
  const auto d = decide_for(audit, forward, Op::PutObject, headers);
  ASSERT_EQ(d.headers.size(), 1U);
  EXPECT_EQ(d.headers[0].second, "private");
}

TEST(Decide, ReportsRepeatedAclHeadersEach) {
  const HeaderList headers{{"x-amz-grant-read", "id=a"}, {"X-Amz-Grant-Read", "id=b"}};
  const auto d = decide_for(strip, reject, Op::PutObject, headers);
  ASSERT_EQ(d.headers.size(), 2U);
  EXPECT_EQ(d.headers[1].first, "x-amz-grant-read");
  EXPECT_EQ(d.headers[1].second, "id=b");
}

TEST(Decide, GrantHeaderAloneTriggersStrip) {
  const HeaderList headers{{"X-Amz-Grant-Full-Control", "id=owner"}};
  const auto d = decide_for(strip, reject, Op::PutObject, headers);
  EXPECT_EQ(d.action, AclAction::stripped);
  EXPECT_TRUE(d.strip_headers);
}

// --- decide: the acl sub-resource and requests the proxy cannot name -------------------------

// "PUT /b/k?acl&versions" names no S3 operation, yet S3 may still apply its ACL.
S3Target unclassified(bool acl_subresource) {
  S3Target t = target(Op::Unknown);
  t.acl_subresource = acl_subresource;
  return t;
}

TEST(Decide, PutWithAclSubresourceFollowsAclRequestsEvenWhenUnclassified) {
  const auto rejected = decide(strip, reject, unclassified(true), "PUT", kNoAclHeaders);
  EXPECT_EQ(rejected.action, AclAction::rejected);
  EXPECT_EQ(rejected.answer, LocalAnswer::not_implemented);
  const auto accepted = decide(audit, accept, unclassified(true), "PUT", kNoAclHeaders);
  EXPECT_EQ(accepted.answer, LocalAnswer::ok);
  const auto forwarded = decide(strip, forward, unclassified(true), "PUT", kAclHeaders);
  EXPECT_EQ(forwarded.answer, LocalAnswer::none);
  EXPECT_FALSE(forwarded.strip_headers);
}

TEST(Decide, StripModeRefusesUnclassifiedRequestWithAclSubresource) {
  for (std::string_view method : {"DELETE", "POST", "GET", "HEAD"}) {
    const auto d = decide(strip, forward, unclassified(true), method, kNoAclHeaders);
    EXPECT_EQ(d.action, AclAction::rejected) << method;
    EXPECT_EQ(d.answer, LocalAnswer::invalid_request) << method;
    EXPECT_TRUE(d.warn) << method;
  }
}

TEST(Decide, StripModeRefusesUnclassifiedRequestWithAclHeaders) {
  for (std::string_view method : {"PUT", "POST", "DELETE"}) {
    const auto d = decide(strip, reject, unclassified(false), method, kAclHeaders);
    EXPECT_EQ(d.answer, LocalAnswer::invalid_request) << method;
    EXPECT_EQ(d.headers.size(), 2U) << method;
  }
}

TEST(Decide, StripModeForwardsUnclassifiedRequestWithoutAcl) {
  const auto d = decide(strip, reject, unclassified(false), "PUT", kNoAclHeaders);
  EXPECT_EQ(d.action, AclAction::none);
  EXPECT_EQ(d.answer, LocalAnswer::none);
}

TEST(Decide, AuditModeKeepsAndForwardsUnclassifiedRequestWithAcl) {
  const auto d = decide(audit, reject, unclassified(false), "PUT", kAclHeaders);
  EXPECT_EQ(d.action, AclAction::kept);
  EXPECT_EQ(d.answer, LocalAnswer::none);
  EXPECT_FALSE(d.strip_headers);
}

TEST(Decide, ReadingAnAclIsForwarded) {
  const auto d = decide(strip, reject, target(Op::GetObjectAcl), "GET", kNoAclHeaders);
  EXPECT_EQ(d.answer, LocalAnswer::none);
}

}  // namespace
}  // namespace s3proxy
