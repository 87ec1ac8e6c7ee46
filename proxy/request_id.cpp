#include "s3proxy/request_id.hpp"

#include "s3proxy/crypto.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <random>

namespace s3proxy {

namespace {

// One generator per thread: no lock on the request path, seeded once from the OS.
std::mt19937_64& generator() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  return gen;
}

// S3's x-amz-id-2 values are base64 of this many bytes or so; the length only has to look right.
constexpr std::size_t kHostIdBytes = 36;

}  // namespace

std::string new_request_id() { return fmt::format("{:016X}", generator()()); }

std::string new_host_id() {
  std::array<char, kHostIdBytes> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    std::uint64_t v = generator()();
    for (std::size_t j = 0; j < 8 && i + j < bytes.size(); ++j) bytes[i + j] = static_cast<char>(v >> (8 * j));
  }
  return crypto::base64(std::string_view(bytes.data(), bytes.size()));
}

}  // namespace s3proxy
