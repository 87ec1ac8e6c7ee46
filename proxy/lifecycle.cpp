#include "s3proxy/lifecycle.hpp"

#include "s3proxy/config_store.hpp"
#include "s3proxy/metrics.hpp"

#include <exception>

namespace s3proxy {

void Activity::watch_drain(std::function<void()> listener) {
  listener_ = std::move(listener);
  draining_.store(true, std::memory_order_release);
}

bool Activity::try_open(std::size_t limit) {
  // Reserve first, then check: two workers accepting at once can never both take the last slot.
  if (connections_.fetch_add(1) >= static_cast<long>(limit)) {
    connections_.fetch_sub(1);
    return false;
  }
  return true;
}

void Activity::ended(std::atomic<long>& counter) {
  counter.fetch_sub(1);
  if (draining_.load(std::memory_order_acquire)) listener_();
}

ConnectionRegistry::ConnectionRegistry(Activity& activity, const ConfigStore& config, AuditLog& audit,
                                       Metrics& metrics)
    : activity_(activity), config_(config), audit_(audit), metrics_(metrics) {}

void ConnectionRegistry::close_idle() {
  closing_ = true;
  // Closing runs no completion handler here (they are queued), so the list cannot change
  // under the loop; copy it anyway, as a guard against that ever changing.
  const std::list<ConnectionSlot*> slots = slots_;
  for (ConnectionSlot* s : slots) {
    if (!s->in_request && s->close) s->close();
  }
}

std::size_t ConnectionRegistry::cancel_all() {
  closing_ = true;
  std::size_t cut = 0;
  const std::list<ConnectionSlot*> slots = slots_;
  for (ConnectionSlot* s : slots) {
    if (s->in_request) {
      s->cut_by_shutdown = true;
      ++cut;
    }
    if (s->close) s->close();
  }
  activity_.cut_.fetch_add(static_cast<long>(cut));
  return cut;
}

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::none: return "none";
    case Refusal::max_connections: return "max_connections";
    case Refusal::shutdown: return "shutdown";
  }
  return "none";
}

ConnectionGuard::ConnectionGuard(ConnectionRegistry& registry, std::string remote) : registry_(registry) {
  slot_.registry = &registry;
  slot_.remote = std::move(remote);
  entry_ = registry_.slots_.insert(registry_.slots_.end(), &slot_);
  if (registry_.closing_) {
    refusal_ = Refusal::shutdown;
  } else if (!registry_.activity_.try_open(registry_.config_.current()->server.max_connections)) {
    refusal_ = Refusal::max_connections;
  } else {
    registry_.metrics_.client_connection(+1);
  }
}

ConnectionGuard::~ConnectionGuard() {
  registry_.slots_.erase(entry_);
  if (admitted()) {
    registry_.metrics_.client_connection(-1);
    registry_.activity_.ended(registry_.activity_.connections_);
  }
}

void ConnectionGuard::report_refused() {
  registry_.metrics_.throttled(refusal_name(refusal_));
  boost::json::object fields{{"remote", slot_.remote}, {"reason", refusal_name(refusal_)}, {"status", 503},
                             {"s3_code", "SlowDown"}};
  if (refusal_ == Refusal::max_connections) {
    fields.emplace("max_connections", registry_.config_.current()->server.max_connections);
  }
  registry_.audit_.event(Level::warn, "connection_refused", std::move(fields));
}

void ConnectionGuard::report_internal_error(std::string_view what) {
  registry_.metrics_.internal_error();
  const std::string text(what.substr(0, kMaxInternalErrorText));
  registry_.audit_.event(Level::error, "internal_error",
                         boost::json::object{{"remote", slot_.remote},
                                             {"error", text},
                                             {"request_interrupted", slot_.request_interrupted}});
  if (slot_.close) slot_.close();
}

RequestInFlight::RequestInFlight(ConnectionSlot& slot) : slot_(slot), uncaught_(std::uncaught_exceptions()) {
  slot_.in_request = true;
  slot_.registry->activity().requests_.fetch_add(1);
}

RequestInFlight::~RequestInFlight() {
  slot_.in_request = false;
  if (std::uncaught_exceptions() > uncaught_) slot_.request_interrupted = true;
  auto& activity = slot_.registry->activity();
  activity.ended(activity.requests_);
}

void mark_cut_by_shutdown(AuditRecord& rec) {
  rec.status = 503;
  rec.s3_code = "ServiceUnavailable";
  rec.s3_message = "The proxy shut down before the request completed (server.shutdown_grace ended).";
}

}  // namespace s3proxy
