#include "s3proxy/crypto.hpp"

#include <gtest/gtest.h>

namespace s3proxy::crypto {
namespace {

// "123456789" is the check input of the CRC catalogue; the digests below are the
// catalogue's check values and the FIPS 180 results for the same bytes.
constexpr std::string_view kCheckInput = "123456789";

std::string hex_of_base64(std::string_view b64) {
  auto bytes = base64_decode(b64);
  EXPECT_TRUE(bytes) << b64;
  return bytes ? hex(*bytes) : std::string{};
}

std::string checksum_of(ChecksumAlgorithm a, std::string_view data) {
  auto c = make_checksum(a);
  c->update(data);
  return c->finish_base64();
}

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DigestMatchesHexForm) { EXPECT_EQ(hex(sha256("abc")), sha256_hex("abc")); }

TEST(Sha256, IncrementalEqualsOneShot) {
  const std::string data(100000, 'q');
  Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 7777) h.update(std::string_view(data).substr(i, 7777));
  EXPECT_EQ(h.finish(), sha256(data));
}

TEST(Sha256, FinishResetsForReuse) {
  Sha256 h;
  h.update("first");
  (void)h.finish();
  h.update("abc");
  EXPECT_EQ(h.finish(), sha256("abc"));
}

TEST(HmacSha256, Rfc4231TestCase2) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256, Rfc4231TestCase1) {
  EXPECT_EQ(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231 test case 6: a key longer than SHA-256's block is hashed first.
TEST(Crypto, HmacSha256HashesKeysLongerThanABlock) {
  EXPECT_EQ(hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// A key of exactly one block is used as it is (RFC 4231 has none; cross-checked with Python's hmac).
TEST(Crypto, HmacSha256TakesAKeyOfExactlyOneBlock) {
  EXPECT_EQ(hex(hmac_sha256(std::string(64, 'k'), "data")),
            "93244b031118b8060c6619e5900fcf916faefb2d8d020fecb22ae0f62275db08");
}

TEST(Hex, EncodesLowerCase) { EXPECT_EQ(hex(std::string_view("\x00\x7f\xab\xff", 4)), "007fabff"); }

TEST(Base64, KnownAnswers) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64_decode(base64(data)), data) << "length " << data.size();
    data.push_back(static_cast<char>(i * 37));
  }
}

TEST(Base64, DecodeRejectsBadLength) { EXPECT_FALSE(base64_decode("Zm9")); }

TEST(Base64, DecodeRejectsBadCharacters) { EXPECT_FALSE(base64_decode("Zm9*")); }

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Checksum, Crc32CheckValue) {
  EXPECT_EQ(hex_of_base64(checksum_of(ChecksumAlgorithm::crc32, kCheckInput)), "cbf43926");
  EXPECT_EQ(checksum_of(ChecksumAlgorithm::crc32, kCheckInput), "y/Q5Jg==");
}

TEST(Checksum, Crc32cCheckValue) {
  EXPECT_EQ(hex_of_base64(checksum_of(ChecksumAlgorithm::crc32c, kCheckInput)), "e3069283");
  EXPECT_EQ(checksum_of(ChecksumAlgorithm::crc32c, kCheckInput), "4waSgw==");
}

TEST(Checksum, Crc64NvmeCheckValue) {
  EXPECT_EQ(hex_of_base64(checksum_of(ChecksumAlgorithm::crc64nvme, kCheckInput)), "ae8b14860a799888");
  EXPECT_EQ(checksum_of(ChecksumAlgorithm::crc64nvme, kCheckInput), "rosUhgp5mIg=");
}

TEST(Checksum, Sha1CheckValue) {
  EXPECT_EQ(hex_of_base64(checksum_of(ChecksumAlgorithm::sha1, kCheckInput)),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441");
}

TEST(Checksum, Sha256CheckValue) {
  EXPECT_EQ(hex_of_base64(checksum_of(ChecksumAlgorithm::sha256, kCheckInput)),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
}

TEST(Checksum, EmptyCrc32IsZero) { EXPECT_EQ(checksum_of(ChecksumAlgorithm::crc32, ""), "AAAAAA=="); }

TEST(Checksum, PiecewiseUpdateEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data.push_back(static_cast<char>(i * 131 + 7));
  for (auto a : {ChecksumAlgorithm::crc32, ChecksumAlgorithm::crc32c, ChecksumAlgorithm::crc64nvme,
                 ChecksumAlgorithm::sha1, ChecksumAlgorithm::sha256}) {
    auto c = make_checksum(a);
    for (std::size_t i = 0; i < data.size(); i += 333) c->update(std::string_view(data).substr(i, 333));
    EXPECT_EQ(c->finish_base64(), checksum_of(a, data)) << checksum_header(a);
  }
}

TEST(Checksum, HeaderNamesRoundTrip) {
  for (auto a : {ChecksumAlgorithm::crc32, ChecksumAlgorithm::crc32c, ChecksumAlgorithm::crc64nvme,
                 ChecksumAlgorithm::sha1, ChecksumAlgorithm::sha256})
    EXPECT_EQ(checksum_from_header(checksum_header(a)), a);
  EXPECT_EQ(checksum_header(ChecksumAlgorithm::crc64nvme), "x-amz-checksum-crc64nvme");
  EXPECT_FALSE(checksum_from_header("x-amz-checksum-md5"));
  EXPECT_FALSE(checksum_from_header("x-amz-checksum-algorithm"));
}

}  // namespace
}  // namespace s3proxy::crypto
