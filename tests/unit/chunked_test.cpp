#include "s3proxy/chunked.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace s3proxy::chunked {
namespace {

using crypto::ChecksumAlgorithm;

// The AWS documentation's chunked upload example ("Transferring payload in multiple
// chunks"): PUT /examplebucket/chunkObject.txt, 66560 bytes of 'a' in chunks of 65536,
// 1024 and 0 bytes.
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kAmzDate = "20130524T000000Z";
constexpr std::string_view kScope = "20130524/us-east-1/s3/aws4_request";
constexpr std::string_view kSeed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::string_view kSig1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr std::string_view kSig2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr std::string_view kSig3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
constexpr std::uint64_t kDocDecodedLength = 66560;
constexpr std::uint64_t kDocContentLength = 66824;  // the example's signed content-length

// The aws-chunked body of boto3 1.43's PutObject of "hello" over https
// (tests/data/captures/boto3-new-tls.jsonl, key b/grant.bin), with the HTTP chunking removed.
constexpr std::string_view kBoto3HelloBody = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";

crypto::Digest doc_signing_key() {
  auto k = crypto::hmac_sha256("AWS4" + std::string(kSecret), "20130524");
  k = crypto::hmac_sha256(crypto::as_view(k), "us-east-1");
  k = crypto::hmac_sha256(crypto::as_view(k), "s3");
  return crypto::hmac_sha256(crypto::as_view(k), "aws4_request");
}

ChainContext doc_context() {
  return ChainContext{doc_signing_key(), std::string(kAmzDate), std::string(kScope), std::string(kSeed)};
}

// Built from the documented signatures, not from the encoder.
std::string doc_body() {
  std::string body;
  body += "10000;chunk-signature=" + std::string(kSig1) + "\r\n" + std::string(65536, 'a') + "\r\n";
  body += "400;chunk-signature=" + std::string(kSig2) + "\r\n" + std::string(1024, 'a') + "\r\n";
  body += "0;chunk-signature=" + std::string(kSig3) + "\r\n\r\n";
  return body;
}

Decoder::Options signed_options() {
  Decoder::Options o;
  o.signed_chunks = true;
  o.chain = doc_context();
  o.decoded_length = kDocDecodedLength;
  return o;
}

Decoder::Options unsigned_trailer_options(ChecksumAlgorithm alg, std::optional<std::uint64_t> length = {}) {
  Decoder::Options o;
  o.trailer = true;
  o.trailer_checksum = alg;
  o.decoded_length = length;
  return o;
}

struct Outcome {
  std::string payload;
  Status status;
  std::optional<Failure> failure;
};

// Feeds `pieces` in order as the HTTP layer would, then signals the end of the body.
Outcome feed(Decoder& d, const std::vector<std::string_view>& pieces, bool end_of_body = true) {
  std::string out;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      const ParseResult r = d.parse(piece);
      EXPECT_LE(r.consumed, piece.size());
      if (!r.payload.empty()) {
        EXPECT_GE(r.payload.data(), piece.data()) << "payload must point into the input";
        EXPECT_LE(r.payload.data() + r.payload.size(), piece.data() + piece.size());
      }
      out.append(r.payload);
      piece.remove_prefix(r.consumed);
      if (r.status != Status::need_more) break;
      if (r.consumed == 0) {
        ADD_FAILURE() << "parse made no progress";
        break;
      }
    }
    if (d.status() != Status::need_more) break;
  }
  if (end_of_body && d.status() == Status::need_more) d.finish();
  return {out, d.status(), d.failure()};
}

Outcome feed_whole(Decoder& d, std::string_view body, bool end_of_body = true) {
  return feed(d, {body}, end_of_body);
}

std::vector<std::string_view> byte_pieces(std::string_view body) {
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < body.size(); ++i) pieces.push_back(body.substr(i, 1));
  return pieces;
}

std::vector<std::string_view> random_pieces(std::string_view body, std::mt19937& rng, std::size_t max_piece) {
  std::vector<std::string_view> pieces;
  std::uniform_int_distribution<std::size_t> len(1, max_piece);
  while (!body.empty()) {
    std::size_t n = std::min(len(rng), body.size());
    pieces.push_back(body.substr(0, n));
    body.remove_prefix(n);
  }
  return pieces;
}

// A signed body cut into chunk_size pieces by the encoder.
std::string encode(const ChainContext& ctx, std::string_view payload, std::size_t chunk_size) {
  SignedChunkEncoder enc(ctx);
  std::string out;
  for (std::size_t i = 0; i < payload.size(); i += chunk_size) {
    std::string_view piece = payload.substr(i, chunk_size);
    out += enc.chunk_header(piece);
    out.append(piece);
    out += "\r\n";
  }
  return out + enc.final_chunk();
}

std::string random_bytes(std::size_t n, std::mt19937& rng) {
  std::string s(n, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : s) c = static_cast<char>(byte(rng));
  return s;
}

std::string unsigned_trailer_body(std::string_view payload, std::string_view trailer_lines) {
  std::string body;
  if (!payload.empty()) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
    body += size;
    body.append(payload);
    body += "\r\n";
  }
  return body + "0\r\n" + std::string(trailer_lines) + "\r\n";
}

// A STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body of `payload` in one chunk.
std::string signed_trailer_body(const ChainContext& ctx, std::string_view payload, std::string_view trailer_name,
                                std::string_view trailer_value) {
  SignedChunkEncoder enc(ctx);
  std::string body = enc.chunk_header(payload) + std::string(payload) + "\r\n";
  const std::string final_line = enc.chunk_header(0, crypto::sha256(""));
  body += final_line;
  const std::string final_sig = final_line.substr(final_line.find('=') + 1, kSignatureHexLength);
  const std::string canonical = std::string(trailer_name) + ":" + std::string(trailer_value) + "\n";
  body += std::string(trailer_name) + ":" + std::string(trailer_value) + "\r\n";
  body += "x-amz-trailer-signature:" + trailer_signature(ctx, final_sig, canonical) + "\r\n\r\n";
  return body;
}

Decoder::Options signed_trailer_options(ChecksumAlgorithm alg) {
  Decoder::Options o;
  o.signed_chunks = true;
  o.trailer = true;
  o.chain = doc_context();
  o.trailer_checksum = alg;
  return o;
}

void expect_error(const Outcome& out, S3Error error) {
  EXPECT_EQ(out.status, Status::error);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.failure->error, error) << out.failure->message;
}

// --- signatures ------------------------------------------------------------------------

TEST(ChunkSignature, MatchesAwsDocumentationChain) {
  const ChainContext ctx = doc_context();
  const std::string s1 = chunk_signature(ctx, kSeed, std::string(65536, 'a'));
  EXPECT_EQ(s1, kSig1);
  const std::string s2 = chunk_signature(ctx, s1, std::string(1024, 'a'));
  EXPECT_EQ(s2, kSig2);
  EXPECT_EQ(chunk_signature(ctx, s2, ""), kSig3);
}

TEST(ChunkSignature, DigestOverloadAgreesWithDataOverload) {
  const ChainContext ctx = doc_context();
  EXPECT_EQ(chunk_signature(ctx, kSeed, crypto::sha256(std::string(65536, 'a'))), kSig1);
}

TEST(TrailerSignature, SignsTheDocumentedStringToSign) {
  const ChainContext ctx = doc_context();
  const std::string canonical = "x-amz-checksum-crc32c:sOO8/Q==\n";
  const std::string sts = "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
                          std::string(kSig3) + "\n" + crypto::sha256_hex(canonical);
  EXPECT_EQ(trailer_signature(ctx, kSig3, canonical),
            crypto::hex(crypto::hmac_sha256(crypto::as_view(ctx.signing_key), sts)));
}

TEST(CanonicalTrailer, IsLowerCaseNameColonTrimmedValueNewlineWithoutSignature) {
  const std::vector<std::pair<std::string, std::string>> trailers = {
      {"X-Amz-Checksum-CRC32", " NhCmhg== "}, {"x-amz-trailer-signature", "abc"}, {"x-amz-meta-a", "b"}};
  EXPECT_EQ(canonical_trailer(trailers), "x-amz-checksum-crc32:NhCmhg==\nx-amz-meta-a:b\n");
}

// --- encoder ---------------------------------------------------------------------------

TEST(SignedChunkEncoder, ReproducesAwsDocumentationBodyByteForByte) {
  const std::string body = encode(doc_context(), std::string(kDocDecodedLength, 'a'), 65536);
  EXPECT_EQ(body.size(), kDocContentLength);
  EXPECT_EQ(body, doc_body());
}

TEST(SignedChunkEncoder, EncodedLengthOfDocumentationExampleIsItsContentLength) {
  EXPECT_EQ(SignedChunkEncoder::encoded_length(kDocDecodedLength, 65536), kDocContentLength);
}

TEST(SignedChunkEncoder, EncodedLengthMatchesEncodedBytes) {
  std::mt19937 rng(7);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{16}, std::size_t{4096}, std::size_t{65536}}) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, chunk - 1, chunk, chunk + 1, 2 * chunk, 3 * chunk + 5,
                             std::size_t{70000}}) {
      const std::string body = encode(doc_context(), random_bytes(size, rng), chunk);
      EXPECT_EQ(SignedChunkEncoder::encoded_length(size, chunk), body.size()) << "size " << size << " chunk " << chunk;
    }
  }
}

TEST(SignedChunkEncoder, EncodedLengthWithChunkSizeZeroIsOneChunk) {
  const std::string body = encode(doc_context(), std::string(1000, 'x'), 1000);
  EXPECT_EQ(SignedChunkEncoder::encoded_length(1000, 0), body.size());
  EXPECT_EQ(SignedChunkEncoder::encoded_length(0, 0), 86u);
}

TEST(SignedChunkEncoder, FinalChunkOfEmptyBodyIsSignedOverEmptyData) {
  SignedChunkEncoder enc(doc_context());
  EXPECT_EQ(enc.final_chunk(), "0;chunk-signature=" + chunk_signature(doc_context(), kSeed, "") + "\r\n\r\n");
}

TEST(SignedChunkEncoder, HeaderForPrecomputedHashEqualsHeaderForData) {
  SignedChunkEncoder a(doc_context());
  SignedChunkEncoder b(doc_context());
  const std::string data(65536, 'a');
  const std::string via_data = a.chunk_header(data);
  EXPECT_EQ(via_data, b.chunk_header(data.size(), crypto::sha256(data)));
  EXPECT_EQ(via_data, "10000;chunk-signature=" + std::string(kSig1) + "\r\n");
}

// --- decoder: signed chunks ------------------------------------------------------------

TEST(Decoder, DecodesAwsDocumentationExampleWhole) {
  Decoder d(signed_options());
  const std::string body = doc_body();
  const Outcome out = feed_whole(d, body, false);
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload, std::string(kDocDecodedLength, 'a'));
  EXPECT_EQ(d.decoded_bytes(), kDocDecodedLength);
}

TEST(Decoder, DecodesAwsDocumentationExampleByteByByte) {
  Decoder d(signed_options());
  const std::string body = doc_body();
  const Outcome out = feed(d, byte_pieces(body), false);
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload, std::string(kDocDecodedLength, 'a'));
}

TEST(Decoder, DecodesAwsDocumentationExampleInRandomSplits) {
  const std::string body = doc_body();
  std::mt19937 rng(20130524);
  for (int i = 0; i < 300; ++i) {
    Decoder d(signed_options());
    const Outcome out = feed(d, random_pieces(body, rng, i % 2 ? 97 : 9000), false);
    ASSERT_EQ(out.status, Status::done) << "iteration " << i;
    ASSERT_EQ(out.payload, std::string(kDocDecodedLength, 'a')) << "iteration " << i;
  }
}

TEST(Decoder, HandsOutAtMostOnePayloadSpanPerCall) {
  Decoder d(signed_options());
  const std::string body = doc_body();
  const ParseResult first = d.parse(body);
  EXPECT_EQ(first.status, Status::need_more);
  EXPECT_EQ(first.payload.size(), 65536u);
  EXPECT_EQ(first.payload.data(), body.data() + body.find("\r\n") + 2);
  EXPECT_EQ(first.consumed, body.find("\r\n") + 2 + 65536);
}

TEST(Decoder, ReportsTheHashOfEachChunkWithTheSpanThatCompletesIt) {
  const std::string body = doc_body();
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    Decoder d(signed_options());
    std::vector<std::pair<std::uint64_t, crypto::Digest>> reported;
    for (std::string_view piece : random_pieces(body, rng, 1 + round * 4000)) {
      while (!piece.empty()) {
        const ParseResult r = d.parse(piece);
        if (r.chunk_sha256) reported.emplace_back(r.chunk_size, *r.chunk_sha256);
        if (!r.chunk_sha256) EXPECT_EQ(r.chunk_size, 0u);
        piece.remove_prefix(r.consumed);
        if (r.status != Status::need_more) break;
      }
    }
    ASSERT_EQ(d.status(), Status::done);
    ASSERT_EQ(reported.size(), 2u) << "one report per data chunk, none for the final chunk";
    EXPECT_EQ(reported[0].first, 65536u);
    EXPECT_EQ(reported[0].second, crypto::sha256(std::string(65536, 'a')));
    EXPECT_EQ(reported[1].first, 1024u);
    EXPECT_EQ(reported[1].second, crypto::sha256(std::string(1024, 'a')));
  }
}

TEST(Decoder, ReportsNoHashForUnsignedChunks) {
  const std::string body = unsigned_trailer_body("hello", "x-amz-checksum-crc32:NhCmhg==\r\n");
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const ParseResult r = d.parse(body);
  EXPECT_EQ(r.payload, "hello");
  EXPECT_FALSE(r.chunk_sha256.has_value());
}

TEST(Decoder, RejectsTamperedChunkData) {
  std::string body = doc_body();
  body[body.find("\r\n") + 2 + 1000] = 'b';
  Decoder d(signed_options());
  const Outcome out = feed_whole(d, body);
  expect_error(out, S3Error::SignatureDoesNotMatch);
  EXPECT_TRUE(out.failure->message.starts_with("The chunk signature we calculated does not match"));
  EXPECT_EQ(out.failure->message.find(kSig1), std::string::npos) << "no signature in messages";
}

TEST(Decoder, WithholdsTheSpanThatCompletesABadChunk) {
  std::string body = doc_body();
  body[body.find("\r\n") + 2 + 1000] = 'b';
  Decoder d(signed_options());
  const ParseResult r = d.parse(body);
  EXPECT_EQ(r.status, Status::error);
  EXPECT_TRUE(r.payload.empty());
}

TEST(Decoder, RejectsTamperedChunkSignature) {
  std::string body = doc_body();
  body[body.find(kSig2)] = kSig2[0] == '0' ? '1' : '0';
  Decoder d(signed_options());
  expect_error(feed_whole(d, body), S3Error::SignatureDoesNotMatch);
}

TEST(Decoder, RejectsTamperedFinalChunkSignature) {
  std::string body = doc_body();
  body[body.find(kSig3) + 63] = kSig3[63] == '9' ? '8' : '9';
  Decoder d(signed_options());
  expect_error(feed_whole(d, body), S3Error::SignatureDoesNotMatch);
}

TEST(Decoder, RejectsChunksSignedWithAnotherSeed) {
  ChainContext other = doc_context();
  other.seed_signature = std::string(64, '0');
  Decoder d(signed_options());
  expect_error(feed_whole(d, encode(other, std::string(kDocDecodedLength, 'a'), 65536)),
               S3Error::SignatureDoesNotMatch);
}

TEST(Decoder, RejectsMissingChunkSignatureInSignedMode) {
  Decoder::Options o = signed_options();
  o.decoded_length = 5;
  Decoder d(std::move(o));
  expect_error(feed_whole(d, "5\r\nhello\r\n0\r\n\r\n"), S3Error::SignatureDoesNotMatch);
}

TEST(Decoder, SignedModeWithoutSigningContextIsAnError) {
  Decoder::Options o;
  o.signed_chunks = true;
  Decoder d(std::move(o));
  EXPECT_EQ(d.status(), Status::error);
  EXPECT_EQ(d.parse("0\r\n\r\n").status, Status::error);
}

TEST(Decoder, IgnoresOtherChunkExtensionsInSignedMode) {
  std::string body = doc_body();
  body.insert(body.find(";chunk-signature"), ";foo=bar");
  Decoder d(signed_options());
  const Outcome out = feed_whole(d, body);
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload.size(), kDocDecodedLength);
}

TEST(Decoder, AcceptsSignedBodyEndingWithoutFinalBlankLine) {
  std::string body = doc_body();
  body.resize(body.size() - 2);
  Decoder d(signed_options());
  EXPECT_EQ(feed_whole(d, body, false).status, Status::need_more);
  EXPECT_EQ(d.finish(), Status::done);
}

TEST(Decoder, RoundTripsEncoderOutputInRandomSplits) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> size(0, 20000);
  std::uniform_int_distribution<std::size_t> chunk(1, 9000);
  for (int i = 0; i < 100; ++i) {
    const std::string payload = random_bytes(size(rng), rng);
    const std::string body = encode(doc_context(), payload, chunk(rng));
    Decoder::Options o = signed_options();
    o.decoded_length = payload.size();
    Decoder d(std::move(o));
    const Outcome out = feed(d, random_pieces(body, rng, 1 + i * 50));
    ASSERT_EQ(out.status, Status::done) << "iteration " << i << ": " << (out.failure ? out.failure->message : "");
    ASSERT_EQ(out.payload, payload) << "iteration " << i;
  }
}

TEST(Decoder, DecodesSignedEmptyBody) {
  SignedChunkEncoder enc(doc_context());
  Decoder::Options o = signed_options();
  o.decoded_length = 0;
  Decoder d(std::move(o));
  const Outcome out = feed_whole(d, enc.final_chunk());
  EXPECT_EQ(out.status, Status::done);
  EXPECT_TRUE(out.payload.empty());
}

// --- decoder: lengths and framing ------------------------------------------------------

TEST(Decoder, RejectsBodyShorterThanDecodedLength) {
  Decoder::Options o = signed_options();
  o.decoded_length = kDocDecodedLength + 1;
  Decoder d(std::move(o));
  expect_error(feed_whole(d, doc_body()), S3Error::IncompleteBody);
}

TEST(Decoder, RejectsChunkBeyondDecodedLengthBeforeHandingItOut) {
  Decoder::Options o = signed_options();
  o.decoded_length = 1000;
  Decoder d(std::move(o));
  const std::string body = doc_body();
  const ParseResult r = d.parse(body);
  EXPECT_EQ(r.status, Status::error);
  EXPECT_TRUE(r.payload.empty());
  EXPECT_EQ(d.failure()->error, S3Error::IncompleteBody);
}

TEST(Decoder, RejectsBodyEndingMidChunkAtFinish) {
  const std::string body = doc_body();
  Decoder d(signed_options());
  expect_error(feed_whole(d, std::string_view(body).substr(0, 5000)), S3Error::IncompleteBody);
}

TEST(Decoder, RejectsOverlongSizeLine) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32));
  const std::string line = "5;" + std::string(kMaxChunkLine, 'x');
  const Outcome out = feed(d, byte_pieces(line), false);
  expect_error(out, S3Error::InvalidRequest);
}

TEST(Decoder, AcceptsSizeLineAtTheLimit) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32));
  std::string line = "5;x=" ;
  line += std::string(kMaxChunkLine - line.size(), 'y') + "\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
  EXPECT_EQ(feed_whole(d, line).status, Status::done);
}

TEST(Decoder, RejectsNonHexSize) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "5g\r\nhello\r\n0\r\n\r\n"), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsSizeWithMoreThanSixteenDigits) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "00000000000000005\r\nhello\r\n0\r\n\r\n"), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsEmptySize) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, ";a=b\r\nhello\r\n0\r\n\r\n"), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsChunkDataNotFollowedByCrlf) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "5\r\nhello!\r\n0\r\n\r\n"), S3Error::IncompleteBody);
}

TEST(Decoder, RejectsBareLineFeed) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "5\nhello\r\n0\r\n\r\n"), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsBytesAfterTheEnd) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "5\r\nhello\r\n0\r\n\r\nX"), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsBytesInALaterCallAfterTheEnd) {
  Decoder d(Decoder::Options{});
  EXPECT_EQ(d.parse("0\r\n\r\n").status, Status::done);
  EXPECT_EQ(d.parse("0").status, Status::error);
}

TEST(Decoder, RejectsTrailersWhenNoTrailerWasAnnounced) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, kBoto3HelloBody), S3Error::InvalidRequest);
}

TEST(Decoder, RejectsChunkSizesOverflowingSixtyFourBits) {
  Decoder d(Decoder::Options{});
  expect_error(feed_whole(d, "2\r\nab\r\nffffffffffffffff\r\n"), S3Error::InvalidRequest);
}

// --- decoder: unsigned payload with trailer --------------------------------------------

TEST(Decoder, DecodesBoto3UnsignedTrailerBody) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const Outcome out = feed_whole(d, kBoto3HelloBody, false);
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload, "hello");
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0].first, "x-amz-checksum-crc32");
  EXPECT_EQ(d.trailers()[0].second, "NhCmhg==");
}

TEST(Decoder, DecodesJsSdkBodySplitAtItsHttpChunks) {
  // aws-sdk-js v3 sends the size line, the data, its CRLF, the final chunk, the trailer
  // and the closing CRLF as separate HTTP chunks (tests/data/captures/js.jsonl).
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const Outcome out = feed(d, {"5\r\n", "hello", "\r\n", "0\r\n", "x-amz-checksum-crc32:NhCmhg==\r\n", "\r\n"}, false);
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload, "hello");
}

TEST(Decoder, DecodesLargeUnsignedTrailerBodyInRandomSplits) {
  std::mt19937 rng(10240);
  const std::string payload = random_bytes(3 * 10240 + 17, rng);
  auto crc = crypto::make_checksum(ChecksumAlgorithm::crc32);
  crc->update(payload);
  std::string body;
  for (std::size_t i = 0; i < payload.size(); i += 10240) {
    const std::string piece = payload.substr(i, 10240);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    body += size + piece + "\r\n";
  }
  body += "0\r\nx-amz-checksum-crc32:" + crc->finish_base64() + "\r\n\r\n";
  for (int i = 0; i < 50; ++i) {
    Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, payload.size()));
    const Outcome out = feed(d, random_pieces(body, rng, 1 + i * 200));
    ASSERT_EQ(out.status, Status::done) << "iteration " << i;
    ASSERT_EQ(out.payload, payload);
  }
}

struct ChecksumCase {
  ChecksumAlgorithm algorithm;
  std::string_view good_value;  // of "hello", computed independently of the product
};

void PrintTo(const ChecksumCase& c, std::ostream* os) { *os << crypto::checksum_header(c.algorithm); }

class TrailerChecksum : public ::testing::TestWithParam<ChecksumCase> {};

std::string trailer_line(const ChecksumCase& c, std::string_view value) {
  return std::string(crypto::checksum_header(c.algorithm)) + ":" + std::string(value) + "\r\n";
}

TEST_P(TrailerChecksum, AcceptsMatchingValue) {
  Decoder d(unsigned_trailer_options(GetParam().algorithm, 5));
  const Outcome out = feed_whole(d, unsigned_trailer_body("hello", trailer_line(GetParam(), GetParam().good_value)));
  EXPECT_EQ(out.status, Status::done) << (out.failure ? out.failure->message : "");
}

TEST_P(TrailerChecksum, RejectsMismatchingValueAsBadDigest) {
  Decoder d(unsigned_trailer_options(GetParam().algorithm, 6));
  expect_error(feed_whole(d, unsigned_trailer_body("hello!", trailer_line(GetParam(), GetParam().good_value))),
               S3Error::BadDigest);
}

TEST_P(TrailerChecksum, RejectsValueOfAnotherAlgorithmAsMalformedTrailer) {
  const ChecksumAlgorithm other =
      GetParam().algorithm == ChecksumAlgorithm::crc32 ? ChecksumAlgorithm::sha256 : ChecksumAlgorithm::crc32;
  Decoder d(unsigned_trailer_options(other, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", trailer_line(GetParam(), GetParam().good_value))),
               S3Error::MalformedTrailerError);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, TrailerChecksum,
                         ::testing::Values(ChecksumCase{ChecksumAlgorithm::crc32, "NhCmhg=="},
                                           ChecksumCase{ChecksumAlgorithm::crc32c, "mnG7TA=="},
                                           ChecksumCase{ChecksumAlgorithm::crc64nvme, "M3eFcAZSQlc="},
                                           ChecksumCase{ChecksumAlgorithm::sha1, "qvTGHdzF6KLavt4PO0gs2a6pQ00="},
                                           ChecksumCase{ChecksumAlgorithm::sha256,
                                                        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}),
                         [](const ::testing::TestParamInfo<ChecksumCase>& info) {
                           return std::string(crypto::checksum_header(info.param.algorithm).substr(15));
                         });

TEST(Decoder, RejectsMissingDeclaredTrailerChecksum) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "")), S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsTrailerLineWithoutColon) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "x-amz-checksum-crc32 NhCmhg==\r\n")),
               S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsRepeatedTrailer) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "x-amz-checksum-crc32:NhCmhg==\r\n"
                                                            "x-amz-checksum-crc32:NhCmhg==\r\n")),
               S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsTooManyTrailers) {
  std::string lines = "x-amz-checksum-crc32:NhCmhg==\r\n";
  for (std::size_t i = 0; i < kMaxTrailers; ++i) lines += "x-amz-meta-" + std::to_string(i) + ":v\r\n";
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", lines)), S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsOverlongTrailerLine) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "x-amz-checksum-crc32:NhCmhg==\r\nx-amz-meta-a:" +
                                                                std::string(kMaxTrailerLine, 'v') + "\r\n")),
               S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsTrailerSectionOverItsTotalLimit) {
  std::string lines = "x-amz-checksum-crc32:NhCmhg==\r\n";
  for (std::size_t i = 0; i < kMaxTrailers - 1; ++i)
    lines += "x-amz-meta-" + std::to_string(i) + ":" + std::string(kMaxTrailerLine - 20, 'v') + "\r\n";
  ASSERT_GT(lines.size(), kMaxTrailerBytes);
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", lines)), S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsTrailerSignatureOnUnsignedPayload) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "x-amz-checksum-crc32:NhCmhg==\r\n"
                                                            "x-amz-trailer-signature:" + std::string(64, 'a') + "\r\n")),
               S3Error::MalformedTrailerError);
}

// A trailer x-amz-trailer did not declare was not covered by the request's signature.
TEST(Decoder, RefusesUndeclaredTrailers) {
  Decoder::Options o;
  o.trailer = true;
  Decoder d(std::move(o));
  expect_error(feed_whole(d, unsigned_trailer_body("hello", "X-Amz-Meta-Color:  blue \r\n")),
               S3Error::MalformedTrailerError);
  Decoder declared(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(declared, unsigned_trailer_body("hello", "x-amz-checksum-crc32:NhCmhg==\r\n"
                                                                   "x-amz-meta-color:blue\r\n")),
               S3Error::MalformedTrailerError);
}

TEST(Decoder, KeepsTheDeclaredTrailerWithALowerCaseName) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const Outcome out = feed_whole(d, unsigned_trailer_body("hello", "X-Amz-Checksum-CRC32:  NhCmhg== \r\n"));
  EXPECT_EQ(out.status, Status::done);
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0], (std::pair<std::string, std::string>{"x-amz-checksum-crc32", "NhCmhg=="}));
}

TEST(Decoder, AcceptsTrailersWithoutClosingCrlfAtEndOfBody) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const std::string body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n";
  EXPECT_EQ(feed_whole(d, body, false).status, Status::need_more);
  EXPECT_EQ(d.finish(), Status::done);
}

TEST(Decoder, ChecksTheChecksumOfTrailersWithoutClosingCrlf) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"), S3Error::BadDigest);
}

TEST(Decoder, RejectsBodyCutInsideTrailerLine) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhC"), S3Error::IncompleteBody);
}

TEST(Decoder, RejectsBodyCutBeforeDeclaredTrailer) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  expect_error(feed_whole(d, "5\r\nhello\r\n0\r\n"), S3Error::IncompleteBody);
}

TEST(Decoder, IgnoresChunkExtensionsInUnsignedMode) {
  Decoder d(unsigned_trailer_options(ChecksumAlgorithm::crc32, 5));
  const Outcome out = feed_whole(d, "5;foo=bar;baz\r\nhello\r\n0;x=y\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n");
  EXPECT_EQ(out.status, Status::done);
  EXPECT_EQ(out.payload, "hello");
}

// --- decoder: signed payload with trailer ----------------------------------------------

TEST(Decoder, AcceptsSignedTrailerRoundTrip) {
  const std::string body =
      signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "NhCmhg==");
  std::mt19937 rng(1);
  for (int i = 0; i < 50; ++i) {
    Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
    const Outcome out = feed(d, random_pieces(body, rng, 1 + i), false);
    ASSERT_EQ(out.status, Status::done) << (out.failure ? out.failure->message : "");
    ASSERT_EQ(out.payload, "hello");
  }
}

TEST(Decoder, RejectsTamperedSignedTrailerValue) {
  std::string body = signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "NhCmhg==");
  body.replace(body.find("NhCmhg=="), 8, "AAAAAA==");
  Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
  expect_error(feed_whole(d, body), S3Error::SignatureDoesNotMatch);
}

TEST(Decoder, RejectsWrongChecksumUnderValidTrailerSignature) {
  const std::string body = signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "AAAAAA==");
  Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
  expect_error(feed_whole(d, body), S3Error::BadDigest);
}

TEST(Decoder, RejectsSignedTrailerWithoutTrailerSignature) {
  std::string body = signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "NhCmhg==");
  const std::size_t at = body.find("x-amz-trailer-signature");
  body.erase(at, body.find("\r\n", at) + 2 - at);
  Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
  expect_error(feed_whole(d, body), S3Error::MalformedTrailerError);
}

TEST(Decoder, RejectsTrailerAfterTrailerSignature) {
  std::string body = signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "NhCmhg==");
  body.insert(body.size() - 2, "x-amz-meta-a:b\r\n");
  Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
  expect_error(feed_whole(d, body), S3Error::MalformedTrailerError);
}

TEST(Decoder, AcceptsSignedTrailerWithoutClosingCrlfAtEndOfBody) {
  std::string body = signed_trailer_body(doc_context(), "hello", "x-amz-checksum-crc32", "NhCmhg==");
  body.resize(body.size() - 2);
  Decoder d(signed_trailer_options(ChecksumAlgorithm::crc32));
  EXPECT_EQ(feed_whole(d, body).status, Status::done);
}

}  // namespace
}  // namespace s3proxy::chunked
