// The TOML config loader over arbitrary text: a bad config is an error naming a key, never a crash.
#include "s3proxy/config.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const s3proxy::EnvLookup env = [](std::string_view) -> std::optional<std::string> { return "env-secret"; };
  (void)s3proxy::parse_config({reinterpret_cast<const char*>(data), size}, env);
  return 0;
}
