#include "s3proxy/chunked.hpp"

#include "s3proxy/text.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace s3proxy::chunked {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kSignatureExtension = "chunk-signature";
constexpr std::string_view kTrailerSignatureName = "x-amz-trailer-signature";
// hex(sha256("")): the fixed fifth line of every chunk string to sign.
constexpr std::string_view kEmptySha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

constexpr std::string_view kChunkSignatureMismatch =
    "The chunk signature we calculated does not match the signature you provided. "
    "Check your key and signing method.";
constexpr std::string_view kTrailerSignatureMismatch =
    "The trailer signature we calculated does not match the signature you provided. "
    "Check your key and signing method.";

Failure fail(S3Error e, std::string message) { return Failure{e, std::move(message)}; }

using text::lower;
using text::trim;

std::string hex_size(std::uint64_t n) {
  char buf[kMaxChunkSizeDigits];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  (void)ec;  // 16 hex digits always suffice for a uint64_t
  return std::string(buf, end);
}

std::string sign_hex(const ChainContext& ctx, std::string_view string_to_sign) {
  return crypto::hex(crypto::hmac_sha256(crypto::as_view(ctx.signing_key), string_to_sign));
}

// RFC 9110 token characters: what a trailer field name may consist of.
bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Trailer values may end up in the audit log and the upstream request: no control bytes.
bool is_field_value(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

struct ChunkHeader {
  std::uint64_t size = 0;
  std::optional<std::string_view> signature;
};

// "hex-size *( ;ext-name[=ext-value] )": only chunk-signature is looked at.
Result<ChunkHeader> parse_chunk_line(std::string_view line) {
  std::string_view rest = line;
  std::size_t semi = rest.find(';');
  std::string_view size_text = semi == std::string_view::npos ? rest : rest.substr(0, semi);
  while (!size_text.empty() && (size_text.back() == ' ' || size_text.back() == '\t')) size_text.remove_suffix(1);
  if (size_text.empty() || size_text.size() > kMaxChunkSizeDigits)
    return fail(S3Error::InvalidRequest, "An aws-chunked size line does not start with a hexadecimal size of 1 to 16 digits");
  ChunkHeader h;
  auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), h.size, 16);
  if (ec != std::errc{} || end != size_text.data() + size_text.size())
    return fail(S3Error::InvalidRequest, "An aws-chunked size line does not start with a hexadecimal size");
  while (semi != std::string_view::npos) {
    rest.remove_prefix(semi + 1);
    semi = rest.find(';');
    std::string_view ext = semi == std::string_view::npos ? rest : rest.substr(0, semi);
    std::size_t eq = ext.find('=');
    std::string_view name = trim(ext.substr(0, eq));
    if (name != kSignatureExtension) continue;
    if (h.signature)
      return fail(S3Error::InvalidRequest, "An aws-chunked size line carries more than one chunk-signature");
    h.signature = eq == std::string_view::npos ? std::string_view{} : trim(ext.substr(eq + 1));
  }
  return h;
}

enum class LineStep { partial, complete, too_long, bad_ending };

// Moves the bytes of `in` from `pos` up to and including the next LF into `line`. On
// `complete`, `line` holds the line without its CRLF. Never holds more than limit + 2 bytes.
LineStep take_line(std::string& line, std::string_view in, std::size_t& pos, std::size_t limit) {
  const std::size_t lf = in.find('\n', pos);
  const std::size_t n = (lf == std::string_view::npos ? in.size() : lf + 1) - pos;
  // Without its LF yet, at most the CR of the ending can be held beyond the limit.
  const std::size_t room = limit + (lf == std::string_view::npos ? 1 : kCrlf.size());
  if (line.size() + n > room) return LineStep::too_long;
  line.append(in.substr(pos, n));
  pos += n;
  if (lf == std::string_view::npos) return LineStep::partial;
  if (line.size() < 2 || line[line.size() - 2] != '\r') return LineStep::bad_ending;
  line.resize(line.size() - kCrlf.size());
  if (line.find('\r') != std::string::npos) return LineStep::bad_ending;
  return LineStep::complete;
}

}  // namespace

std::string chunk_signature(const ChainContext& ctx, std::string_view previous_signature,
                            const crypto::Digest& chunk_sha256) {
  std::string sts;
  sts.reserve(256);
  sts.append("AWS4-HMAC-SHA256-PAYLOAD\n").append(ctx.amz_date).append("\n").append(ctx.scope).append("\n");
  sts.append(previous_signature).append("\n").append(kEmptySha256Hex).append("\n").append(crypto::hex(chunk_sha256));
  return sign_hex(ctx, sts);
}

std::string chunk_signature(const ChainContext& ctx, std::string_view previous_signature,
                            std::string_view chunk_data) {
  return chunk_signature(ctx, previous_signature, crypto::sha256(chunk_data));
}

std::string trailer_signature(const ChainContext& ctx, std::string_view previous_signature,
                              std::string_view canonical) {
  std::string sts;
  sts.reserve(256);
  sts.append("AWS4-HMAC-SHA256-TRAILER\n").append(ctx.amz_date).append("\n").append(ctx.scope).append("\n");
  sts.append(previous_signature).append("\n").append(crypto::sha256_hex(canonical));
  return sign_hex(ctx, sts);
}

std::string canonical_trailer(const std::vector<std::pair<std::string, std::string>>& trailers) {
  std::string out;
  for (const auto& [name, value] : trailers) {
    std::string n = lower(name);
    if (n == kTrailerSignatureName) continue;
    out.append(n).append(":").append(trim(value)).append("\n");
  }
  return out;
}

// ---------------------------------------------------------------------------------------

enum class Phase { size_line, data, data_crlf, final_line, trailer_line, done, error };

struct Decoder::State {
  Options opt;
  Phase phase = Phase::size_line;
  std::optional<Failure> failure;
  std::string line;                    // the header or trailer line being assembled
  std::uint64_t remaining = 0;         // data bytes left in the current chunk
  std::uint64_t chunk_size = 0;        // the current chunk's declared size
  std::optional<crypto::Digest> verified_chunk;  // the hash of the chunk that just verified
  std::size_t crlf_matched = 0;        // bytes of the CRLF after chunk data seen so far
  std::uint64_t decoded = 0;
  std::string expected_signature;      // the current chunk's claimed signature
  std::string previous_signature;      // the chain so far
  crypto::Sha256 chunk_hash;
  std::unique_ptr<crypto::Checksum> checksum;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::size_t trailer_bytes = 0;
  std::optional<std::string> trailer_sig;

  void set_failure(Failure f) {
    failure = std::move(f);
    phase = Phase::error;
  }

  bool verify_chunk(const crypto::Digest& hash) {
    const std::string expected = chunk_signature(*opt.chain, previous_signature, hash);
    if (!crypto::constant_time_equal(expected, expected_signature)) {
      set_failure(fail(S3Error::SignatureDoesNotMatch, std::string(kChunkSignatureMismatch)));
      return false;
    }
    previous_signature = std::move(expected_signature);
    expected_signature.clear();
    return true;
  }

  void on_size_line(std::string_view text) {
    auto header = parse_chunk_line(text);
    if (!header) return set_failure(header.failure());
    const std::uint64_t size = header->size;
    if (opt.signed_chunks) {
      if (!header->signature) return set_failure(fail(S3Error::SignatureDoesNotMatch, "A chunk carries no chunk-signature"));
      expected_signature.assign(*header->signature);
    }
    if (opt.decoded_length && size > *opt.decoded_length - decoded)
      return set_failure(fail(S3Error::IncompleteBody,
                              "The aws-chunked body holds more bytes than x-amz-decoded-content-length declares"));
    if (size > std::numeric_limits<std::uint64_t>::max() - decoded)
      return set_failure(fail(S3Error::InvalidRequest, "The aws-chunked sizes add up to more than 2^64 bytes"));
    if (size > 0) {
      remaining = size;
      chunk_size = size;
      phase = Phase::data;
      return;
    }
    if (opt.signed_chunks && !verify_chunk(crypto::sha256(""))) return;
    if (opt.decoded_length && decoded != *opt.decoded_length)
      return set_failure(fail(S3Error::IncompleteBody,
                              "The aws-chunked body holds fewer bytes than x-amz-decoded-content-length declares"));
    phase = opt.trailer ? Phase::trailer_line : Phase::final_line;
  }

  std::string_view take_data(std::string_view in, std::size_t& pos) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in.size() - pos));
    std::string_view piece = in.substr(pos, n);
    pos += n;
    remaining -= n;
    decoded += n;
    if (opt.signed_chunks) chunk_hash.update(piece);
    if (checksum) checksum->update(piece);
    if (remaining > 0) return piece;
    if (opt.signed_chunks) {
      const crypto::Digest hash = chunk_hash.finish();
      if (!verify_chunk(hash)) return {};
      verified_chunk = hash;
    }
    phase = Phase::data_crlf;
    return piece;
  }

  void take_data_crlf(std::string_view in, std::size_t& pos) {
    while (pos < in.size() && crlf_matched < kCrlf.size()) {
      if (in[pos] != kCrlf[crlf_matched])
        return set_failure(
            fail(S3Error::IncompleteBody, "A chunk's data is not followed by CRLF where its size says it ends"));
      ++pos;
      ++crlf_matched;
    }
    if (crlf_matched == kCrlf.size()) {
      crlf_matched = 0;
      phase = Phase::size_line;
    }
  }

  void on_trailer_line(std::string_view text) {
    if (text.empty()) return complete_trailers();
    if (trailers.size() >= kMaxTrailers)
      return set_failure(fail(S3Error::MalformedTrailerError, "The aws-chunked body has too many trailers"));
    if (trailer_sig)
      return set_failure(fail(S3Error::MalformedTrailerError, "x-amz-trailer-signature is not the last trailer"));
    const std::size_t colon = text.find(':');
    const std::string_view raw_name = colon == std::string_view::npos ? text : text.substr(0, colon);
    if (colon == std::string_view::npos || raw_name.empty() ||
        !std::all_of(raw_name.begin(), raw_name.end(), [](unsigned char c) { return is_token_char(c); }))
      return set_failure(fail(S3Error::MalformedTrailerError, "A trailer line is not name:value"));
    const std::string_view value = trim(text.substr(colon + 1));
    if (!is_field_value(value))
      return set_failure(fail(S3Error::MalformedTrailerError, "A trailer value holds control characters"));
    std::string name = lower(raw_name);
    if (name == kTrailerSignatureName) {
      if (!opt.signed_chunks)
        return set_failure(fail(S3Error::MalformedTrailerError, "An unsigned payload carries x-amz-trailer-signature"));
      trailer_sig = std::string(value);
      return;
    }
    // Only what x-amz-trailer declared may follow: anything else was not covered by the
    // request's signature and would be a trailer nobody checks.
    if (!opt.trailer_checksum || name != crypto::checksum_header(*opt.trailer_checksum))
      return set_failure(fail(S3Error::MalformedTrailerError,
                              "The trailer " + text::bounded(name) + " was not declared in x-amz-trailer"));
    for (const auto& t : trailers)
      if (t.first == name) return set_failure(fail(S3Error::MalformedTrailerError, "The trailer " + name + " is repeated"));
    trailers.emplace_back(std::move(name), std::string(value));
  }

  // All trailers that were declared (and, when signed, the signature) have arrived.
  bool trailers_known_complete() const {
    if (opt.signed_chunks) return trailer_sig.has_value();
    if (!opt.trailer_checksum) return false;
    const std::string_view want = crypto::checksum_header(*opt.trailer_checksum);
    return std::any_of(trailers.begin(), trailers.end(), [&](const auto& t) { return t.first == want; });
  }

  void complete_trailers() {
    if (opt.signed_chunks) {
      if (!trailer_sig)
        return set_failure(fail(S3Error::MalformedTrailerError, "The trailers carry no x-amz-trailer-signature"));
      const std::string expected = trailer_signature(*opt.chain, previous_signature, canonical_trailer(trailers));
      if (!crypto::constant_time_equal(expected, *trailer_sig))
        return set_failure(fail(S3Error::SignatureDoesNotMatch, std::string(kTrailerSignatureMismatch)));
    }
    if (opt.trailer_checksum) {
      const std::string_view want = crypto::checksum_header(*opt.trailer_checksum);
      auto it = std::find_if(trailers.begin(), trailers.end(), [&](const auto& t) { return t.first == want; });
      if (it == trailers.end())
        return set_failure(fail(S3Error::MalformedTrailerError,
                                "The trailer " + std::string(want) + " declared in x-amz-trailer did not arrive"));
      if (!crypto::constant_time_equal(checksum->finish_base64(), it->second))
        return set_failure(fail(S3Error::BadDigest, "The " + std::string(want) +
                                                        " you specified did not match the calculated checksum."));
    }
    phase = Phase::done;
  }

  // Reads one line for the current phase; returns it when complete.
  std::optional<std::string_view> next_line(std::string_view in, std::size_t& pos) {
    const bool in_trailer = phase == Phase::trailer_line;
    const std::size_t before = pos;
    const LineStep step = take_line(line, in, pos, in_trailer ? kMaxTrailerLine : kMaxChunkLine);
    if (step == LineStep::too_long) {
      set_failure(in_trailer ? fail(S3Error::MalformedTrailerError, "A trailer line is too long")
                             : fail(S3Error::InvalidRequest, "An aws-chunked size line is too long"));
      return std::nullopt;
    }
    if (step == LineStep::bad_ending) {
      set_failure(in_trailer ? fail(S3Error::MalformedTrailerError, "A trailer line does not end with CRLF")
                             : fail(S3Error::InvalidRequest, "An aws-chunked size line does not end with CRLF"));
      return std::nullopt;
    }
    if (in_trailer) {
      trailer_bytes += pos - before;
      if (trailer_bytes > kMaxTrailerBytes) {
        set_failure(fail(S3Error::MalformedTrailerError, "The aws-chunked trailers are too long"));
        return std::nullopt;
      }
    }
    if (step == LineStep::complete) return std::string_view(line);
    return std::nullopt;
  }
};

Decoder::Decoder(Options options) : s_(std::make_unique<State>()) {
  s_->opt = std::move(options);
  if (s_->opt.signed_chunks && !s_->opt.chain) {
    s_->set_failure(fail(S3Error::InternalError, "Signed chunks need the request's signing context"));
    return;
  }
  if (s_->opt.chain) s_->previous_signature = s_->opt.chain->seed_signature;
  if (s_->opt.trailer_checksum) s_->checksum = crypto::make_checksum(*s_->opt.trailer_checksum);
}

Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;
Decoder::~Decoder() = default;

ParseResult Decoder::parse(std::string_view in) {
  State& s = *s_;
  std::size_t pos = 0;
  while (true) {
    if (s.phase == Phase::done && pos < in.size())
      s.set_failure(fail(S3Error::InvalidRequest, "Bytes follow the end of the aws-chunked body"));
    if (s.phase == Phase::done || s.phase == Phase::error || pos == in.size()) return {pos, status(), {}};
    switch (s.phase) {
      case Phase::size_line:
        if (auto text = s.next_line(in, pos)) {
          s.on_size_line(*text);
          s.line.clear();
        }
        break;
      case Phase::data: {
        std::string_view piece = s.take_data(in, pos);
        ParseResult r{pos, status(), piece};
        if (s.verified_chunk) {
          r.chunk_size = s.chunk_size;
          r.chunk_sha256 = std::exchange(s.verified_chunk, std::nullopt);
        }
        return r;
      }
      case Phase::data_crlf:
        s.take_data_crlf(in, pos);
        break;
      case Phase::final_line:
        if (auto text = s.next_line(in, pos)) {
          if (!text->empty())
            s.set_failure(fail(S3Error::InvalidRequest, "The final aws-chunk is not followed by an empty line"));
          else
            s.phase = Phase::done;
          s.line.clear();
        }
        break;
      case Phase::trailer_line:
        if (auto text = s.next_line(in, pos)) {
          s.on_trailer_line(*text);
          s.line.clear();
        }
        break;
      case Phase::done:
      case Phase::error:
        break;
    }
  }
}

Status Decoder::finish() {
  State& s = *s_;
  const bool at_line_start = s.line.empty();
  if (s.phase == Phase::final_line && at_line_start) {
    s.phase = Phase::done;
  } else if (s.phase == Phase::trailer_line && at_line_start && s.trailers_known_complete()) {
    s.complete_trailers();
  } else if (s.phase != Phase::done && s.phase != Phase::error) {
    s.set_failure(fail(S3Error::IncompleteBody, "The aws-chunked body ended before its final chunk and trailers"));
  }
  return status();
}

Status Decoder::status() const {
  switch (s_->phase) {
    case Phase::done: return Status::done;
    case Phase::error: return Status::error;
    default: return Status::need_more;
  }
}

const std::optional<Failure>& Decoder::failure() const { return s_->failure; }
const std::vector<std::pair<std::string, std::string>>& Decoder::trailers() const { return s_->trailers; }
std::uint64_t Decoder::decoded_bytes() const { return s_->decoded; }

// ---------------------------------------------------------------------------------------

SignedChunkEncoder::SignedChunkEncoder(ChainContext ctx) : ctx_(std::move(ctx)), previous_(ctx_.seed_signature) {}

std::string SignedChunkEncoder::chunk_header(std::string_view data) {
  return chunk_header(data.size(), crypto::sha256(data));
}

std::string SignedChunkEncoder::chunk_header(std::uint64_t size, const crypto::Digest& data_sha256) {
  previous_ = chunk_signature(ctx_, previous_, data_sha256);
  std::string out = hex_size(size);
  out.append(";").append(kSignatureExtension).append("=").append(previous_).append(kCrlf);
  return out;
}

std::string SignedChunkEncoder::final_chunk() { return chunk_header(0, crypto::sha256("")).append(kCrlf); }

std::optional<std::uint64_t> SignedChunkEncoder::encoded_length(std::uint64_t decoded_length, std::size_t chunk_size) {
  // hex(n);chunk-signature=<64 hex>\r\n<n bytes>\r\n
  const auto framed = [](std::uint64_t n) -> std::optional<std::uint64_t> {
    const std::uint64_t overhead = hex_size(n).size() + 1 + kSignatureExtension.size() + 1 + kSignatureHexLength +
                                   kCrlf.size() + kCrlf.size();
    std::uint64_t total = 0;
    if (__builtin_add_overflow(overhead, n, &total)) return std::nullopt;
    return total;
  };
  const std::uint64_t piece = chunk_size == 0 ? decoded_length : chunk_size;
  const std::uint64_t final_chunk = *framed(0);
  if (decoded_length == 0) return final_chunk;
  const std::uint64_t full = decoded_length / piece;
  const std::uint64_t rest = decoded_length % piece;
  const auto full_framed = framed(piece);
  const auto rest_framed = rest > 0 ? framed(rest) : std::optional<std::uint64_t>(0);
  std::uint64_t total = 0;
  if (!full_framed || !rest_framed || __builtin_mul_overflow(full, *full_framed, &total) ||
      __builtin_add_overflow(total, *rest_framed, &total) || __builtin_add_overflow(total, final_chunk, &total)) {
    return std::nullopt;
  }
  return total;
}

}  // namespace s3proxy::chunked
