#pragma once
// The synthetic write check: write a small object without ACL headers, read it back
// (HEAD for the size, GET for the bytes), find it in a listing and delete it. It catches
// a deny-wins bucket policy or a dead bucket from ground truth, even when nobody uploads.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace s3proxy {

class AuditLog;
class Metrics;
class S3Client;
class UpstreamHealth;

enum class CanaryStep { put, head, get, list, del };
std::string_view step_name(CanaryStep step);  // "put", "head", "get", "list", "delete"

struct CanaryFailure {
  CanaryStep step = CanaryStep::put;
  unsigned status = 0;  // HTTP status of the step's answer; 0: no answer
  std::string s3_code, s3_message, request_id;
  std::string detail;  // what was wrong when the answer itself was a success, or the transport error
};
// "AccessDenied (403)", "HTTP 404", "no answer from the upstream: ...", or the detail.
std::string summary(const CanaryFailure& f);

struct CanaryOutcome {
  std::string bucket, key;
  // In step order; the first is the cause, later ones follow from it or are separate
  // (a failed clean-up delete).
  std::vector<CanaryFailure> failures;
  std::chrono::steady_clock::duration elapsed{};
  std::chrono::system_clock::time_point finished;

  [[nodiscard]] bool ok() const { return failures.empty(); }
};

// "canary failed at put: AccessDenied (403)", or nullopt for a passing check.
std::optional<std::string> failure_reason(const CanaryOutcome& outcome);

// prefix + "20261123T181500Z-" + suffix: sorts by time in a listing, unique per run.
std::string canary_key(std::string_view prefix, std::chrono::system_clock::time_point when, std::string_view suffix);
// hex of kCanaryRandomBytes random bytes (OpenSSL's generator).
inline constexpr std::size_t kCanaryRandomBytes = 8;
std::string random_hex(std::size_t bytes);
// The object written: a short line naming the product and the key, plus random bytes
// in hex so a stale or foreign object never compares equal.
std::string canary_body(std::string_view key, std::string_view random);

// One check against cfg.bucket: put, head, get, list (with the object's own key as the
// prefix, so old leftovers under the prefix cannot push it out of the first page),
// delete. After a successful put every step runs and the object is always deleted.
asio::awaitable<CanaryOutcome> run_canary_once(S3Client& client, const CanaryConfig& cfg,
                                               std::chrono::system_clock::time_point now);

// The audit fields of a failed step (step, bucket, key, status, s3_code, s3_message,
// request_id, detail; absent values null).
boost::json::object failure_fields(const CanaryOutcome& outcome, const CanaryFailure& f);
// Audit: an error line per failed step, or one info line with the duration.
void audit_outcome(AuditLog& audit, const CanaryOutcome& outcome);

// Runs the check every cfg.interval on the io_context it is given and keeps the result
// for /readyz, the audit log and the metrics.
class Canary {
 public:
  // audit, metrics and health must outlive the io_context's run; tls may be null for http.
  // health, when given, learns of each answer the upstream gives the check. Each check is
  // signed with the upstream settings `upstream` gives when it starts (a reload may rotate
  // the key); cfg is copied.
  Canary(asio::io_context& ioc, UpstreamSource upstream, const CanaryConfig& cfg, std::shared_ptr<ssl::context> tls,
         AuditLog& audit, Metrics& metrics, UpstreamHealth* health = nullptr);
  // Always these upstream settings (a copy).
  Canary(asio::io_context& ioc, const UpstreamConfig& upstream, const CanaryConfig& cfg,
         std::shared_ptr<ssl::context> tls, AuditLog& audit, Metrics& metrics, UpstreamHealth* health = nullptr);
  ~Canary();
  Canary(const Canary&) = delete;
  Canary& operator=(const Canary&) = delete;

  void start();  // the first check runs at once, then one every cfg.interval (from its start)
  void stop();   // safe from any thread; the loop ends at its next step

  // Thread-safe. nullopt while the last check passed; before the first check finishes,
  // the reason says it is pending.
  std::optional<std::string> not_ready_reason() const;

 private:
  struct State;
  static asio::awaitable<void> loop(std::shared_ptr<State> st);
  std::shared_ptr<State> state_;
};

// The readiness answer for /readyz: the upstream's first, then the canary's (may be null).
std::optional<std::string> readiness_reason(const UpstreamHealth& health, const Canary* canary,
                                            std::chrono::steady_clock::time_point now);

}  // namespace s3proxy
