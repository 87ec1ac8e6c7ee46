#include "s3proxy/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace s3proxy {
namespace {

TEST(BufferPool, AReturnedBufferIsLentAgainInsteadOfANewOne) {
  BufferPool pool;
  const char* first = nullptr;
  {
    auto lease = pool.take();
    first = lease.data();
    EXPECT_EQ(pool.on_loan(), 1U);
  }
  EXPECT_EQ(pool.on_loan(), 0U);
  EXPECT_EQ(pool.idle(), 1U);
  auto again = pool.take();
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(pool.idle(), 0U);
}

TEST(BufferPool, BuffersOnLoanAtTheSameTimeAreDistinctAndWhole) {
  BufferPool pool;
  auto a = pool.take();
  auto b = pool.take();
  ASSERT_NE(a.data(), b.data());
  // Each is writable over its whole size without touching the other.
  std::fill_n(a.data(), BufferPool::kBufferSize, 'a');
  std::fill_n(b.data(), BufferPool::kBufferSize, 'b');
  EXPECT_EQ(a.data()[BufferPool::kBufferSize - 1], 'a');
  EXPECT_EQ(b.data()[0], 'b');
}

TEST(BufferPool, KeepsAtMostMaxIdleBuffersAfterABurst) {
  BufferPool pool;
  {
    std::vector<BufferPool::Lease> burst;
    for (std::size_t i = 0; i < BufferPool::kMaxIdle * 3; ++i) burst.push_back(pool.take());
    EXPECT_EQ(pool.on_loan(), BufferPool::kMaxIdle * 3);
  }
  EXPECT_EQ(pool.on_loan(), 0U);
  EXPECT_EQ(pool.idle(), BufferPool::kMaxIdle);
}

TEST(BufferPool, AMovedLeaseGoesBackOnceFromItsLastOwner) {
  BufferPool pool;
  auto a = pool.take();
  BufferPool::Lease b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_EQ(pool.on_loan(), 1U);
  BufferPool::Lease c;
  c = std::move(b);
  EXPECT_EQ(pool.on_loan(), 1U);
  c.release();
  EXPECT_EQ(pool.on_loan(), 0U);
  EXPECT_EQ(pool.idle(), 1U);
  c.release();  // twice is harmless
  EXPECT_EQ(pool.idle(), 1U);
}

}  // namespace
}  // namespace s3proxy
