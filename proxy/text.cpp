#include "s3proxy/text.hpp"

#include <algorithm>

namespace s3proxy::text {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  parts.reserve(static_cast<std::size_t>(std::count(s.begin(), s.end(), sep)) + 1);  // one allocation
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::vector<std::string> list_tokens(std::string_view value) {
  std::vector<std::string> out;
  for (auto piece : split(value, ',')) {
    piece = trim(piece);
    if (!piece.empty()) out.push_back(lower(piece));
  }
  return out;
}

std::string bounded(std::string_view client_value, std::size_t max) {
  std::string out(client_value.substr(0, max));
  if (client_value.size() > max) out += "...";
  return out;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

char* put_utc(char* out, std::chrono::sys_time<std::chrono::milliseconds> when, char d, char t, bool millis) {
  using namespace std::chrono;
  const auto day = floor<days>(when);
  const year_month_day ymd{day};
  const hh_mm_ss hms{when - day};
  const auto field = [&out](unsigned value, int width, char separator) {
    out = put_digits(out, value, width);
    if (separator != '\0') *out++ = separator;
  };
  field(static_cast<unsigned>(static_cast<int>(ymd.year())), 4, d);
  field(static_cast<unsigned>(ymd.month()), 2, d);
  field(static_cast<unsigned>(ymd.day()), 2, 'T');
  field(static_cast<unsigned>(hms.hours().count()), 2, t);
  field(static_cast<unsigned>(hms.minutes().count()), 2, t);
  field(static_cast<unsigned>(hms.seconds().count()), 2, millis ? '.' : 'Z');
  if (millis) field(static_cast<unsigned>(hms.subseconds().count()), 3, 'Z');
  return out;
}

}  // namespace s3proxy::text
