#include "s3proxy/checksums.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy::checksums {
namespace {

using Fields = std::vector<std::pair<std::string_view, std::string_view>>;

// CRC32 of "hello world" as the AWS SDKs send it (base64 of the big-endian value 0x0d4a1185).
constexpr std::string_view kHelloCrc32 = "DUoRhQ==";
// SHA-256 of "hello world", base64.
constexpr std::string_view kHelloSha256 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";

TEST(ChecksumHeaders, EveryChecksumHeaderIsDropped) {
  for (std::string_view n : {"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
                             "x-amz-checksum-sha1", "x-amz-checksum-sha256", "x-amz-checksum-mode",
                             "x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-sdk-checksum-algorithm",
                             "x-amz-trailer"}) {
    EXPECT_TRUE(is_checksum_header(n)) << n;
  }
}

TEST(ChecksumHeaders, OtherHeadersAreKept) {
  for (std::string_view n : {"content-md5", "x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-acl",
                             "x-amz-meta-checksum", "content-type", "x-amz-checksum"}) {
    EXPECT_FALSE(is_checksum_header(n)) << n;
  }
}

TEST(DeclaredChecksums, ReadsValueHeadersInAnyCase) {
  const Fields f{{"X-Amz-Checksum-CRC32", kHelloCrc32}, {"content-type", "text/plain"}};
  const auto d = declared(f);
  ASSERT_TRUE(d.ok()) << d.failure().message;
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ(d.value()[0].algorithm, crypto::ChecksumAlgorithm::crc32);
  EXPECT_EQ(d.value()[0].digest, std::string("\x0d\x4a\x11\x85", 4));
}

TEST(DeclaredChecksums, DescriptiveHeadersDeclareNothing) {
  const Fields f{{"x-amz-checksum-mode", "ENABLED"}, {"x-amz-checksum-algorithm", "CRC32"},
                 {"x-amz-checksum-type", "FULL_OBJECT"}, {"x-amz-sdk-checksum-algorithm", "CRC32"}};
  const auto d = declared(f);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
}

TEST(DeclaredChecksums, ValueOfWrongLengthIsInvalidRequest) {
  const Fields f{{"x-amz-checksum-crc32", kHelloSha256}};
  const auto d = declared(f);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.failure().error, S3Error::InvalidRequest);
  EXPECT_EQ(d.failure().message, "Value for x-amz-checksum-crc32 header is invalid.");
}

TEST(DeclaredChecksums, ValueThatIsNotBase64IsInvalidRequest) {
  const Fields f{{"x-amz-checksum-crc32", "not base64!"}};
  EXPECT_FALSE(declared(f).ok());
}

TEST(DeclaredChecksums, UnknownAlgorithmIsInvalidRequest) {
  const Fields f{{"x-amz-checksum-md7", "AAAA"}};
  const auto d = declared(f);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.failure().error, S3Error::InvalidRequest);
}

TEST(DeclaredChecksums, SameAlgorithmTwiceIsInvalidRequest) {
  const Fields f{{"x-amz-checksum-crc32", kHelloCrc32}, {"x-amz-checksum-crc32", kHelloCrc32}};
  EXPECT_FALSE(declared(f).ok());
}

std::optional<Failure> verify_pieces(const Fields& f, const std::vector<std::string_view>& pieces) {
  const auto d = declared(f);
  EXPECT_TRUE(d.ok());
  Verifier v(d.value());
  for (auto p : pieces) v.update(p);
  return v.finish();
}

TEST(ChecksumVerifier, MatchingCrc32InPiecesPasses) {
  EXPECT_FALSE(verify_pieces({{"x-amz-checksum-crc32", kHelloCrc32}}, {"hel", "lo w", "", "orld"}));
}

TEST(ChecksumVerifier, TwoMatchingChecksumsPass) {
  EXPECT_FALSE(verify_pieces({{"x-amz-checksum-crc32", kHelloCrc32}, {"x-amz-checksum-sha256", kHelloSha256}},
                             {"hello world"}));
}

TEST(ChecksumVerifier, MismatchIsBadDigestNamingTheAlgorithm) {
  const auto f = verify_pieces({{"x-amz-checksum-crc32", kHelloCrc32}}, {"hello World"});
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->error, S3Error::BadDigest);
  EXPECT_EQ(f->message, "The CRC32 you specified did not match the calculated checksum.");
}

TEST(ChecksumVerifier, OneMismatchAmongSeveralFails) {
  const auto f = verify_pieces({{"x-amz-checksum-crc32", kHelloCrc32}, {"x-amz-checksum-sha256", kHelloSha256}},
                               {"hello world!"});
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->error, S3Error::BadDigest);
}

TEST(ChecksumVerifier, EmptyBodyHasItsOwnChecksum) {
  EXPECT_FALSE(verify_pieces({{"x-amz-checksum-crc32", "AAAAAA=="}}, {}));
  EXPECT_TRUE(verify_pieces({{"x-amz-checksum-crc32", kHelloCrc32}}, {}));
}

TEST(PartChecksumScanner, FindsElementInOnePiece) {
  PartChecksumScanner s;
  EXPECT_TRUE(s.feed("<Part><ETag>\"a\"</ETag><ChecksumCRC32>DUoRhQ==</ChecksumCRC32></Part>"));
}

TEST(PartChecksumScanner, FindsElementSplitAcrossPieces) {
  const std::string doc = "<CompleteMultipartUpload><Part><ChecksumCRC32>x</ChecksumCRC32></Part>";
  for (std::size_t cut = 1; cut < doc.size(); ++cut) {
    PartChecksumScanner s;
    const bool first = s.feed(std::string_view(doc).substr(0, cut));
    const bool second = s.feed(std::string_view(doc).substr(cut));
    EXPECT_TRUE(first || second) << "cut at " << cut;
  }
}

TEST(PartChecksumScanner, FindsElementFedByteByByte) {
  const std::string doc = "<Part><ChecksumSHA256>x</ChecksumSHA256></Part>";
  PartChecksumScanner s;
  bool found = false;
  for (char c : doc) found = s.feed(std::string_view(&c, 1)) || found;
  EXPECT_TRUE(found);
}

TEST(PartChecksumScanner, PlainCompleteDocumentPasses) {
  const std::string doc =
      "<CompleteMultipartUpload><Part><ETag>\"0cc175b9c0f1b6a831c399e269772661\"</ETag><PartNumber>1</PartNumber>"
      "</Part></CompleteMultipartUpload>";
  PartChecksumScanner s;
  bool found = false;
  for (std::size_t i = 0; i < doc.size(); i += 5) found = s.feed(std::string_view(doc).substr(i, 5)) || found;
  EXPECT_FALSE(found);
}

}  // namespace
}  // namespace s3proxy::checksums
