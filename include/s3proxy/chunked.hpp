#pragma once
// aws-chunked bodies: an incremental decoder that verifies the chunk-signature chain and
// the trailing checksum, and the encoder for the proxy's own signed chunks.
//
// Wire formats (AWS S3 API reference, "Transferring payload in multiple chunks" and
// "Signature calculations for trailing headers"):
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          hex(size);chunk-signature=SIG\r\n DATA \r\n ...
//                                               0;chunk-signature=SIG\r\n \r\n
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  same chunks, then after the final chunk line:
//                                               name:value\r\n ... x-amz-trailer-signature:SIG\r\n \r\n
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          hex(size)\r\n DATA \r\n ... 0\r\n name:value\r\n ... \r\n
#include "s3proxy/crypto.hpp"
#include "s3proxy/s3_error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy::chunked {

// Every size below is read from the client, so each is bounded before anything is held.

// A size line with a signature is at most 16 + 17 + 64 = 97 bytes; 1 KiB leaves room for
// extensions some clients add while keeping what one connection can make us hold small.
inline constexpr std::size_t kMaxChunkLine = 1024;
// 16 hex digits fill a uint64_t exactly, so parsing the size can never overflow.
inline constexpr std::size_t kMaxChunkSizeDigits = 16;
// One trailer line carries one checksum (the longest, sha256, is 44 base64 characters) or
// the 64-hex trailer signature; 1 KiB is ample.
inline constexpr std::size_t kMaxTrailerLine = 1024;
// The whole trailer section: S3 clients send one checksum and at most one signature.
inline constexpr std::size_t kMaxTrailerBytes = 8192;
// Number of trailer lines, so many tiny lines cannot grow the trailer list either.
inline constexpr std::size_t kMaxTrailers = 16;
// A chunk or trailer signature is a lower-case hex HMAC-SHA256.
inline constexpr std::size_t kSignatureHexLength = 64;

// What the verification of the request's header signature hands on to the chunk chain.
struct ChainContext {
  crypto::Digest signing_key;  // HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request"
  std::string amz_date;        // x-amz-date, e.g. 20130524T000000Z
  std::string scope;           // 20130524/us-east-1/s3/aws4_request
  std::string seed_signature;  // the request's header signature (hex)
};

// Chunk string to sign: "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" previous "\n"
// hex(sha256("")) "\n" hex(sha256(chunk data)); the result is hex(hmac(signing_key, sts)).
std::string chunk_signature(const ChainContext& ctx, std::string_view previous_signature,
                            std::string_view chunk_data);
// The same over a chunk hash computed incrementally.
std::string chunk_signature(const ChainContext& ctx, std::string_view previous_signature,
                            const crypto::Digest& chunk_sha256);

// Trailer string to sign: "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" previous "\n"
// hex(sha256(canonical_trailer)), previous being the final (empty) chunk's signature.
std::string trailer_signature(const ChainContext& ctx, std::string_view previous_signature,
                              std::string_view canonical_trailer);

// The canonical trailer that trailer_signature() hashes: every trailer except
// x-amz-trailer-signature, in the order sent, as "name:value\n" with the name lower-case
// and the value without surrounding blanks (what the AWS SDKs sign).
std::string canonical_trailer(const std::vector<std::pair<std::string, std::string>>& trailers);

enum class Status { need_more, done, error };

struct ParseResult {
  std::size_t consumed;      // bytes of `in` used
  Status status;
  std::string_view payload;  // decoded payload found in this call: a view into `in`; may be empty
  // Set when this call consumed the last data byte of a signed chunk whose signature
  // verified: that chunk's size and the SHA-256 of its data, so a caller that signs the same
  // bytes again need not hash them a second time.
  std::uint64_t chunk_size = 0;
  std::optional<crypto::Digest> chunk_sha256;
};

// Decodes an aws-chunked body handed over in arbitrary pieces. Holds at most one header or
// trailer line (bounded by the limits above); chunk data is never copied.
//
// Leniency: chunk extensions other than chunk-signature are ignored (and so is a
// chunk-signature in unsigned modes); a body that ends without the blank line after the
// final chunk or after the trailers is accepted by finish() when the parser can tell that
// nothing is missing: in trailer mode the declared checksum (and, when signed, the trailer
// signature, which must be the last trailer) has arrived; in plain signed mode the final
// chunk's signature has been verified. Bare LF line ends are refused.
class Decoder {
 public:
  struct Options {
    bool signed_chunks = false;                                 // chunk-signature present and verified
    bool trailer = false;                                       // *-TRAILER modes
    std::optional<ChainContext> chain;                          // required when signed_chunks
    std::optional<std::uint64_t> decoded_length;                // x-amz-decoded-content-length: must match exactly
    std::optional<crypto::ChecksumAlgorithm> trailer_checksum;  // from x-amz-trailer; must arrive and match
  };

  explicit Decoder(Options options);
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;
  ~Decoder();

  // Parses from `in`. Returns at most one payload span per call (call again with
  // in.substr(consumed)). A chunk's signature is checked when its last data byte is
  // consumed, so payload bytes are handed out before their chunk is known good: the caller
  // must not let the upstream request complete until status() == done. A call that finds a
  // bad signature returns no payload. Bytes after the end of the body are an error.
  ParseResult parse(std::string_view in);

  // The body has ended (no more bytes will come). Returns done if what was parsed is a
  // complete body (see the leniency note above), else error with IncompleteBody.
  Status finish();

  [[nodiscard]] Status status() const;
  [[nodiscard]] const std::optional<Failure>& failure() const;  // set when status() == error
  // Trailers received, names lower-case, values trimmed; the trailer signature is not kept.
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& trailers() const;
  [[nodiscard]] std::uint64_t decoded_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Signs the proxy's own chunks towards the upstream (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
class SignedChunkEncoder {
 public:
  explicit SignedChunkEncoder(ChainContext ctx);

  // "<hex size>;chunk-signature=<sig>\r\n"; the caller then sends data and "\r\n".
  std::string chunk_header(std::string_view data);
  // The same for a chunk the caller hashed itself (data_sha256 = sha256 of `size` bytes).
  std::string chunk_header(std::uint64_t size, const crypto::Digest& data_sha256);
  // "0;chunk-signature=<sig>\r\n\r\n".
  std::string final_chunk();

  // Content-Length of a body of decoded_length bytes cut into chunk_size pieces (the last
  // one shorter) plus the final chunk. chunk_size 0 means the whole body in one chunk.
  // nullopt when the length does not fit in 64 bits (never silently wrapped).
  static std::optional<std::uint64_t> encoded_length(std::uint64_t decoded_length, std::size_t chunk_size);

 private:
  ChainContext ctx_;
  std::string previous_;
};

}  // namespace s3proxy::chunked
