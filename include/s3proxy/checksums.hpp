#pragma once
// [upstream] checksums = "strip": the proxy verifies the payload checksums a client sent
// (x-amz-checksum-* headers over the whole decoded body; aws-chunked trailers are verified by
// the chunked decoder) and forwards the request without any of them, for S3-compatible
// storage that rejects them ("Unsupported header 'x-amz-checksum-crc32'", "x-amz-checksum-mode
// header is invalid", only one checksum allowed).
#include "s3proxy/crypto.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/sigv4.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy::checksums {

// Headers (and presigned query parameters) that carry, request or describe checksums and that
// the upstream never gets in strip mode: every x-amz-checksum-* (the values, -mode on GET and
// HEAD, -algorithm and -type on CreateMultipartUpload and CopyObject),
// x-amz-sdk-checksum-algorithm and x-amz-trailer. `lower_name` is lower-case.
bool is_checksum_header(std::string_view lower_name);

// One checksum the client declared for the body: its algorithm and the digest it claims.
struct Declared {
  crypto::ChecksumAlgorithm algorithm;
  std::string digest;  // the base64 value decoded: 4, 8, 20 or 32 bytes
};

// The payload checksums declared in `fields` (name, value; any case). A value that is not
// base64 of the algorithm's digest length, or an x-amz-checksum-<name> carrying a value for
// an algorithm the proxy cannot compute, is refused (InvalidRequest, as S3 does): in strip
// mode it could neither be verified nor passed on. The same algorithm twice is refused too.
Result<std::vector<Declared>> declared(std::span<const std::pair<std::string_view, std::string_view>> fields);

// Computes the declared checksums over a body fed in pieces.
class Verifier {
 public:
  explicit Verifier(const std::vector<Declared>& declared);
  [[nodiscard]] bool empty() const { return running_.empty(); }
  void update(std::string_view data);
  // The body ended: BadDigest naming the first checksum that does not match, as S3 answers.
  std::optional<Failure> finish();

 private:
  struct Running {
    Declared want;
    std::unique_ptr<crypto::Checksum> sum;
  };
  std::vector<Running> running_;
};

// CompleteMultipartUpload bodies listing per-part checksums (<ChecksumCRC32> etc. inside
// <Part>): the upstream never received the parts' checksums, so such a document cannot be
// honoured and is refused before its closing bytes go upstream. Fed the body in pieces, finds
// the element name across piece boundaries, holding at most a few bytes.
class PartChecksumScanner {
 public:
  // True once "<Checksum" (or a namespaced ":Checksum") has been seen.
  bool feed(std::string_view data);

 private:
  std::string carry_;  // the last bytes of the previous piece, shorter than the needle
};

Failure part_checksums_refused();

}  // namespace s3proxy::checksums
