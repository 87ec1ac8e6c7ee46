#pragma once
// Readiness from the upstream's side: "the upstream answered within the last 30 s". Every
// HTTP answer counts (a 403 still proves the service is there); a connection that fails
// does not. When traffic is idle the proxy probes the upstream itself so that an idle
// proxy in front of a healthy upstream stays ready.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace s3proxy {

class Metrics;

class UpstreamHealth {
 public:
  using clock = std::chrono::steady_clock;
  // INTERFACE.md: /readyz needs an answer from the upstream within the last 30 s
  // (server.ready_window).
  static constexpr std::chrono::seconds kWindow{30};

  explicit UpstreamHealth(clock::duration window = kWindow);

  // The upstream gave an HTTP answer at `when`. Thread-safe and cheap: called per request.
  void answered(clock::time_point when) noexcept;
  // A probe got no answer; kept for the readiness reason.
  void unreachable(std::string why);

  std::optional<clock::time_point> last_answer() const;
  // nullopt while an answer arrived within the window, else a one-line reason.
  std::optional<std::string> not_ready_reason(clock::time_point now) const;
  [[nodiscard]] clock::duration window() const noexcept { return window_; }

 private:
  clock::duration window_;
  // clock ticks since the epoch of the last answer; 0: none yet.
  std::atomic<clock::rep> last_answer_{0};
  mutable std::mutex mutex_;
  std::string last_failure_;
};

// True when nothing answered for `idle` (or ever): time for a probe of the proxy's own.
bool probe_due(std::optional<UpstreamHealth::clock::time_point> last_answer, UpstreamHealth::clock::time_point now,
               UpstreamHealth::clock::duration idle);

// Probes the upstream when traffic is idle: HEAD on the bucket when one is known (the
// cheapest signed request), else ListBuckets. Runs on the io_context it is given.
class UpstreamProbe {
 public:
  // A probe goes out once nothing answered for this long: two chances inside kWindow
  // (a third of a shorter window).
  static constexpr std::chrono::seconds kIdleBeforeProbe{10};
  // How often the probe looks at the last answer (a sixth of a shorter window).
  static constexpr std::chrono::seconds kTick{5};

  // metrics and health must outlive the io_context's run; tls may be null for http. Each
  // probe is signed with the settings `upstream` gives when it starts.
  UpstreamProbe(asio::io_context& ioc, UpstreamSource upstream, std::shared_ptr<ssl::context> tls, Metrics& metrics,
                UpstreamHealth& health, std::string bucket = {});
  // Always these upstream settings (a copy).
  UpstreamProbe(asio::io_context& ioc, const UpstreamConfig& upstream, std::shared_ptr<ssl::context> tls,
                Metrics& metrics, UpstreamHealth& health, std::string bucket = {});
  ~UpstreamProbe();
  UpstreamProbe(const UpstreamProbe&) = delete;
  UpstreamProbe& operator=(const UpstreamProbe&) = delete;

  void start();  // the first probe goes out at once
  void stop();   // safe from any thread; the loop ends at its next step

 private:
  struct State;
  static asio::awaitable<void> loop(std::shared_ptr<State> st);
  std::shared_ptr<State> state_;
};

}  // namespace s3proxy
