#include "s3proxy/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <zlib.h>

#include <algorithm>
#include <initializer_list>
#include <stdexcept>

namespace s3proxy::crypto {

namespace {

struct EvpCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using EvpCtx = std::unique_ptr<EVP_MD_CTX, EvpCtxDeleter>;

// SHA-256 fetched once: the EVP_sha256() shorthand makes OpenSSL 3 look the algorithm up
// in its provider tables on every use, which cost more than hashing a small input.
const EVP_MD* sha256_md() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) throw std::runtime_error("EVP_MD_fetch SHA256");
    return fetched;
  }();
  return md;
}

// One digest context per thread for one-shot hashes (the request path is single-threaded
// per worker, so no two hashes on a thread overlap).
EVP_MD_CTX* thread_digest_ctx() {
  thread_local const EvpCtx ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::runtime_error("EVP_MD_CTX_new");
  return ctx.get();
}

void digest_into(Digest& out, std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = thread_digest_ctx();
  if (EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) != 1) throw std::runtime_error("EVP_DigestInit_ex2");
  for (auto p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &len);
}

EvpCtx new_digest_ctx(const EVP_MD* md) {
  EvpCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw std::runtime_error("EVP_DigestInit_ex");
  return ctx;
}

// Reflected table-driven CRCs; the polynomials are the reversed forms from the
// Castagnoli (CRC32C) and NVM Express (CRC64NVME) specifications.
template <class T, T Poly>
struct ReflectedCrcTable {
  T entries[256];
  constexpr ReflectedCrcTable() : entries{} {
    for (unsigned i = 0; i < 256; ++i) {
      T c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? static_cast<T>((c >> 1) ^ Poly) : static_cast<T>(c >> 1);
      entries[i] = c;
    }
  }
};
constexpr ReflectedCrcTable<std::uint32_t, 0x82F63B78u> kCrc32cTable;
constexpr ReflectedCrcTable<std::uint64_t, 0x9A6C9329AC4BC9B5ull> kCrc64NvmeTable;

template <class T>
std::string big_endian_bytes(T v) {
  std::string out(sizeof(T), '\0');
  for (std::size_t i = 0; i < sizeof(T); ++i) out[sizeof(T) - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

class Crc32 final : public Checksum {
 public:
  void update(std::string_view d) override {
    // zlib takes uInt lengths; feed large views in pieces.
    while (!d.empty()) {
      auto n = static_cast<uInt>(std::min<std::size_t>(d.size(), 1u << 30));
      crc_ = ::crc32(crc_, reinterpret_cast<const Bytef*>(d.data()), n);
      d.remove_prefix(n);
    }
  }
  std::string finish_base64() override { return base64(big_endian_bytes(static_cast<std::uint32_t>(crc_))); }

 private:
  uLong crc_ = ::crc32(0L, Z_NULL, 0);
};

template <class T, const auto& Table>
class TableCrc final : public Checksum {
 public:
  void update(std::string_view d) override {
    for (unsigned char ch : d) crc_ = Table.entries[(crc_ ^ ch) & 0xff] ^ (crc_ >> 8);
  }
  std::string finish_base64() override { return base64(big_endian_bytes(static_cast<T>(~crc_))); }

 private:
  T crc_ = static_cast<T>(~T{0});
};

class EvpChecksum final : public Checksum {
 public:
  explicit EvpChecksum(const EVP_MD* md) : ctx_(new_digest_ctx(md)) {}
  void update(std::string_view d) override { EVP_DigestUpdate(ctx_.get(), d.data(), d.size()); }
  std::string finish_base64() override {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &len);
    return base64(std::string_view(reinterpret_cast<const char*>(out), len));
  }

 private:
  EvpCtx ctx_;
};

}  // namespace

struct Sha256::Impl {
  EvpCtx ctx = new_digest_ctx(sha256_md());
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view data) { EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()); }

Digest Sha256::finish() {
  Digest d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), d.data(), &len);
  EVP_DigestInit_ex2(impl_->ctx.get(), sha256_md(), nullptr);
  return d;
}

Digest sha256(std::string_view data) {
  Digest d{};
  digest_into(d, {data});
  return d;
}

std::string sha256_hex(std::string_view data) { return hex(sha256(data)); }

// RFC 2104 over the prefetched SHA-256: OpenSSL 3's HMAC() builds and frees a MAC context
// (and looks SHA-256 up again) per call, several times the cost of the four compressions
// a short HMAC needs.
Digest hmac_sha256(std::string_view key, std::string_view data) {
  constexpr std::size_t kBlock = 64;  // SHA-256's block size
  std::array<unsigned char, kBlock> pad{};
  if (key.size() > kBlock) {
    const Digest hashed = sha256(key);
    std::copy(hashed.begin(), hashed.end(), pad.begin());
  } else {
    std::copy(key.begin(), key.end(), pad.begin());
  }
  for (auto& b : pad) b ^= 0x36;
  const std::string_view pad_view(reinterpret_cast<const char*>(pad.data()), pad.size());
  Digest inner{};
  digest_into(inner, {pad_view, data});
  for (auto& b : pad) b ^= 0x36 ^ 0x5c;
  Digest outer{};
  digest_into(outer, {pad_view, as_view(inner)});
  OPENSSL_cleanse(pad.data(), pad.size());
  OPENSSL_cleanse(inner.data(), inner.size());
  return outer;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  char* w = out.data();
  for (unsigned char c : bytes) {
    *w++ = kDigits[c >> 4];
    *w++ = kDigits[c & 0xf];
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string md5_base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(md5)");
  }
  return base64(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<ChecksumAlgorithm> checksum_from_header(std::string_view name) {
  if (name == "x-amz-checksum-crc32") return ChecksumAlgorithm::crc32;
  if (name == "x-amz-checksum-crc32c") return ChecksumAlgorithm::crc32c;
  if (name == "x-amz-checksum-crc64nvme") return ChecksumAlgorithm::crc64nvme;
  if (name == "x-amz-checksum-sha1") return ChecksumAlgorithm::sha1;
  if (name == "x-amz-checksum-sha256") return ChecksumAlgorithm::sha256;
  return std::nullopt;
}

std::string_view checksum_header(ChecksumAlgorithm a) {
  switch (a) {
    case ChecksumAlgorithm::crc32: return "x-amz-checksum-crc32";
    case ChecksumAlgorithm::crc32c: return "x-amz-checksum-crc32c";
    case ChecksumAlgorithm::crc64nvme: return "x-amz-checksum-crc64nvme";
    case ChecksumAlgorithm::sha1: return "x-amz-checksum-sha1";
    case ChecksumAlgorithm::sha256: return "x-amz-checksum-sha256";
  }
  return {};
}

std::unique_ptr<Checksum> make_checksum(ChecksumAlgorithm a) {
  switch (a) {
    case ChecksumAlgorithm::crc32: return std::make_unique<Crc32>();
    case ChecksumAlgorithm::crc32c: return std::make_unique<TableCrc<std::uint32_t, kCrc32cTable>>();
    case ChecksumAlgorithm::crc64nvme: return std::make_unique<TableCrc<std::uint64_t, kCrc64NvmeTable>>();
    case ChecksumAlgorithm::sha1: return std::make_unique<EvpChecksum>(EVP_sha1());
    case ChecksumAlgorithm::sha256: return std::make_unique<EvpChecksum>(sha256_md());
  }
  return nullptr;
}

}  // namespace s3proxy::crypto
