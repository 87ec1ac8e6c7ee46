#include "s3proxy/upstream_health.hpp"

#include "s3proxy/s3_client.hpp"
#include "s3proxy/upstream.hpp"

#include <fmt/format.h>

namespace s3proxy {

UpstreamHealth::UpstreamHealth(clock::duration window) : window_(window) {}

void UpstreamHealth::answered(clock::time_point when) noexcept {
  // Answers may be reported out of order from several threads: keep the latest.
  const auto ticks = when.time_since_epoch().count();
  auto seen = last_answer_.load(std::memory_order_relaxed);
  while (ticks > seen && !last_answer_.compare_exchange_weak(seen, ticks, std::memory_order_relaxed)) {
  }
}

void UpstreamHealth::unreachable(std::string why) {
  std::lock_guard lock(mutex_);
  last_failure_ = std::move(why);
}

std::optional<UpstreamHealth::clock::time_point> UpstreamHealth::last_answer() const {
  const auto ticks = last_answer_.load(std::memory_order_relaxed);
  if (ticks == 0) return std::nullopt;
  return clock::time_point(clock::duration(ticks));
}

std::optional<std::string> UpstreamHealth::not_ready_reason(clock::time_point now) const {
  const auto last = last_answer();
  if (last && now - *last <= window_) return std::nullopt;
  std::string failure;
  {
    std::lock_guard lock(mutex_);
    failure = last_failure_;
  }
  const std::string why = failure.empty() ? std::string() : fmt::format(" (last probe: {})", failure);
  if (!last) return fmt::format("the upstream has not answered yet{}", why);
  const auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - *last).count();
  return fmt::format("the upstream has not answered for {} s{}", ago, why);
}

bool probe_due(std::optional<UpstreamHealth::clock::time_point> last_answer, UpstreamHealth::clock::time_point now,
               UpstreamHealth::clock::duration idle) {
  return !last_answer || now - *last_answer >= idle;
}

struct UpstreamProbe::State {
  State(asio::io_context& ioc, UpstreamSource upstream, std::shared_ptr<ssl::context> tls, Metrics& metrics,
        UpstreamHealth& health, std::string bucket)
      : pool(ioc.get_executor(), *upstream(), std::move(tls), metrics),
        client(pool, std::move(upstream)),
        health(health),
        bucket(std::move(bucket)),
        timer(ioc) {
    client.on_answer([this] { this->health.answered(UpstreamHealth::clock::now()); });
  }

  UpstreamPool pool;
  S3Client client;
  UpstreamHealth& health;
  std::string bucket;
  asio::steady_timer timer;
  std::atomic<bool> stopped{false};
};

UpstreamProbe::UpstreamProbe(asio::io_context& ioc, UpstreamSource upstream, std::shared_ptr<ssl::context> tls,
                             Metrics& metrics, UpstreamHealth& health, std::string bucket)
    : state_(std::make_shared<State>(ioc, std::move(upstream), std::move(tls), metrics, health, std::move(bucket))) {}

UpstreamProbe::UpstreamProbe(asio::io_context& ioc, const UpstreamConfig& upstream, std::shared_ptr<ssl::context> tls,
                             Metrics& metrics, UpstreamHealth& health, std::string bucket)
    : UpstreamProbe(ioc, fixed_upstream(upstream), std::move(tls), metrics, health, std::move(bucket)) {}

// No post here: the io_context may already be gone; a running loop sees the flag at its next tick.
UpstreamProbe::~UpstreamProbe() { state_->stopped = true; }

void UpstreamProbe::start() { asio::co_spawn(state_->timer.get_executor(), loop(state_), asio::detached); }

void UpstreamProbe::stop() {
  state_->stopped = true;
  asio::post(state_->timer.get_executor(), [st = state_] {
    st->timer.cancel();
    st->pool.close_idle();
  });
}

asio::awaitable<void> UpstreamProbe::loop(std::shared_ptr<State> st) {
  const auto window = st->health.window();
  const UpstreamHealth::clock::duration idle = std::min<UpstreamHealth::clock::duration>(kIdleBeforeProbe, window / 3);
  const UpstreamHealth::clock::duration tick = std::min<UpstreamHealth::clock::duration>(kTick, window / 6);
  while (!st->stopped) {
    if (probe_due(st->health.last_answer(), UpstreamHealth::clock::now(), idle)) {
      // (An if, not ?: -- GCC 12 mishandles co_await inside a conditional expression.)
      S3Response r;
      if (st->bucket.empty()) r = co_await st->client.list_buckets();
      else r = co_await st->client.head_bucket(st->bucket);
      if (!r.answered()) st->health.unreachable(describe_failure(r));
      else st->health.unreachable({});
    }
    if (st->stopped) co_return;
    st->timer.expires_after(tick);
    auto [ec] = co_await st->timer.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

}  // namespace s3proxy
