#pragma once
// Per-access-key request rate limits: one token bucket per key, refilled at `rate` tokens
// a second and holding at most `rate` of them (burst = rate, at least one), so a key may
// make `rate` requests at once after a quiet second and `rate` a second on average.
//
// One limiter is shared by every worker thread (a key's requests reach whichever worker
// accepted the connection, and per-worker buckets at rate/threads would refuse a client
// whose connections happen to land on one worker). A mutex guards the buckets: it is held
// for one hash lookup and a few arithmetic operations per request.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace s3proxy {

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `now` defaults to the steady clock; tests inject their own.
  explicit RateLimiter(Clock now = {});

  // Takes one token from `key`'s bucket: true when the request may proceed. rate 0 means
  // no limit (always true, no bucket kept). A changed rate (after a reload) applies from
  // this call on; the tokens the key has are kept, capped at the new burst.
  bool admit(std::string_view key, std::uint32_t rate);

  // Forgets the buckets of keys not in `keys` (clients removed by a reload).
  void retain(const std::vector<std::string>& keys);

  std::size_t tracked_keys() const;

 private:
  struct Bucket {
    double tokens = 0;
    std::uint32_t rate = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Clock now_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> buckets_;
};

}  // namespace s3proxy
