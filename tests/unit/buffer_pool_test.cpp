#include "s3proxy/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <set>
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

// 64 keep-alive connections on a worker keep about 128 blocks on loan at once: a pool that
// kept only a fixed few made every request past them allocate and free 64 KiB.
TEST(BufferPool, KeepsEveryBlockASustainedPeakNeeds) {
  BufferPool pool;
  constexpr std::size_t kPeak = BufferPool::kMinIdle * 8;
  std::set<const char*> blocks;
  for (int round = 0; round < 3; ++round) {
    std::vector<BufferPool::Lease> busy;
    for (std::size_t i = 0; i < kPeak; ++i) busy.push_back(pool.take());
    for (const auto& b : busy) blocks.insert(b.data());
  }
  EXPECT_EQ(blocks.size(), kPeak);  // the second and third rounds allocated nothing
  EXPECT_EQ(pool.idle(), kPeak);
}

TEST(BufferPool, TrimGivesABurstBackOnlyAfterAPeriodThatDidNotNeedIt) {
  BufferPool pool;
  {
    std::vector<BufferPool::Lease> burst;
    for (std::size_t i = 0; i < BufferPool::kMinIdle * 3; ++i) burst.push_back(pool.take());
  }
  pool.trim();  // the period that just ended needed them all
  EXPECT_EQ(pool.idle(), BufferPool::kMinIdle * 3);
  pool.trim();  // a quiet period
  EXPECT_EQ(pool.idle(), BufferPool::kMinIdle);
  pool.trim();
  EXPECT_EQ(pool.idle(), BufferPool::kMinIdle);
}

TEST(BufferPool, TrimCountsBlocksOnLoanTowardsWhatIsKept) {
  BufferPool pool;
  std::vector<BufferPool::Lease> busy;
  for (std::size_t i = 0; i < BufferPool::kMinIdle * 2; ++i) busy.push_back(pool.take());
  busy.resize(BufferPool::kMinIdle / 2);  // the rest come back
  pool.trim();
  pool.trim();  // the peak is now the loans in flight: kMinIdle is kept in all
  EXPECT_EQ(pool.on_loan(), BufferPool::kMinIdle / 2);
  EXPECT_EQ(pool.idle(), BufferPool::kMinIdle / 2);
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
