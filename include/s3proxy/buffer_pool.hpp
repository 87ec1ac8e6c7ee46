#pragma once
// Body buffers taken per request, not held per connection: an idle keep-alive connection
// owns no body buffer, and a busy worker reuses the same blocks instead of asking the
// allocator for 64 KiB on every request. The pool keeps as many returned blocks as the
// recent peak of blocks on loan needed (64 concurrent requests on a worker need about 128;
// a fixed small cap made every request past it allocate, fault in and trim 64 KiB), and
// trim(), called now and then, gives back what the last period did not need.
// One pool per worker thread (not thread-safe).
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace s3proxy {

class BufferPool {
 public:
  // Every buffer is this large: one piece of a body in flight.
  static constexpr std::size_t kBufferSize = 64 * 1024;
  // What trim() keeps however quiet the worker was: 1 MiB for the next requests.
  static constexpr std::size_t kMinIdle = 16;

  // A buffer on loan; goes back to its pool when destroyed. Must not outlive the pool.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept : pool_(other.pool_), block_(std::move(other.block_)) { other.pool_ = nullptr; }
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }

    [[nodiscard]] char* data() const { return block_.get(); }
    [[nodiscard]] static constexpr std::size_t size() { return kBufferSize; }
    [[nodiscard]] bool empty() const { return !block_; }
    void release();  // gives the buffer back now

   private:
    friend class BufferPool;
    Lease(BufferPool* pool, std::unique_ptr<char[]> block) : pool_(pool), block_(std::move(block)) {}
    BufferPool* pool_ = nullptr;
    std::unique_ptr<char[]> block_;
  };

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Lease take();
  // Frees the idle blocks beyond what the peak since the last trim() needed (never below
  // kMinIdle), and starts a new period: after a burst, memory goes back within two periods.
  void trim();
  [[nodiscard]] std::size_t idle() const { return free_.size(); }
  [[nodiscard]] std::size_t on_loan() const { return on_loan_; }

 private:
  void give_back(std::unique_ptr<char[]> block);
  [[nodiscard]] std::size_t wanted() const { return peak_ > kMinIdle ? peak_ : kMinIdle; }

  std::vector<std::unique_ptr<char[]>> free_;
  std::size_t on_loan_ = 0;
  std::size_t peak_ = 0;  // most blocks on loan at once since the last trim()
};

}  // namespace s3proxy
