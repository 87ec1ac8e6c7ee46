#pragma once
// ASCII text helpers shared by every module: HTTP names and S3 tokens are ASCII and
// compared without regard to case, never by locale.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace s3proxy::text {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s);

// Case-insensitive equality and prefix test (ASCII).
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim(std::string_view s);

// Pieces between separators, empty pieces kept ("a,,b" -> "a", "", "b"; "" -> one "").
std::vector<std::string_view> split(std::string_view s, char sep);

// Comma-separated list elements (RFC 9110 §5.6.1), trimmed, lower-cased, empty ones dropped.
std::vector<std::string> list_tokens(std::string_view value);

// Client-supplied values echoed into an error message or the audit log are cut to this
// many bytes: enough to recognise a key id, region or method, too short to turn an answer
// or a log line into an amplifier.
inline constexpr std::size_t kMaxEchoed = 128;
// The value, cut to kMaxEchoed bytes with "..." appended when it was longer.
std::string bounded(std::string_view client_value, std::size_t max = kMaxEchoed);

bool is_digits(std::string_view s);
inline bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Writes the `width` lowest decimal digits of `value`, zero-padded, at `out` (timestamps
// are formatted on every request: this is what snprintf and fmt spend a format parse on).
inline char* put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

// Writes a UTC date and time as YYYY<d>MM<d>DDTHH<t>MM<t>SS, then ".mmm" when `millis`
// (0-999) is given, then "Z"; `d` and `t` are the separators, '\0' for none. Returns the
// end; `out` needs room for 24 bytes.
char* put_utc(char* out, std::chrono::sys_time<std::chrono::milliseconds> when, char d, char t, bool millis);

}  // namespace s3proxy::text
