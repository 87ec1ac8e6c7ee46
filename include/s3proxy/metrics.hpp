#pragma once
// Named counters, gauges and histograms for GET /metrics, rendered in the Prometheus text
// exposition format 0.0.4. Recording is cheap and safe from any io_context thread.
//
// Every label value is bounded: operations come from a fixed list (anything else counts as
// "Unknown"), S3 error codes are checked for shape and capped per metric (anything beyond
// counts as "other"), and no bucket, key or access key ever becomes a label.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace s3proxy {

// A scrape must stay small however hostile the upstream: codes come from its XML error
// bodies, so past this many distinct codes in one metric new ones are counted as "other".
inline constexpr std::size_t kMaxS3CodeSeries = 64;
// Longest S3 error code admitted as a label value; real codes are under 40 characters.
inline constexpr std::size_t kMaxS3CodeLength = 64;

// The operation names the `op` label may take, in rendering order; ends with "Unknown".
std::span<const std::string_view> metric_ops();
// `op` itself when it is in metric_ops(), else "Unknown".
std::string_view metric_op_label(std::string_view op);
// "1xx".."5xx"; a status outside 100..599 counts as "5xx" (the proxy failed to answer properly).
std::string_view metric_status_class(unsigned status);
// True for a code that may become a label value: [A-Za-z0-9.]{1,kMaxS3CodeLength}.
bool is_valid_s3_code_label(std::string_view code);
// Escapes a label value per the text format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

class Metrics {
 public:
  // build_info{version} carries kVersion (version.hpp) unless another version is given.
  Metrics();
  explicit Metrics(std::string_view version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  Metrics(Metrics&&) = delete;
  Metrics& operator=(Metrics&&) = delete;

  // One S3 request answered: requests_total{op,status class} and request_duration_seconds{op}.
  // A negative or non-finite elapsed time is recorded as 0.
  void request(std::string_view op, unsigned status, std::chrono::duration<double> elapsed);
  // Decoded payload bytes from the client and to the client.
  void bytes(std::uint64_t received, std::uint64_t sent);
  // An error answer from the upstream; an empty code is recorded as "none".
  void upstream_error(std::string_view op, std::string_view s3_code);
  // event is "write_denied" or "write_failed" (anything else counts as "other").
  void write_failure(std::string_view op, std::string_view event, std::string_view s3_code);
  // action is "stripped" or "kept"; header is matched case-insensitively against the ACL
  // headers, anything else counts as "other".
  void acl_header(std::string_view action, std::string_view header);
  // action is "rejected", "accepted_locally" or "forwarded" (anything else counts as "other").
  void acl_request(std::string_view action);
  // reason is the S3 error code answered, e.g. "SignatureDoesNotMatch".
  void auth_failure(std::string_view reason);
  void phantom_write(std::string_view op);
  // A conditional request's answer relayed from the upstream: outcome is "not_modified" (304),
  // "precondition_failed" (412) or "conflict" (409 ConditionalRequestConflict); anything else
  // counts as "other".
  void conditional(std::string_view op, std::string_view outcome);
  // +1 when a connection opens, -1 when it closes.
  void client_connection(int delta);
  void upstream_connection(int delta);
  void upstream_connection_reused();
  // An idle pooled upstream connection dropped because the upstream closed it (or sent
  // bytes nobody asked for) while it waited for reuse.
  void upstream_idle_closed();
  // A connection or request refused for overload. reason is "max_connections",
  // "rate_limit" or "shutdown" (anything else counts as "other").
  void throttled(std::string_view reason);
  // accept() failed (EMFILE, ENFILE, ENOBUFS...).
  void accept_error();
  // An exception reached a connection's boundary (a bug): the connection was closed.
  void internal_error();
  // A configuration reload (SIGHUP) was applied (ok) or refused.
  void config_reload(bool ok);
  // The outcome of one synthetic write check that finished at `when`.
  void canary(bool ok, std::chrono::duration<double> elapsed, std::chrono::system_clock::time_point when);

  // The whole registry in Prometheus text format 0.0.4
  // (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string render() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace s3proxy
