#include "s3proxy/rate_limit.hpp"

#include <algorithm>
#include <unordered_set>

namespace s3proxy {

namespace {

// A bucket never holds less than one token's room: with a burst below one a key limited
// to less than a request a second could never make a request at all.
double burst_of(std::uint32_t rate) { return std::max(1.0, static_cast<double>(rate)); }

}  // namespace

RateLimiter::RateLimiter(Clock now)
    : now_(now ? std::move(now) : Clock([] { return std::chrono::steady_clock::now(); })) {}

bool RateLimiter::admit(std::string_view key, std::uint32_t rate) {
  if (rate == 0) return true;
  const auto now = now_();
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // A key's first request finds a full bucket.
    it = buckets_.emplace(std::string(key), Bucket{burst_of(rate), rate, now}).first;
  }
  Bucket& b = it->second;
  if (now > b.refilled) {
    const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min(burst_of(rate), b.tokens + elapsed * rate);
    b.refilled = now;
  }
  if (b.rate != rate) {
    b.tokens = std::min(b.tokens, burst_of(rate));
    b.rate = rate;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::retain(const std::vector<std::string>& keys) {
  const std::unordered_set<std::string_view> keep(keys.begin(), keys.end());
  std::lock_guard lock(mutex_);
  std::erase_if(buckets_, [&](const auto& entry) { return !keep.contains(entry.first); });
}

std::size_t RateLimiter::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace s3proxy
