#include "s3proxy/rate_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A clock the test moves by hand.
struct ManualClock {
  steady::time_point t = steady::time_point(1000s);
  RateLimiter::Clock fn() {
    return [this] { return t; };
  }
};

int admitted(RateLimiter& limiter, std::string_view key, std::uint32_t rate, int tries) {
  int n = 0;
  for (int i = 0; i < tries; ++i) n += limiter.admit(key, rate) ? 1 : 0;
  return n;
}

TEST(RateLimiter, BurstEqualsTheRate) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  EXPECT_EQ(admitted(limiter, "AKIAONE", 5, 20), 5);
}

TEST(RateLimiter, RefillsAtTheRate) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  ASSERT_EQ(admitted(limiter, "AKIAONE", 10, 10), 10);
  EXPECT_FALSE(limiter.admit("AKIAONE", 10));
  clock.t += 300ms;  // three tokens
  EXPECT_EQ(admitted(limiter, "AKIAONE", 10, 10), 3);
}

TEST(RateLimiter, NeverHoldsMoreThanTheBurst) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  ASSERT_TRUE(limiter.admit("AKIAONE", 4));
  clock.t += 1h;
  EXPECT_EQ(admitted(limiter, "AKIAONE", 4, 100), 4);
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  ASSERT_EQ(admitted(limiter, "AKIAONE", 2, 5), 2);
  EXPECT_EQ(admitted(limiter, "AKIATWO", 2, 5), 2);
}

TEST(RateLimiter, RateZeroIsNoLimitAndKeepsNoBucket) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  EXPECT_EQ(admitted(limiter, "AKIAONE", 0, 1000), 1000);
  EXPECT_EQ(limiter.tracked_keys(), 0u);
}

TEST(RateLimiter, RateBelowOneRequestStillAdmitsOne) {
  // A rate of 1 a second with a burst of 1: one now, the next a second later.
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  EXPECT_TRUE(limiter.admit("AKIAONE", 1));
  EXPECT_FALSE(limiter.admit("AKIAONE", 1));
  clock.t += 999ms;
  EXPECT_FALSE(limiter.admit("AKIAONE", 1));
  clock.t += 1ms;
  EXPECT_TRUE(limiter.admit("AKIAONE", 1));
}

TEST(RateLimiter, LoweredRateCapsTheTokensAtTheNewBurst) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  ASSERT_TRUE(limiter.admit("AKIAONE", 100));  // 99 tokens left
  EXPECT_EQ(admitted(limiter, "AKIAONE", 3, 100), 3);
}

TEST(RateLimiter, RetainForgetsRemovedKeys) {
  ManualClock clock;
  RateLimiter limiter(clock.fn());
  ASSERT_EQ(admitted(limiter, "AKIAOLD", 1, 1), 1);
  ASSERT_EQ(admitted(limiter, "AKIANEW", 1, 1), 1);
  limiter.retain({"AKIANEW"});
  EXPECT_EQ(limiter.tracked_keys(), 1u);
  EXPECT_TRUE(limiter.admit("AKIAOLD", 1));   // a fresh, full bucket
  EXPECT_FALSE(limiter.admit("AKIANEW", 1));  // still empty
}

TEST(RateLimiter, ThreadsSharingAKeyShareItsBudget) {
  ManualClock clock;  // frozen: no refill while the threads run
  RateLimiter limiter(clock.fn());
  constexpr int kThreads = 4, kTries = 2000;
  constexpr std::uint32_t kRate = 1000;
  std::atomic<int> total{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] { total += admitted(limiter, "AKIASHARED", kRate, kTries); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(total.load(), static_cast<int>(kRate));
}

}  // namespace
}  // namespace s3proxy
