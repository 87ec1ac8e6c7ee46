#include "s3proxy/heap.hpp"

#include <fmt/format.h>

#if S3P_MIMALLOC
#include <mimalloc.h>
#else
#include <malloc.h>
#endif

namespace s3proxy::heap {

std::string allocator_name() {
#if S3P_MIMALLOC
  const int v = mi_version();  // 209 for 2.0.9
  return fmt::format("mimalloc {}.{}.{}", v / 100, v / 10 % 10, v % 10);
#else
  return "glibc malloc";
#endif
}

void release_free_memory() {
#if S3P_MIMALLOC
  mi_collect(true);
#else
  ::malloc_trim(0);
#endif
}

}  // namespace s3proxy::heap
