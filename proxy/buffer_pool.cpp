#include "s3proxy/buffer_pool.hpp"

#include <utility>

namespace s3proxy {

BufferPool::Lease& BufferPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    block_ = std::move(other.block_);
  }
  return *this;
}

void BufferPool::Lease::release() {
  if (block_ && pool_) pool_->give_back(std::move(block_));
  block_.reset();
  pool_ = nullptr;
}

BufferPool::Lease BufferPool::take() {
  ++on_loan_;
  if (on_loan_ > peak_) peak_ = on_loan_;
  if (free_.empty()) return Lease(this, std::make_unique_for_overwrite<char[]>(kBufferSize));
  auto block = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(block));
}

void BufferPool::give_back(std::unique_ptr<char[]> block) {
  --on_loan_;
  if (free_.size() + on_loan_ < wanted()) free_.push_back(std::move(block));
}

void BufferPool::trim() {
  const std::size_t keep = wanted() > on_loan_ ? wanted() - on_loan_ : 0;
  if (free_.size() > keep) free_.resize(keep);
  peak_ = on_loan_;
}

}  // namespace s3proxy
