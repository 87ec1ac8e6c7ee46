// Classification of arbitrary targets and Host headers, and the property that makes the
// audit trustworthy: the upstream location built from a classified request names exactly
// the bucket and key that were verified and audited, and no client byte can reach the
// upstream Host header unless it is a valid bucket name.
#include "fuzz_input.hpp"
#include "s3proxy/s3_request.hpp"
#include "s3proxy/uri.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace s3proxy;
  const auto r = fuzz::split_request({reinterpret_cast<const char*>(data), size});
  static const std::vector<std::string> domains{"s3.local"};
  const auto host = sigv4::header_value(r.headers, "host").value_or("");
  for (bool legacy : {false, true}) {
    auto t = classify(ClassifyInput{r.method, r.path, r.query, host, false, domains, legacy});
    if (!t) continue;
    (void)op_name(t->op);
    if (!t->bucket.empty() && !valid_bucket_name(t->bucket, legacy)) std::abort();
    if (t->bucket.empty()) continue;

    const auto path_style = upstream_location(t->bucket, t->key, t->key_part, false, "up.example:7480");
    // "/<bucket>[/<key>]": the first segment decodes to the bucket, the rest to the key.
    const std::string_view p = path_style.path;
    const auto slash = p.find('/', 1);
    if (uri::decode(p.substr(1, slash == std::string_view::npos ? std::string_view::npos : slash - 1)) != t->bucket) {
      std::abort();
    }
    const std::string key = slash == std::string_view::npos ? std::string() : uri::decode(p.substr(slash + 1)).value();
    if (key != t->key) std::abort();

    if (dns_compatible_bucket(t->bucket)) {
      const auto virt = upstream_location(t->bucket, t->key, t->key_part, true, "up.example:7480");
      if (virt.host != t->bucket + ".up.example:7480") std::abort();
      if (virt.host.find_first_of("\r\n/ ") != std::string::npos) std::abort();
    }
  }
  return 0;
}
