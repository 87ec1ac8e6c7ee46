// libFuzzer harness for the POST Object form: the head parser on every prefix of the body it
// asks more for, and the file stream over the rest in random pieces.
//
// Input layout: byte 0 = split seed, then the body (boundary "B0undary").
// Checked: the head parser never reads past kMaxPreFileBytes, a parsed head re-serialises to
// a head that parses to the same fields; the file stream releases, in order, exactly the body
// bytes after the head when it accepts, and never the delimiter before the last piece.
#include "s3proxy/post_form.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace s3proxy::post;

constexpr std::string_view kBoundary = "B0undary";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::uint32_t next(std::uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::uint32_t rng = 0x9e3779b9u ^ data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto head = parse_form_head(body, kBoundary);
  if (!head) return 0;
  if (!head.value()) {
    check(body.size() < kMaxPreFileBytes);
    return 0;
  }
  const FormHead& h = *head.value();
  check(h.consumed <= body.size() && h.consumed <= kMaxPreFileBytes);
  // The shorter prefixes need more or parse to the same head.
  auto shorter = parse_form_head(body.substr(0, h.consumed - 1), kBoundary);
  check(shorter.ok() && !shorter.value().has_value());
  const std::string again = serialize_form_head(h.fields, h.file, kBoundary);
  auto reparsed = parse_form_head(again, kBoundary);
  check(reparsed.ok() && reparsed.value().has_value() && reparsed.value()->fields.size() == h.fields.size());

  std::string_view rest = body.substr(h.consumed);
  const std::string whole(rest);
  FileStream fs(kBoundary);
  std::string out;
  const std::string delimiter = "\r\n--" + std::string(kBoundary);
  for (;;) {
    const std::size_t n = std::min<std::size_t>(rest.size(), next(rng) % 300);
    const bool last = n == rest.size();
    if (fs.feed(rest.substr(0, n), last)) return 0;
    for (auto v : fs.release()) out.append(v);
    check(whole.compare(0, out.size(), out) == 0);
    if (!last) check(out.find(delimiter) == std::string::npos);
    rest.remove_prefix(n);
    if (last) break;
  }
  check(out == whole);
  check(fs.file_bytes() <= whole.size());
  return 0;
}
