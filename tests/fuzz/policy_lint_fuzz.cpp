// Bucket policies read from files and from the live bucket: any JSON, any shape.
#include "s3proxy/policy_lint.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  s3proxy::LintContext ctx;
  ctx.principal_arn = "arn:aws:iam:::user/tester";
  ctx.bucket = "media";
  auto r = s3proxy::lint_policy({reinterpret_cast<const char*>(data), size}, ctx);
  if (r) (void)s3proxy::render_report(r.value());
  return 0;
}
