// Request verification over arbitrary request lines, headers and query strings: parse_auth,
// verify and the canonicalisation steps must never crash, hang or read out of bounds.
#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace s3proxy;
  const auto r = fuzz::split_request({reinterpret_cast<const char*>(data), size});
  const sigv4::RequestView view{r.method, r.path, r.query, r.headers};
  static const Secret secret("fakesecretfakesecretfakesecret");
  const sigv4::KeyLookup lookup = [](std::string_view id) -> const Secret* {
    return id == "AKIAFAKEFAKEFAKE" ? &secret : nullptr;
  };
  (void)sigv4::detect_auth(view);
  (void)sigv4::parse_auth(view);
  (void)sigv4::verify(view, lookup, std::chrono::system_clock::time_point(std::chrono::seconds(1795453972)));
  (void)sigv4::canonical_uri(r.path);
  (void)sigv4::canonical_query(r.query, true);
  return 0;
}
