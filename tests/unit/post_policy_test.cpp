#include "s3proxy/post_policy.hpp"

#include "s3proxy/crypto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace s3proxy::post {
namespace {

namespace json = boost::json;
using std::chrono::system_clock;

// The AWS documentation's example credentials; the policy and its signature were computed
// independently (Python hmac/hashlib) for this test.
constexpr std::string_view kKeyId = "AKIAIOSFODNN7EXAMPLE";
const Secret kSecret{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr std::string_view kPolicy =
    "eyJleHBpcmF0aW9uIjogIjIwMTUtMTItMzBUMTI6MDA6MDAuMDAwWiIsICJjb25kaXRpb25zIjogW3siYnVja2V0IjogInNpZ3Y0ZXhhbXBsZWJ1"
    "Y2tldCJ9LCBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwgeyJhY2wiOiAicHVibGljLXJlYWQifSwgeyJ4LWFtei1jcmVk"
    "ZW50aWFsIjogIkFLSUFJT1NGT0ROTjdFWEFNUExFLzIwMTUxMjI5L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QifSwgeyJ4LWFtei1hbGdvcml0"
    "aG0iOiAiQVdTNC1ITUFDLVNIQTI1NiJ9LCB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiJ9XX0=";
constexpr std::string_view kSignature = "13ed591c0f5e12c985deb7a4d86692c434c9e6e80263b8b183d413359ab0f819";
constexpr std::string_view kUpstreamKeyId = "RGWUPSTREAMKEY";
const Secret kUpstreamSecret{"upstream-secret"};

system_clock::time_point at(std::string_view iso) { return *parse_expiration(iso); }
const system_clock::time_point kBefore = at("2015-12-29T00:00:05Z");

sigv4::KeyLookup lookup() {
  return [](std::string_view id) -> const Secret* { return id == kKeyId ? &kSecret : nullptr; };
}

FormHead example_form() {
  FormHead f;
  f.fields = {{"key", "user/user1/${filename}"},
              {"acl", "public-read"},
              {"x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
              {"x-amz-algorithm", "AWS4-HMAC-SHA256"},
              {"x-amz-date", "20151229T000000Z"},
              {"policy", std::string(kPolicy)},
              {"x-amz-signature", std::string(kSignature)}};
  f.file.filename = "photo.jpg";
  f.file.raw_head = "Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"";
  return f;
}

void set(FormHead& f, std::string_view name, std::string value) {
  for (auto& field : f.fields) {
    if (field.name == name) field.value = std::move(value);
  }
}

S3Error refusal_of(const FormHead& f, system_clock::time_point now = kBefore) {
  auto r = verify(f, lookup(), now);
  EXPECT_FALSE(r.ok());
  return r.ok() ? S3Error::InternalError : r.failure().error;
}

std::string field(const std::vector<Field>& fields, std::string_view name) {
  const Field* f = find_field(fields, name);
  return f ? f->value : std::string("<absent>");
}

json::object decoded_policy(const std::vector<Field>& fields) {
  return json::parse(*crypto::base64_decode(field(fields, "policy"))).as_object();
}

Result<std::vector<Field>> rewritten(const FormHead& f, AclMode mode) {
  auto v = verify(f, lookup(), kBefore);
  EXPECT_TRUE(v.ok());
  const system_clock::time_point now = at("2015-12-29T00:00:07Z");
  return rewrite(f, v.value(), mode, UpstreamSigner{kUpstreamKeyId, kUpstreamSecret, "eu-west-2", now});
}

TEST(PostPolicyVerify, AcceptsTheIndependentlySignedExample) {
  auto v = verify(example_form(), lookup(), kBefore);
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->access_key_id, kKeyId);
  EXPECT_EQ(v->policy.expiration, "2015-12-30T12:00:00.000Z");
  ASSERT_EQ(v->acl.size(), 1u);
  EXPECT_EQ(v->acl[0].first, "x-amz-acl");
}

TEST(PostPolicyVerify, ReplacesFilenameInTheKey) {
  auto v = verify(example_form(), lookup(), kBefore);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->key, "user/user1/photo.jpg");
}

TEST(PostPolicyVerify, RefusesAFileNameThatBringsFilenameBack) {
  FormHead f = example_form();
  f.file.filename = "a${filename}";
  EXPECT_EQ(refusal_of(f), S3Error::InvalidArgument);
}

TEST(PostPolicyVerify, RefusesAnAlteredPolicyOrSignature) {
  FormHead f = example_form();
  set(f, "x-amz-signature", std::string(64, '0'));
  EXPECT_EQ(refusal_of(f), S3Error::SignatureDoesNotMatch);
  FormHead g = example_form();
  set(g, "policy", std::string(kPolicy.substr(0, kPolicy.size() - 4)) + "fQ==");
  EXPECT_EQ(refusal_of(g), S3Error::SignatureDoesNotMatch);
}

TEST(PostPolicyVerify, RefusesAnUnknownKey) {
  FormHead f = example_form();
  set(f, "x-amz-credential", "AKIAOTHER/20151229/us-east-1/s3/aws4_request");
  EXPECT_EQ(refusal_of(f), S3Error::InvalidAccessKeyId);
}

TEST(PostPolicyVerify, RefusesAnExpiredPolicyAsS3Does) {
  auto r = verify(example_form(), lookup(), at("2015-12-30T12:00:01Z"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().error, S3Error::AccessDenied);
  EXPECT_EQ(r.failure().message, "Invalid according to Policy: Policy expired.");
}

TEST(PostPolicyVerify, RefusesAnonymousAndVersionTwoForms) {
  FormHead f;
  f.fields = {{"key", "k"}};
  EXPECT_EQ(refusal_of(f), S3Error::AccessDenied);
  f.fields.push_back({"awsaccesskeyid", "AKID"});
  f.fields.push_back({"signature", "sig"});
  EXPECT_EQ(refusal_of(f), S3Error::InvalidRequest);
}

TEST(PostPolicyVerify, RefusesAMissingKeyField) {
  FormHead f = example_form();
  f.fields.erase(f.fields.begin());
  EXPECT_EQ(refusal_of(f), S3Error::InvalidArgument);
}

TEST(PostPolicyDecode, RefusesWhatIsNotAPolicy) {
  EXPECT_EQ(decode_policy("not base64!").failure().error, S3Error::InvalidPolicyDocument);
  EXPECT_EQ(decode_policy(crypto::base64("[1]")).failure().error, S3Error::InvalidPolicyDocument);
  EXPECT_EQ(decode_policy(crypto::base64(R"({"conditions": []})")).failure().error, S3Error::InvalidPolicyDocument);
  EXPECT_EQ(decode_policy(crypto::base64(R"({"expiration": "tomorrow", "conditions": []})")).failure().error,
            S3Error::InvalidPolicyDocument);
}

TEST(PostPolicyDecode, RefusesConditionObjectsItCannotReadWhole) {
  const auto refused = [](std::string_view conditions) {
    auto r = decode_policy(crypto::base64(R"({"expiration": "2030-01-01T00:00:00Z", "conditions": )" +
                                          std::string(conditions) + "}"));
    return !r.ok() && r.failure().error == S3Error::InvalidPolicyDocument;
  };
  EXPECT_TRUE(refused(R"([{"acl": "private", "key": "k"}])"));
  EXPECT_TRUE(refused(R"([{"acl": 1}])"));
  EXPECT_TRUE(refused(R"([{}])"));
  EXPECT_FALSE(refused(R"([{"acl": "private"}, ["content-length-range", 1, 2]])"));
}

TEST(PostPolicyDecode, ReadsExpirationWithAndWithoutFraction) {
  EXPECT_EQ(parse_expiration("2015-12-30T12:00:00Z"), parse_expiration("2015-12-30T12:00:00.000Z"));
  EXPECT_FALSE(parse_expiration("2015-12-30 12:00:00Z"));
  EXPECT_FALSE(parse_expiration("2015-13-30T12:00:00Z"));
}

TEST(PostPolicyConditions, ReadsBothFormsCaseInsensitively) {
  auto a = field_conditions(json::parse(R"(["starts-with", "$Content-Type", "image/"])"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].name, "content-type");
  EXPECT_TRUE(a[0].starts_with);
  auto o = field_conditions(json::parse(R"({"ACL": "private"})"));
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].name, "acl");
  EXPECT_FALSE(o[0].starts_with);
  EXPECT_TRUE(field_conditions(json::parse(R"(["content-length-range", 1, 10])")).empty());
}

TEST(PostPolicyRewrite, StripModeRemovesTheAclFieldAndItsCondition) {
  auto r = rewritten(example_form(), AclMode::strip);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(field(r.value(), "acl"), "<absent>");
  const auto text = json::serialize(decoded_policy(r.value()));
  EXPECT_EQ(text.find("acl"), std::string::npos) << text;
}

TEST(PostPolicyRewrite, AuditModeKeepsTheAcl) {
  auto r = rewritten(example_form(), AclMode::audit);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(field(r.value(), "acl"), "public-read");
  EXPECT_NE(json::serialize(decoded_policy(r.value())).find(R"({"acl":"public-read"})"), std::string::npos);
}

TEST(PostPolicyRewrite, SignsWithTheUpstreamIdentity) {
  auto r = rewritten(example_form(), AclMode::strip);
  ASSERT_TRUE(r.ok());
  const auto& fields = r.value();
  EXPECT_EQ(field(fields, "x-amz-credential"), "RGWUPSTREAMKEY/20151229/eu-west-2/s3/aws4_request");
  EXPECT_EQ(field(fields, "x-amz-date"), "20151229T000007Z");
  const auto key = sigv4::signing_key(kUpstreamSecret, "20151229", "eu-west-2", "s3");
  EXPECT_EQ(field(fields, "x-amz-signature"), sigv4::signature_hex(key, field(fields, "policy")));
  const auto policy = decoded_policy(fields);
  EXPECT_EQ(policy.at("expiration").as_string(), "2015-12-30T12:00:00.000Z");
  const auto text = json::serialize(policy);
  EXPECT_NE(text.find(R"({"x-amz-credential":"RGWUPSTREAMKEY/20151229/eu-west-2/s3/aws4_request"})"), std::string::npos);
  EXPECT_NE(text.find(R"({"x-amz-date":"20151229T000007Z"})"), std::string::npos);
  EXPECT_EQ(text.find("AKIAIOSFODNN7EXAMPLE"), std::string::npos);
}

TEST(PostPolicyRewrite, SendsTheKeyWithTheFileNameInPlace) {
  auto r = rewritten(example_form(), AclMode::strip);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(field(r.value(), "key"), "user/user1/photo.jpg");
}

TEST(PostPolicyRewrite, ChecksTheConditionOfAStrippedField) {
  FormHead f = example_form();
  set(f, "acl", "private");  // the policy says public-read: S3 would refuse, so does the proxy
  auto r = rewritten(f, AclMode::strip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().error, S3Error::AccessDenied);
  EXPECT_NE(r.failure().message.find("Policy Condition failed"), std::string::npos);
}

TEST(PostPolicyRewrite, RefusesAStrippedFieldNoConditionAllows) {
  FormHead f = example_form();
  f.fields.insert(f.fields.begin() + 1, Field{"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""});
  auto v = verify(f, lookup(), kBefore);
  ASSERT_TRUE(v.ok());
  auto r = rewrite(f, v.value(), AclMode::strip, UpstreamSigner{kUpstreamKeyId, kUpstreamSecret, "us-east-1", kBefore});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().message, "Invalid according to Policy: Extra input fields: x-amz-grant-read");
}

TEST(PostPolicyRewrite, PassesOtherConditionsOnUnchanged) {
  FormHead f = example_form();
  auto v = verify(f, lookup(), kBefore);
  ASSERT_TRUE(v.ok());
  v.value().policy.conditions.push_back(json::parse(R"(["content-length-range", 1, 10])"));
  v.value().policy.conditions.push_back(json::parse(R"(["starts-with", "$Content-Type", "image/"])"));
  auto r = rewrite(f, v.value(), AclMode::strip, UpstreamSigner{kUpstreamKeyId, kUpstreamSecret, "us-east-1", kBefore});
  ASSERT_TRUE(r.ok());
  const auto text = json::serialize(decoded_policy(r.value()));
  EXPECT_NE(text.find(R"(["content-length-range",1,10])"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(["starts-with","$content-type","image/"])"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(["starts-with","$key","user/user1/"])"), std::string::npos) << text;
}

}  // namespace
}  // namespace s3proxy::post
