// Classification of arbitrary targets and Host headers.
#include "fuzz_input.hpp"
#include "s3proxy/s3_request.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace s3proxy;
  const auto r = fuzz::split_request({reinterpret_cast<const char*>(data), size});
  static const std::vector<std::string> domains{"s3.local"};
  const auto host = sigv4::header_value(r.headers, "host").value_or("");
  auto t = classify(ClassifyInput{r.method, r.path, r.query, host, false, domains});
  (void)op_name(t.op);
  return 0;
}
