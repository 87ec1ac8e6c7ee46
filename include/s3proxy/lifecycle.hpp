#pragma once
// Client connections through their life, and the process's shutdown around them.
//
// Every connection holds a ConnectionGuard for as long as its coroutine runs and every
// request a RequestInFlight: both are counted in their constructors and uncounted in their
// destructors, so a session that ends by an exception still leaves the counts (and the
// client_connections gauge) right. The guards register each connection with its worker's
// ConnectionRegistry, which is how a shutdown reaches them:
//
//   SIGTERM           close_idle(): connections between requests are closed at once;
//                     busy ones finish their request and close (WorkerState::stopping).
//   grace period end  cancel_all(): every connection still open is closed; a request cut
//                     this way ends through the relay's usual error paths and is audited
//                     with status 503 ServiceUnavailable (mark_cut_by_shutdown).
//
// A registry is used only on its worker's thread; Activity, shared by all workers, is
// atomic and tells the main thread when the last connection has gone.
#include "s3proxy/audit.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace s3proxy {

class ConfigStore;
class Metrics;

// Process-wide counts of open connections and requests in flight. Thread-safe.
class Activity {
 public:
  [[nodiscard]] long connections() const { return connections_.load(); }
  [[nodiscard]] long requests() const { return requests_.load(); }
  // Requests cut by cancel_all() so far.
  [[nodiscard]] long cut_by_shutdown() const { return cut_.load(); }

  // From now on `listener` runs (on the thread where it happened) after every connection
  // or request that ends. Call once, when the drain starts.
  void watch_drain(std::function<void()> listener);

 private:
  friend class ConnectionGuard;
  friend class RequestInFlight;
  friend class ConnectionRegistry;
  bool try_open(std::size_t limit);
  void ended(std::atomic<long>& counter);

  std::atomic<long> connections_{0};
  std::atomic<long> requests_{0};
  std::atomic<long> cut_{0};
  std::atomic<bool> draining_{false};
  std::function<void()> listener_;  // written once, before draining_ is set
};

class ConnectionRegistry;

// What the registry knows of one connection.
struct ConnectionSlot {
  ConnectionRegistry* registry = nullptr;
  std::string remote;
  std::function<void()> close;  // closes the client socket: its pending I/O ends with operation_aborted
  bool in_request = false;
  bool request_interrupted = false;  // a request was unwound by an exception (no audit line of its own)
  bool cut_by_shutdown = false;
};

// One per worker; only that worker's thread touches it.
class ConnectionRegistry {
 public:
  // All references must outlive the registry.
  ConnectionRegistry(Activity& activity, const ConfigStore& config, AuditLog& audit, Metrics& metrics);
  ConnectionRegistry(const ConnectionRegistry&) = delete;
  ConnectionRegistry& operator=(const ConnectionRegistry&) = delete;

  // SIGTERM: closes connections that are not inside a request; later connections are
  // refused (503 SlowDown).
  void close_idle();
  // End of the grace period: closes every connection left; returns how many were inside a request.
  std::size_t cancel_all();

  [[nodiscard]] std::size_t open() const { return slots_.size(); }
  [[nodiscard]] bool closing() const { return closing_; }

  Activity& activity() { return activity_; }
  AuditLog& audit() { return audit_; }
  Metrics& metrics() { return metrics_; }

 private:
  friend class ConnectionGuard;
  Activity& activity_;
  const ConfigStore& config_;
  AuditLog& audit_;
  Metrics& metrics_;
  std::list<ConnectionSlot*> slots_;
  bool closing_ = false;
};

// Why a connection is not served.
enum class Refusal { none, max_connections, shutdown };
std::string_view refusal_name(Refusal r);  // "max_connections", "shutdown"

// Held by a connection's coroutine from accept to close.
class ConnectionGuard {
 public:
  ConnectionGuard(ConnectionRegistry& registry, std::string remote);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Served, or refused because server.max_connections are open or the proxy is shutting down.
  [[nodiscard]] bool admitted() const { return refusal_ == Refusal::none; }
  [[nodiscard]] Refusal refusal() const { return refusal_; }
  ConnectionSlot& slot() { return slot_; }
  [[nodiscard]] const std::string& remote() const { return slot_.remote; }

  // How to close this connection from outside (shutdown); set once the stream exists.
  void on_close(std::function<void()> close) { slot_.close = std::move(close); }

  // The refusal is audited and counted (called once the 503 is on its way).
  void report_refused();
  // An exception reached the connection's boundary: one error audit record (no secrets:
  // the exception's text, the remote address, whether a request was cut), the metric, and
  // the connection closed.
  void report_internal_error(std::string_view what);

 private:
  ConnectionRegistry& registry_;
  ConnectionSlot slot_;
  std::list<ConnectionSlot*>::iterator entry_;
  Refusal refusal_ = Refusal::none;
};

// Held for the life of one request on a connection.
class RequestInFlight {
 public:
  explicit RequestInFlight(ConnectionSlot& slot);
  ~RequestInFlight();
  RequestInFlight(const RequestInFlight&) = delete;
  RequestInFlight& operator=(const RequestInFlight&) = delete;

 private:
  ConnectionSlot& slot_;
  int uncaught_ = 0;
};

// The audit fields of a request that cancel_all() cut: status 503, s3_code
// "ServiceUnavailable", a message naming the shutdown. Applied before classify_outcome, so a
// cut write is a write_failed/error line.
void mark_cut_by_shutdown(AuditRecord& rec);

// The longest exception text put in an internal_error record.
inline constexpr std::size_t kMaxInternalErrorText = 300;

}  // namespace s3proxy
