// The upstream's XML error bodies are parsed while relayed: any bytes, any truncation.
#include "s3proxy/s3_error.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)s3proxy::parse_error_xml({reinterpret_cast<const char*>(data), size});
  return 0;
}
