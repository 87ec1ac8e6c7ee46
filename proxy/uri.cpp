#include "s3proxy/uri.hpp"

#include "s3proxy/text.hpp"

#include <algorithm>
#include <array>

namespace s3proxy::uri {

namespace {

// One lookup per byte: which bytes stand for themselves in an encoded component.
constexpr std::array<bool, 256> kUnreserved = [] {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : {'-', '_', '.', '~'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

std::string encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto kept = [keep_slash](char c) { return kUnreserved[static_cast<unsigned char>(c)] || (keep_slash && c == '/'); };
  // Most names and values have nothing to escape (dates, hex signatures, plain keys): those
  // are one scan and one copy.
  const auto first_escape = static_cast<std::size_t>(std::find_if_not(s.begin(), s.end(), kept) - s.begin());
  if (first_escape == s.size()) return std::string(s);
  // Sized once, then written in place: an encoded key is built on every signed request.
  std::size_t size = first_escape;
  for (char c : s.substr(first_escape)) size += kept(c) ? 1 : 3;
  std::string out(size, '\0');
  std::copy_n(s.data(), first_escape, out.data());
  char* w = out.data() + first_escape;
  for (char c : s.substr(first_escape)) {
    if (kept(c)) {
      *w++ = c;
      continue;
    }
    const auto b = static_cast<unsigned char>(c);
    *w++ = '%';
    *w++ = kHex[b >> 4];
    *w++ = kHex[b & 0xf];
  }
  return out;
}

namespace {

// Appends the decoding of `s` to `out`; false on a bad escape.
bool decode_into(std::string_view s, std::string& out) {
  std::size_t done = 0;
  for (std::size_t escape = s.find('%'); escape != std::string_view::npos; escape = s.find('%', done)) {
    out.append(s.substr(done, escape - done));  // the run before the escape, whole
    if (escape + 2 >= s.size()) return false;  // truncated escape
    const char hi = s[escape + 1];
    const char lo = s[escape + 2];
    if (!text::is_hex_digit(hi) || !text::is_hex_digit(lo)) return false;
    out.push_back(static_cast<char>(hex_value(hi) * 16 + hex_value(lo)));
    done = escape + 3;
  }
  out.append(s.substr(done));
  return true;
}

}  // namespace

std::optional<std::string> decode(std::string_view s) {
  if (s.find('%') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  if (!decode_into(s, out)) return std::nullopt;
  return out;
}

std::optional<std::string_view> decode(std::string_view s, std::string& scratch) {
  if (s.find('%') == std::string_view::npos) return s;
  scratch.clear();
  if (!decode_into(s, scratch)) return std::nullopt;
  return std::string_view(scratch);
}

bool QueryComponents::next(QueryComponent& out) {
  if (done_) return false;
  const auto amp = rest_.find('&');
  out.raw = rest_.substr(0, amp);
  if (amp == std::string_view::npos) done_ = true;
  else rest_.remove_prefix(amp + 1);
  const auto eq = out.raw.find('=');
  out.raw_name = out.raw.substr(0, eq);
  out.raw_value = eq == std::string_view::npos ? std::string_view{} : out.raw.substr(eq + 1);
  return true;
}

}  // namespace s3proxy::uri
