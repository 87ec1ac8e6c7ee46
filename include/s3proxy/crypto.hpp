#pragma once
// Hashes, HMAC, encodings and payload checksums over OpenSSL and zlib.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace s3proxy::crypto {

using Digest = std::array<std::uint8_t, 32>;

// Incremental SHA-256 (hashing a streamed body piece by piece).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view data);
  Digest finish();  // resets the state for reuse

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view data);
inline std::string_view as_view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

std::string hex(std::string_view bytes);
inline std::string hex(const Digest& d) { return hex(as_view(d)); }
std::string base64(std::string_view bytes);
// Content-MD5 of a small body the proxy sends itself (S3 requires it on PutObjectTagging).
std::string md5_base64(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// Constant-time comparison for signatures and digests (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

// The payload checksums S3 clients send as x-amz-checksum-* (values are base64 of
// the big-endian digest).
enum class ChecksumAlgorithm { crc32, crc32c, crc64nvme, sha1, sha256 };
std::optional<ChecksumAlgorithm> checksum_from_header(std::string_view header_name);  // "x-amz-checksum-crc32"
std::string_view checksum_header(ChecksumAlgorithm);

class Checksum {
 public:
  virtual ~Checksum() = default;
  virtual void update(std::string_view data) = 0;
  virtual std::string finish_base64() = 0;
};
std::unique_ptr<Checksum> make_checksum(ChecksumAlgorithm);

}  // namespace s3proxy::crypto
