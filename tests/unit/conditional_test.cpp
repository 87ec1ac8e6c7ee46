#include "s3proxy/conditional.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/request_id.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

using s3proxy::conditional_outcome;
using s3proxy::conditional_outcome_name;
using s3proxy::ConditionalOutcome;

TEST(ConditionalOutcome, NotModifiedIsA304WhateverTheCode) {
  EXPECT_EQ(conditional_outcome(304, ""), ConditionalOutcome::not_modified);
}

TEST(ConditionalOutcome, PreconditionFailedIsA412EvenWithoutABody) {
  EXPECT_EQ(conditional_outcome(412, "PreconditionFailed"), ConditionalOutcome::precondition_failed);
  EXPECT_EQ(conditional_outcome(412, ""), ConditionalOutcome::precondition_failed);  // HEAD
}

TEST(ConditionalOutcome, OnlyTheConditionalConflictCodeOfA409Counts) {
  EXPECT_EQ(conditional_outcome(409, "ConditionalRequestConflict"), ConditionalOutcome::conflict);
  EXPECT_FALSE(conditional_outcome(409, "BucketNotEmpty"));
  EXPECT_FALSE(conditional_outcome(409, "OperationAborted"));
}

TEST(ConditionalOutcome, OtherAnswersAreNotConditionalOutcomes) {
  for (unsigned status : {200u, 206u, 400u, 403u, 404u, 500u}) EXPECT_FALSE(conditional_outcome(status, "")) << status;
}

TEST(ConditionalOutcome, NamesAreTheMetricLabels) {
  EXPECT_EQ(conditional_outcome_name(ConditionalOutcome::not_modified), "not_modified");
  EXPECT_EQ(conditional_outcome_name(ConditionalOutcome::precondition_failed), "precondition_failed");
  EXPECT_EQ(conditional_outcome_name(ConditionalOutcome::conflict), "conflict");
}

TEST(ConditionalMetric, CountedByOperationAndOutcome) {
  s3proxy::Metrics m("1.0");
  m.conditional("PutObject", "precondition_failed");
  m.conditional("PutObject", "precondition_failed");
  m.conditional("GetObject", "not_modified");
  m.conditional("GetObject", "whatever");
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE s3_acl_proxy_conditional_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("s3_acl_proxy_conditional_requests_total{op=\"PutObject\",outcome=\"precondition_failed\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("s3_acl_proxy_conditional_requests_total{op=\"GetObject\",outcome=\"not_modified\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("s3_acl_proxy_conditional_requests_total{op=\"GetObject\",outcome=\"other\"} 1\n"),
            std::string::npos);
}

TEST(RequestId, SixteenUpperCaseHexDigitsLikeS3s) {
  const std::string id = s3proxy::new_request_id();
  ASSERT_EQ(id.size(), 16u);
  EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) { return std::isdigit(c) || (c >= 'A' && c <= 'F'); }));
}

TEST(RequestId, DoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(s3proxy::new_request_id());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RequestId, HostIdIsBase64) {
  const std::string id = s3proxy::new_host_id();
  EXPECT_EQ(id.size(), 48u);
  EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(c) || c == '+' || c == '/' || c == '='; }));
  EXPECT_NE(id, s3proxy::new_host_id());
}

TEST(ConditionalOutcome, EachOutcomeHasItsS3Code) {
  EXPECT_EQ(s3proxy::conditional_s3_code(ConditionalOutcome::not_modified), "NotModified");
  EXPECT_EQ(s3proxy::conditional_s3_code(ConditionalOutcome::precondition_failed), "PreconditionFailed");
  EXPECT_EQ(s3proxy::conditional_s3_code(ConditionalOutcome::conflict), "ConditionalRequestConflict");
}
