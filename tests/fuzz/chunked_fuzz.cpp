// libFuzzer harness for the aws-chunked decoder: random bodies, random decoder options and
// random splits of the body into the pieces the HTTP layer would hand over.
//
// Input layout: byte 0 = options, byte 1 = split seed, bytes 2-3 = decoded length
// (little-endian, used when option bit 3 is set), then the body.
//   bit 0 signed chunks (signing context of the AWS documentation example)
//   bit 1 trailer mode
//   bit 2 a declared trailer checksum, algorithm = (byte 0 >> 4) % 5
//   bit 3 x-amz-decoded-content-length from bytes 2-3
#include "s3proxy/chunked.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using s3proxy::chunked::ChainContext;
using s3proxy::chunked::Decoder;
using s3proxy::chunked::Status;

constexpr std::size_t kHeaderBytes = 4;

ChainContext example_context() {
  namespace crypto = s3proxy::crypto;
  auto k = crypto::hmac_sha256("AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524");
  k = crypto::hmac_sha256(crypto::as_view(k), "us-east-1");
  k = crypto::hmac_sha256(crypto::as_view(k), "s3");
  k = crypto::hmac_sha256(crypto::as_view(k), "aws4_request");
  return ChainContext{k, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                      "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"};
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// xorshift32: a small deterministic generator so a crashing input replays exactly.
std::uint32_t next(std::uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderBytes) return 0;
  const std::uint8_t mode = data[0];
  std::uint32_t rng = 0x9e3779b9u ^ data[1];
  const std::uint32_t max_piece = 1u + (data[1] & 0x3f) * 3u;

  static const ChainContext context = example_context();
  Decoder::Options options;
  options.signed_chunks = (mode & 1) != 0;
  options.trailer = (mode & 2) != 0;
  if (options.signed_chunks) options.chain = context;
  if (mode & 4) options.trailer_checksum = static_cast<s3proxy::crypto::ChecksumAlgorithm>((mode >> 4) % 5);
  if (mode & 8) options.decoded_length = data[2] | (static_cast<std::uint64_t>(data[3]) << 8);

  Decoder decoder(std::move(options));
  std::string_view body(reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes);
  std::uint64_t handed_out = 0;
  while (!body.empty() && decoder.status() == Status::need_more) {
    std::string_view piece = body.substr(0, 1 + next(rng) % max_piece);
    body.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto r = decoder.parse(piece);
      check(r.consumed <= piece.size());
      check(r.status == decoder.status());
      check(r.payload.empty() ||
            (r.payload.data() >= piece.data() && r.payload.data() + r.payload.size() <= piece.data() + r.consumed));
      check(r.status != Status::error || decoder.failure().has_value());
      check(r.status != Status::done || r.consumed == piece.size());
      handed_out += r.payload.size();
      piece.remove_prefix(r.consumed);
      if (r.status != Status::need_more) break;
      check(r.consumed > 0);
    }
  }
  check(handed_out <= decoder.decoded_bytes());
  const Status end = decoder.finish();
  check(end != Status::need_more);
  check(end == decoder.status());
  check(end != Status::error || decoder.failure().has_value());
  if (end == Status::done) {
    check(handed_out == decoder.decoded_bytes());
    check(decoder.parse("x").status == Status::error);
  }
  return 0;
}
