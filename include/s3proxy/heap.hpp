#pragma once
#include <string>

// The memory allocator the process runs on. The proxy is linked with mimalloc (measured:
// 8% fewer instructions and about 5% less CPU per small request than glibc's malloc, whose
// blocks over 1,032 bytes, such as a request's two largest coroutine frames, skip its
// per-thread cache); the sanitizer builds keep the allocator their runtime brings.
namespace s3proxy::heap {

// "mimalloc 2.0.9" or "glibc malloc": for the start-up log line.
std::string allocator_name();

// Hands memory the allocator holds free back to the system: the calling thread's heap with
// mimalloc, every arena of the process with glibc (malloc_trim).
void release_free_memory();

// mimalloc keeps a heap per thread, so every thread that allocates releases its own; with
// glibc one call, from any thread, covers them all.
#if S3P_MIMALLOC
inline constexpr bool kHeapPerThread = true;
#else
inline constexpr bool kHeapPerThread = false;
#endif

}  // namespace s3proxy::heap
