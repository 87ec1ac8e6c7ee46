#include "s3proxy/canary.hpp"

#include "s3proxy/audit.hpp"
#include "s3proxy/crypto.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/sigv4.hpp"
#include "s3proxy/upstream.hpp"
#include "s3proxy/upstream_health.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <mutex>
#include <random>

namespace s3proxy {

namespace {

// Bytes of randomness in each object's content.
constexpr std::size_t kCanaryContentRandomBytes = 32;

CanaryFailure from_response(CanaryStep step, const S3Response& r) {
  CanaryFailure f{step, r.status, r.s3_code, r.s3_message, r.request_id, {}};
  if (r.transport || r.s3_code.empty()) f.detail = describe_failure(r);
  return f;
}

boost::json::value opt(const std::string& s) {
  if (s.empty()) return nullptr;
  return boost::json::value(s);
}

double millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

std::string_view step_name(CanaryStep step) {
  switch (step) {
    case CanaryStep::put: return "put";
    case CanaryStep::head: return "head";
    case CanaryStep::get: return "get";
    case CanaryStep::list: return "list";
    case CanaryStep::del: return "delete";
  }
  return "unknown";
}

std::string summary(const CanaryFailure& f) {
  if (!f.s3_code.empty()) return fmt::format("{} ({})", f.s3_code, f.status);
  if (!f.detail.empty()) return f.detail;
  return fmt::format("HTTP {}", f.status);
}

std::optional<std::string> failure_reason(const CanaryOutcome& outcome) {
  if (outcome.ok()) return std::nullopt;
  const auto& first = outcome.failures.front();
  return fmt::format("canary failed at {}: {}", step_name(first.step), summary(first));
}

std::string canary_key(std::string_view prefix, std::chrono::system_clock::time_point when, std::string_view suffix) {
  return fmt::format("{}{}-{}", prefix, sigv4::amz_date(when), suffix);
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    // Uniqueness, not secrecy, is what the check needs: fall back to the OS's generator.
    std::random_device rd;
    for (auto& c : raw) c = static_cast<char>(rd());
  }
  return crypto::hex(raw);
}

std::string canary_body(std::string_view key, std::string_view random) {
  return fmt::format("s3-acl-proxy synthetic write check\n{}\n{}\n", key, random);
}

asio::awaitable<CanaryOutcome> run_canary_once(S3Client& client, const CanaryConfig& cfg,
                                               std::chrono::system_clock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  CanaryOutcome out;
  out.bucket = cfg.bucket;
  out.key = canary_key(cfg.prefix, now, random_hex(kCanaryRandomBytes));
  const std::string body = canary_body(out.key, random_hex(kCanaryContentRandomBytes));

  const S3Response put = co_await client.put_object(cfg.bucket, out.key, body);
  if (!put.ok()) {
    out.failures.push_back(from_response(CanaryStep::put, put));
  } else {
    const S3Response head = co_await client.head_object(cfg.bucket, out.key);
    if (!head.ok()) {
      out.failures.push_back(from_response(CanaryStep::head, head));
    } else if (head.content_length != body.size()) {
      out.failures.push_back(CanaryFailure{
          CanaryStep::head, head.status, {}, {}, head.request_id,
          fmt::format("HEAD reports {} bytes, {} were written",
                      head.content_length ? std::to_string(*head.content_length) : "no length", body.size())});
    }

    const S3Response get = co_await client.get_object(cfg.bucket, out.key);
    if (!get.ok()) {
      out.failures.push_back(from_response(CanaryStep::get, get));
    } else if (get.body != body) {
      out.failures.push_back(CanaryFailure{CanaryStep::get, get.status, {}, {}, get.request_id,
                                           "the object read back differs from the one written"});
    }

    const S3Response list = co_await client.list_objects_v2(cfg.bucket, out.key);
    if (!list.ok()) {
      out.failures.push_back(from_response(CanaryStep::list, list));
    } else if (!listing_contains_key(list.body, out.key)) {
      out.failures.push_back(CanaryFailure{CanaryStep::list, list.status, {}, {}, list.request_id,
                                           "the object written is missing from the listing"});
    }

    const S3Response del = co_await client.delete_object(cfg.bucket, out.key);
    if (!del.ok()) out.failures.push_back(from_response(CanaryStep::del, del));
  }
  out.elapsed = std::chrono::steady_clock::now() - started;
  out.finished = std::chrono::system_clock::now();
  co_return out;
}

boost::json::object failure_fields(const CanaryOutcome& outcome, const CanaryFailure& f) {
  boost::json::object o;
  o["result"] = "failed";
  o["step"] = step_name(f.step);
  o["bucket"] = outcome.bucket;
  o["key"] = outcome.key;
  o["status"] = f.status == 0 ? boost::json::value(nullptr) : boost::json::value(f.status);
  o["s3_code"] = opt(f.s3_code);
  o["s3_message"] = opt(f.s3_message);
  o["request_id"] = opt(f.request_id);
  o["detail"] = opt(f.detail);
  o["duration_ms"] = millis(outcome.elapsed);
  return o;
}

void audit_outcome(AuditLog& audit, const CanaryOutcome& outcome) {
  if (outcome.ok()) {
    audit.event(Level::info, "canary",
                boost::json::object{{"result", "ok"},
                                    {"bucket", outcome.bucket},
                                    {"key", outcome.key},
                                    {"duration_ms", millis(outcome.elapsed)}});
    return;
  }
  for (const auto& f : outcome.failures) audit.event(Level::error, "canary", failure_fields(outcome, f));
}

struct Canary::State {
  State(asio::io_context& ioc, UpstreamSource upstream, const CanaryConfig& cfg, std::shared_ptr<ssl::context> tls,
        AuditLog& audit, Metrics& metrics, UpstreamHealth* health)
      : pool(ioc.get_executor(), *upstream(), std::move(tls), metrics),
        client(pool, std::move(upstream)),
        cfg(cfg),
        audit(audit),
        metrics(metrics),
        timer(ioc) {
    if (health) client.on_answer([health] { health->answered(std::chrono::steady_clock::now()); });
  }

  UpstreamPool pool;
  S3Client client;
  const CanaryConfig cfg;
  AuditLog& audit;
  Metrics& metrics;
  asio::steady_timer timer;
  std::atomic<bool> stopped{false};

  mutable std::mutex mutex;
  std::optional<std::string> reason = "the synthetic write check has not completed yet";
};

Canary::Canary(asio::io_context& ioc, UpstreamSource upstream, const CanaryConfig& cfg,
               std::shared_ptr<ssl::context> tls, AuditLog& audit, Metrics& metrics, UpstreamHealth* health)
    : state_(std::make_shared<State>(ioc, std::move(upstream), cfg, std::move(tls), audit, metrics, health)) {}

Canary::Canary(asio::io_context& ioc, const UpstreamConfig& upstream, const CanaryConfig& cfg,
               std::shared_ptr<ssl::context> tls, AuditLog& audit, Metrics& metrics, UpstreamHealth* health)
    : Canary(ioc, fixed_upstream(upstream), cfg, std::move(tls), audit, metrics, health) {}

// No post here: the io_context may already be gone; a running loop sees the flag at its next step.
Canary::~Canary() { state_->stopped = true; }

void Canary::start() { asio::co_spawn(state_->timer.get_executor(), loop(state_), asio::detached); }

void Canary::stop() {
  state_->stopped = true;
  asio::post(state_->timer.get_executor(), [st = state_] {
    st->timer.cancel();
    st->pool.close_idle();
  });
}

std::optional<std::string> Canary::not_ready_reason() const {
  std::lock_guard lock(state_->mutex);
  return state_->reason;
}

asio::awaitable<void> Canary::loop(std::shared_ptr<State> st) {
  while (!st->stopped) {
    const auto started = std::chrono::steady_clock::now();
    const auto now = std::chrono::system_clock::now();  // named: no temporaries inside co_await (GCC 12)
    CanaryOutcome outcome = co_await run_canary_once(st->client, st->cfg, now);
    if (st->stopped) co_return;  // a check cut short by shutdown says nothing about the bucket
    audit_outcome(st->audit, outcome);
    st->metrics.canary(outcome.ok(), outcome.elapsed, outcome.finished);
    {
      std::lock_guard lock(st->mutex);
      st->reason = failure_reason(outcome);
    }
    // Idle connections would be dropped by the upstream long before the next check.
    st->pool.close_idle();
    st->timer.expires_at(started + st->cfg.interval);
    auto [ec] = co_await st->timer.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

std::optional<std::string> readiness_reason(const UpstreamHealth& health, const Canary* canary,
                                            std::chrono::steady_clock::time_point now) {
  if (auto why = health.not_ready_reason(now)) return why;
  if (canary) return canary->not_ready_reason();
  return std::nullopt;
}

}  // namespace s3proxy
