#include "s3proxy/s3_error.hpp"

#include <gtest/gtest.h>

namespace s3proxy {
namespace {

// What RGW (and AWS, in the same shape) answers when the proxy's own upstream signature does
// not verify: the proxy's canonical request, string to sign and key id.
constexpr std::string_view kUpstreamSignatureMismatch =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>"
    "<Message>The request signature we calculated does not match.</Message>"
    "<AWSAccessKeyId>RGWTESTERKEY00000001</AWSAccessKeyId>"
    "<StringToSign>AWS4-HMAC-SHA256\n20261130T000000Z\n20261130/us-east-1/s3/aws4_request\nabc</StringToSign>"
    "<SignatureProvided>0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef</SignatureProvided>"
    "<StringToSignBytes>41 57 53</StringToSignBytes>"
    "<CanonicalRequest>PUT\n/media/a.jpg\n\nhost:127.0.0.1:7480\n</CanonicalRequest>"
    "<CanonicalRequestBytes>50 55 54</CanonicalRequestBytes>"
    "<Resource>/media/a.jpg</Resource><RequestId>tx000abc</RequestId><HostId>h1</HostId></Error>";

TEST(SanitizeErrorXml, DropsTheUpstreamsSigningDetails) {
  const auto clean = sanitize_error_xml(kUpstreamSignatureMismatch);
  ASSERT_TRUE(clean.has_value());
  for (std::string_view gone : {"AWSAccessKeyId", "RGWTESTERKEY", "StringToSign", "CanonicalRequest",
                                "SignatureProvided", "0123456789abcdef", "aws4_request", "host:"}) {
    EXPECT_EQ(clean->find(gone), std::string::npos) << gone;
  }
}

TEST(SanitizeErrorXml, KeepsCodeMessageResourceAndRequestId) {
  const auto clean = sanitize_error_xml(kUpstreamSignatureMismatch);
  ASSERT_TRUE(clean.has_value());
  const auto parsed = parse_error_xml(*clean);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->code, "SignatureDoesNotMatch");
  EXPECT_EQ(parsed->message, "The request signature we calculated does not match.");
  EXPECT_NE(clean->find("<Resource>/media/a.jpg</Resource>"), std::string::npos);
  EXPECT_NE(clean->find("<RequestId>tx000abc</RequestId>"), std::string::npos);
  EXPECT_NE(clean->find("<HostId>h1</HostId>"), std::string::npos);
}

TEST(SanitizeErrorXml, KeepsDescriptiveFieldsOfOrdinaryErrors) {
  const auto clean = sanitize_error_xml(
      "<Error><Code>NoSuchKey</Code><Message>m</Message><Key>a&amp;b</Key><BucketName>media</BucketName></Error>");
  ASSERT_TRUE(clean.has_value());
  EXPECT_NE(clean->find("<Key>a&amp;b</Key>"), std::string::npos);
  EXPECT_NE(clean->find("<BucketName>media</BucketName>"), std::string::npos);
}

TEST(SanitizeErrorXml, ADocumentWithOnlyClientFieldsIsPassedOnByteForByte) {
  // As RGW writes a 412: declaration, no newline, its own field order.
  const std::string_view rgw =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code><BucketName>b</BucketName>"
      "<RequestId>tx0001</RequestId><HostId>h-default</HostId></Error>";
  EXPECT_EQ(sanitize_error_xml(rgw), std::string(rgw));
}

TEST(SanitizeErrorXml, ADocumentWithAnythingElseIsRebuilt) {
  const std::string_view doc = "<Error><Code>X</Code><StringToSign>s</StringToSign></Error>";
  const auto clean = sanitize_error_xml(doc);
  ASSERT_TRUE(clean.has_value());
  EXPECT_EQ(clean->find("StringToSign"), std::string::npos);
}

TEST(SanitizeErrorXml, AnythingAroundTheErrorElementIsNotPassedOn) {
  for (std::string_view doc : {
           "<!-- <StringToSign>s</StringToSign> --><Error><Code>X</Code></Error>",
           "<?xml version=\"1.0\"?><Junk/><Error><Code>X</Code></Error>",
           "<Error><Code>X</Code></Error><StringToSign>s</StringToSign>",
       }) {
    const auto clean = sanitize_error_xml(doc);
    ASSERT_TRUE(clean.has_value()) << doc;
    EXPECT_EQ(clean->find("StringToSign"), std::string::npos) << doc;
    EXPECT_EQ(clean->find("Junk"), std::string::npos) << doc;
  }
}

TEST(SanitizeErrorXml, LeavesWhatIsNotAnS3ErrorAlone) {
  EXPECT_FALSE(sanitize_error_xml("<html><body>502 Bad Gateway</body></html>").has_value());
  EXPECT_FALSE(sanitize_error_xml("<Error><Message>no code</Message></Error>").has_value());
  EXPECT_FALSE(sanitize_error_xml("").has_value());
}

}  // namespace
}  // namespace s3proxy
