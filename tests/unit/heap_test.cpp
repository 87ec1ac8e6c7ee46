#include "s3proxy/heap.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#if S3P_MIMALLOC
#include <mimalloc.h>
#endif

namespace s3proxy {
namespace {

#if S3P_MIMALLOC
// The allocator is chosen by link order: a build that put the C library first would run on
// glibc's malloc although it links mimalloc. Every allocator in the process must be its:
// plain malloc, the C++ library's operator new, and OpenSSL's (a digest context per hash).
TEST(Heap, EveryAllocationInTheProcessComesFromMimalloc) {
  void* raw = std::malloc(100);
  auto object = std::make_unique<std::string>(200, 'x');  // operator new, twice
  EVP_MD_CTX* digest = EVP_MD_CTX_new();
  EXPECT_TRUE(mi_is_in_heap_region(raw));
  EXPECT_TRUE(mi_is_in_heap_region(object.get()));
  EXPECT_TRUE(mi_is_in_heap_region(object->data()));
  EXPECT_TRUE(mi_is_in_heap_region(digest));
  EVP_MD_CTX_free(digest);
  std::free(raw);
  EXPECT_EQ(heap::allocator_name().rfind("mimalloc 2.", 0), 0U) << heap::allocator_name();
}

// A heap per thread: a worker that did not release its own would keep what it freed.
TEST(Heap, MimallocHasEveryThreadReleaseItsOwnHeap) { EXPECT_TRUE(heap::kHeapPerThread); }
#else
TEST(Heap, NamesGlibcWhenBuiltWithoutMimalloc) { EXPECT_EQ(heap::allocator_name(), "glibc malloc"); }

// malloc_trim walks every arena of the process: one thread's call is enough.
TEST(Heap, GlibcReleasesEveryArenaFromOneThread) { EXPECT_FALSE(heap::kHeapPerThread); }
#endif

TEST(Heap, ReleasingFreeMemoryLeavesLiveBlocksAsTheyWere) {
  std::vector<std::unique_ptr<std::string>> kept;
  std::vector<std::unique_ptr<std::string>> freed;
  for (int i = 0; i < 256; ++i) {
    kept.push_back(std::make_unique<std::string>(1000 + i, static_cast<char>('a' + i % 26)));
    freed.push_back(std::make_unique<std::string>(64 * 1024, 'z'));
  }
  freed.clear();
  heap::release_free_memory();
  for (int i = 0; i < 256; ++i) {
    ASSERT_EQ(*kept[i], std::string(1000 + i, static_cast<char>('a' + i % 26)));
  }
}

}  // namespace
}  // namespace s3proxy
