#include "s3proxy/checksums.hpp"

#include "s3proxy/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace s3proxy::checksums {

namespace {

constexpr std::string_view kChecksumPrefix = "x-amz-checksum-";

// Digest length of each algorithm, the length a declared value must decode to.
std::size_t digest_length(crypto::ChecksumAlgorithm a) {
  switch (a) {
    case crypto::ChecksumAlgorithm::crc32:
    case crypto::ChecksumAlgorithm::crc32c: return 4;
    case crypto::ChecksumAlgorithm::crc64nvme: return 8;
    case crypto::ChecksumAlgorithm::sha1: return 20;
    case crypto::ChecksumAlgorithm::sha256: return 32;
  }
  return 0;
}

// x-amz-checksum-* headers that describe checksums rather than carry one.
bool describes_checksum(std::string_view lower_name) {
  return lower_name == "x-amz-checksum-mode" || lower_name == "x-amz-checksum-algorithm" ||
         lower_name == "x-amz-checksum-type";
}

// S3 names the algorithm in upper case in its messages ("The CRC32 you specified ...").
std::string algorithm_label(crypto::ChecksumAlgorithm a) {
  auto name = crypto::checksum_header(a);
  name.remove_prefix(kChecksumPrefix.size());
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// The element name every per-part checksum in a CompleteMultipartUpload body starts with.
constexpr std::string_view kPartChecksumElement = "Checksum";

}  // namespace

bool is_checksum_header(std::string_view n) {
  return n.starts_with(kChecksumPrefix) || n == "x-amz-sdk-checksum-algorithm" || n == "x-amz-trailer";
}

Result<std::vector<Declared>> declared(std::span<const std::pair<std::string_view, std::string_view>> fields) {
  std::vector<Declared> out;
  for (const auto& [raw_name, raw_value] : fields) {
    const std::string name = text::lower(raw_name);
    if (!name.starts_with(kChecksumPrefix) || describes_checksum(name)) continue;
    const auto algorithm = crypto::checksum_from_header(name);
    if (!algorithm) {
      return Failure{S3Error::InvalidRequest,
                     fmt::format("The checksum header {} names an algorithm this endpoint does not support.",
                                 text::bounded(name))};
    }
    const auto digest = crypto::base64_decode(text::trim(raw_value));
    if (!digest || digest->size() != digest_length(*algorithm)) {
      return Failure{S3Error::InvalidRequest, fmt::format("Value for {} header is invalid.", name)};
    }
    if (std::any_of(out.begin(), out.end(), [&](const Declared& d) { return d.algorithm == *algorithm; })) {
      return Failure{S3Error::InvalidRequest, fmt::format("Expecting a single {} header.", name)};
    }
    out.push_back(Declared{*algorithm, *digest});
  }
  return out;
}

Verifier::Verifier(const std::vector<Declared>& declared) {
  running_.reserve(declared.size());
  for (const auto& d : declared) running_.push_back(Running{d, crypto::make_checksum(d.algorithm)});
}

void Verifier::update(std::string_view data) {
  for (auto& r : running_) r.sum->update(data);
}

std::optional<Failure> Verifier::finish() {
  for (auto& r : running_) {
    const auto got = crypto::base64_decode(r.sum->finish_base64());
    if (!got || !crypto::constant_time_equal(*got, r.want.digest)) {
      return Failure{S3Error::BadDigest, fmt::format("The {} you specified did not match the calculated checksum.",
                                                     algorithm_label(r.want.algorithm))};
    }
  }
  return std::nullopt;
}

bool PartChecksumScanner::feed(std::string_view data) {
  // A match lies within the piece, or across the seam: the carried tail plus the piece's start.
  const std::size_t keep = kPartChecksumElement.size() - 1;
  std::string seam = carry_;
  seam.append(data.substr(0, std::min(data.size(), keep)));
  if (seam.find(kPartChecksumElement) != std::string::npos) return true;
  if (data.find(kPartChecksumElement) != std::string_view::npos) return true;
  // Carry the last `keep` bytes of everything seen so far.
  if (data.size() >= keep) {
    carry_.assign(data.substr(data.size() - keep));
  } else {
    carry_.append(data);
    if (carry_.size() > keep) carry_.erase(0, carry_.size() - keep);
  }
  return false;
}

Failure part_checksums_refused() {
  return Failure{S3Error::InvalidRequest,
                 "The CompleteMultipartUpload document lists part checksums, which this endpoint does not keep "
                 "(upstream.checksums = \"strip\"); complete the upload without them."};
}

}  // namespace s3proxy::checksums
