#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace s3proxy {
namespace {

TEST(UriEncode, KeepsUnreservedAndEncodesTheRestUpperCase) {
  EXPECT_EQ(uri::encode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(uri::encode("a b+c$=&\xc3\xa9", false), "a%20b%2Bc%24%3D%26%C3%A9");
}

TEST(UriEncode, SlashKeptOnlyWhenAsked) {
  EXPECT_EQ(uri::encode("a/b", true), "a/b");
  EXPECT_EQ(uri::encode("a/b", false), "a%2Fb");
}

TEST(UriEncode, EncodesLineBreaksAndNul) {
  EXPECT_EQ(uri::encode(std::string_view("\r\n\0", 3), true), "%0D%0A%00");
}

TEST(UriDecode, DecodesEitherCaseHex) { EXPECT_EQ(uri::decode("%2f%2F%41"), "//A"); }

TEST(UriDecode, KeepsPlusAsPlus) { EXPECT_EQ(uri::decode("a+b"), "a+b"); }

TEST(UriDecode, RejectsBadEscapes) {
  EXPECT_FALSE(uri::decode("%"));
  EXPECT_FALSE(uri::decode("abc%4"));
  EXPECT_FALSE(uri::decode("%zz"));
  EXPECT_FALSE(uri::decode("%4g"));
  EXPECT_FALSE(uri::decode("%%41"));
}

TEST(UriDecode, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(uri::decode(uri::encode(all, false)), all);
  EXPECT_EQ(uri::decode(uri::encode(all, true)), all);
}

std::vector<uri::QueryComponent> components_of(std::string_view raw) {
  std::vector<uri::QueryComponent> out;
  uri::QueryComponents components(raw);
  for (uri::QueryComponent c; components.next(c);) out.push_back(c);
  return out;
}

TEST(QueryComponents, SplitsOnAmpersandsAndTheFirstEqualsSign) {
  const auto c = components_of("acl&versionId=a%2Bb&x=1=2&empty=");
  ASSERT_EQ(c.size(), 4U);
  EXPECT_EQ(c[0].raw_name, "acl");
  EXPECT_EQ(c[0].raw_name, c[0].raw);  // no '=': the name is all of it
  EXPECT_EQ(c[0].raw_value, "");
  EXPECT_EQ(c[1].raw, "versionId=a%2Bb");
  EXPECT_EQ(c[1].raw_name, "versionId");
  EXPECT_EQ(c[1].raw_value, "a%2Bb");
  EXPECT_EQ(c[2].raw_name, "x");
  EXPECT_EQ(c[2].raw_value, "1=2");
  EXPECT_EQ(c[3].raw_name, "empty");  // the '=' is not part of the name
  EXPECT_EQ(c[3].raw_value, "");
}

TEST(QueryComponents, YieldsEmptyComponentsAndNoneForAnEmptyQuery) {
  EXPECT_TRUE(components_of("").empty());
  const auto c = components_of("&a&&");
  ASSERT_EQ(c.size(), 4U);
  EXPECT_EQ(c[0].raw, "");
  EXPECT_EQ(c[1].raw, "a");
  EXPECT_EQ(c[2].raw, "");
  EXPECT_EQ(c[3].raw, "");
}

// The pieces are views of the query itself: joined back with '&' they give it unchanged.
TEST(QueryComponents, JoinedBackGiveTheQueryAsSent) {
  for (std::string_view raw : {"a=1&b", "&", "x-amz-acl=public-read&&X-Amz-Signature=ab%2", "=v&n="}) {
    std::string joined;
    bool first = true;
    for (const auto& c : components_of(raw)) {
      if (!first) joined += '&';
      first = false;
      joined += c.raw;
      EXPECT_EQ(c.raw.data(), c.raw_name.data());
    }
    EXPECT_EQ(joined, raw);
  }
}

TEST(Text, LowerAndCaseInsensitiveCompareAreAsciiOnly) {
  EXPECT_EQ(text::lower("X-Amz-ACL"), "x-amz-acl");
  EXPECT_EQ(text::lower("\xc3\x89"), "\xc3\x89");
  EXPECT_TRUE(text::iequals("Content-Length", "content-length"));
  EXPECT_FALSE(text::iequals("Content-Length", "content-lengt"));
  EXPECT_TRUE(text::istarts_with("X-Amz-Grant-Read", "x-amz-grant-"));
}

TEST(Text, TrimRemovesSpacesAndTabsOnly) { EXPECT_EQ(text::trim(" \t a b\t "), "a b"); }

TEST(Text, ListTokensAreTrimmedLowerCasedAndNonEmpty) {
  const auto t = text::list_tokens(" Keep-Alive , ,TE,");
  ASSERT_EQ(t.size(), 2U);
  EXPECT_EQ(t[0], "keep-alive");
  EXPECT_EQ(t[1], "te");
}

TEST(Text, BoundedCutsLongValuesAndMarksThem) {
  EXPECT_EQ(text::bounded("short"), "short");
  const std::string long_value(10000, 'A');
  const auto cut = text::bounded(long_value);
  EXPECT_EQ(cut.size(), text::kMaxEchoed + 3);
  EXPECT_TRUE(cut.ends_with("..."));
}

}  // namespace
}  // namespace s3proxy
