#include "s3proxy/metrics.hpp"

#include "s3proxy/text.hpp"

#include "s3proxy/version.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <utility>

namespace s3proxy {
namespace {

constexpr std::string_view kPrefix = "s3_acl_proxy_";

// The operations the proxy classifies; the last entry catches everything else.
constexpr auto kOps = std::to_array<std::string_view>({"ListBuckets",
                                                       "CreateBucket",
                                                       "DeleteBucket",
                                                       "HeadBucket",
                                                       "ListObjects",
                                                       "ListObjectsV2",
                                                       "ListObjectVersions",
                                                       "GetBucketAcl",
                                                       "PutBucketAcl",
                                                       "GetBucketPolicy",
                                                       "PutBucketPolicy",
                                                       "DeleteBucketPolicy",
                                                       "GetBucketPolicyStatus",
                                                       "GetBucketOwnershipControls",
                                                       "PutBucketOwnershipControls",
                                                       "GetBucketLocation",
                                                       "GetBucketVersioning",
                                                       "PutBucketVersioning",
                                                       "GetBucketCors",
                                                       "PutBucketCors",
                                                       "DeleteBucketCors",
                                                       "GetBucketLifecycleConfiguration",
                                                       "PutBucketLifecycleConfiguration",
                                                       "DeleteBucketLifecycle",
                                                       "GetBucketTagging",
                                                       "PutBucketTagging",
                                                       "DeleteBucketTagging",
                                                       "ListMultipartUploads",
                                                       "DeleteObjects",
                                                       "GetObject",
                                                       "HeadObject",
                                                       "PutObject",
                                                       "CopyObject",
                                                       "DeleteObject",
                                                       "GetObjectAcl",
                                                       "PutObjectAcl",
                                                       "GetObjectTagging",
                                                       "PutObjectTagging",
                                                       "DeleteObjectTagging",
                                                       "CreateMultipartUpload",
                                                       "UploadPart",
                                                       "UploadPartCopy",
                                                       "CompleteMultipartUpload",
                                                       "AbortMultipartUpload",
                                                       "ListParts",
                                                       "PostObject",
                                                       "PreflightRequest",
                                                       "Unknown"});
constexpr std::size_t kOpCount = kOps.size();
constexpr std::size_t kUnknownOp = kOpCount - 1;
static_assert(kOps[kUnknownOp] == "Unknown");

// Indices of kOps in name order, so a lookup is a binary search rather than a scan.
constexpr auto kOpsByName = [] {
  std::array<std::size_t, kOpCount> index{};
  std::iota(index.begin(), index.end(), std::size_t{0});
  std::sort(index.begin(), index.end(), [](auto a, auto b) { return kOps[a] < kOps[b]; });
  return index;
}();
static_assert(std::adjacent_find(kOpsByName.begin(), kOpsByName.end(),
                                 [](auto a, auto b) { return kOps[a] == kOps[b]; }) == kOpsByName.end(),
              "each operation is listed once");

constexpr std::array<std::string_view, 5> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};

// Fixed label sets: the last value of each catches anything unexpected.
constexpr std::array<std::string_view, 3> kWriteEvents = {"write_denied", "write_failed", "other"};
constexpr std::array<std::string_view, 3> kAclActions = {"stripped", "kept", "other"};
constexpr std::array<std::string_view, 7> kAclHeaders = {"x-amz-acl",
                                                         "x-amz-grant-read",
                                                         "x-amz-grant-write",
                                                         "x-amz-grant-read-acp",
                                                         "x-amz-grant-write-acp",
                                                         "x-amz-grant-full-control",
                                                         "other"};
constexpr std::array<std::string_view, 6> kAclRequestActions = {"rejected", "accepted_locally", "forwarded",
                                                                "tagged",   "untagged",         "other"};
constexpr std::array<std::string_view, 2> kCanaryResults = {"success", "failure"};
constexpr std::array<std::string_view, 4> kThrottleReasons = {"max_connections", "rate_limit", "shutdown", "other"};
constexpr std::array<std::string_view, 2> kReloadResults = {"success", "failure"};
constexpr std::array<std::string_view, 4> kConditionalOutcomes = {"not_modified", "precondition_failed", "conflict",
                                                                  "other"};

// Label values the proxy substitutes for codes it will not expose.
constexpr std::string_view kOtherCode = "other";
constexpr std::string_view kNoCode = "none";

// Request durations from a cached HEAD on a LAN (sub-millisecond) to a large multipart
// part over a slow link (a minute); kept as text too so `le` reads exactly as written here.
constexpr std::array<double, 16> kDurationBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
constexpr std::array<std::string_view, 16> kDurationBoundLabels = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "30",   "60"};
static_assert(std::is_sorted(kDurationBounds.begin(), kDurationBounds.end()));

// No request is open for a day; clamping there keeps one absurd value from wrapping the
// microsecond sum, which otherwise lasts ~580 years at 1000 requests open at all times.
constexpr double kMaxObservedSeconds = 86400;
constexpr double kMicrosPerSecond = 1e6;

std::size_t op_index(std::string_view op) {
  auto it = std::lower_bound(kOpsByName.begin(), kOpsByName.end(), op,
                             [](std::size_t i, std::string_view v) { return kOps[i] < v; });
  return it != kOpsByName.end() && kOps[*it] == op ? *it : kUnknownOp;
}

std::size_t status_index(unsigned status) {
  return status >= 100 && status <= 599 ? status / 100 - 1 : kStatusClasses.size() - 1;
}

using text::iequals;

// Index of `value` in `names`, or of the last ("other") entry when absent.
template <std::size_t N>
std::size_t label_index(const std::array<std::string_view, N>& names, std::string_view value,
                        bool (*eq)(std::string_view, std::string_view)) {
  for (std::size_t i = 0; i + 1 < N; ++i) {
    if (eq(names[i], value)) return i;
  }
  return N - 1;
}

bool exact(std::string_view a, std::string_view b) { return a == b; }

double sanitize_seconds(std::chrono::duration<double> d) {
  double s = d.count();
  return s >= 0 && std::isfinite(s) ? s : 0.0;  // also rejects NaN
}

// Whole-program counters use relaxed atomics: each sample is independent, and nothing
// reads one counter to decide about another.
using Counter = std::atomic<std::uint64_t>;

void bump(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
std::uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }

// Buckets hold per-bucket (not cumulative) counts, so an observation is one increment;
// render() accumulates them and derives _count from the same snapshot, which keeps
// _bucket monotone and _count equal to le="+Inf" even while requests are being recorded.
struct Histogram {
  std::array<Counter, kDurationBounds.size() + 1> buckets;  // last one is +Inf only
  Counter sum_micros;

  void observe(double seconds) {
    auto it = std::lower_bound(kDurationBounds.begin(), kDurationBounds.end(), seconds);
    bump(buckets[static_cast<std::size_t>(it - kDurationBounds.begin())]);
    bump(sum_micros,
         static_cast<std::uint64_t>(std::llround(std::min(seconds, kMaxObservedSeconds) * kMicrosPerSecond)));
  }
};

// Counters labelled with an S3 error code. Codes are not known in advance, so admission and
// counting share a mutex; it is held for one set and one map lookup, and only on the error
// path, so it never serialises the successful requests that make up the traffic.
class CodeCounters {
 public:
  // `series` numbers the metric's other labels (op, event...) and is decoded by the renderer.
  void add(std::size_t series, std::string_view code) {
    std::lock_guard lock(mutex_);
    ++counts_[{series, admit(code)}];
  }

  std::map<std::pair<std::size_t, std::string_view>, std::uint64_t> snapshot() const {
    std::lock_guard lock(mutex_);
    return counts_;
  }

 private:
  // The label value for `code`: itself while the cap allows, else a reserved value. The
  // returned view points into admitted_ (node-based, so stable) or at a literal.
  std::string_view admit(std::string_view code) {
    if (code.empty()) return kNoCode;
    if (!is_valid_s3_code_label(code)) return kOtherCode;
    if (code == kOtherCode) return kOtherCode;  // reserved values take no slot under the cap
    if (code == kNoCode) return kNoCode;
    if (auto it = admitted_.find(code); it != admitted_.end()) return *it;
    if (admitted_.size() >= kMaxS3CodeSeries) return kOtherCode;
    return *admitted_.emplace(code).first;
  }

  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> admitted_;
  std::map<std::pair<std::size_t, std::string_view>, std::uint64_t> counts_;
};

struct CanaryState {
  bool ran = false;
  bool ok = false;
  double duration_seconds = 0;
  double last_run_seconds = 0;
  bool succeeded = false;
  double last_success_seconds = 0;
};

// Whole seconds and the fraction are converted apart: nanoseconds since 1970 exceed a
// double's 53 bits, and converting them at once turns .25 into .2499997.
double unix_seconds(std::chrono::system_clock::time_point t) {
  auto since_epoch = t.time_since_epoch();
  auto whole = std::chrono::floor<std::chrono::seconds>(since_epoch);
  return static_cast<double>(whole.count()) + std::chrono::duration<double>(since_epoch - whole).count();
}

std::string format_uint(std::uint64_t v) {
  std::array<char, 24> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), res.ptr};
}

std::string format_int(std::int64_t v) {
  std::array<char, 24> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), res.ptr};
}

// Plain decimal (never exponent form), shortest text that reads back as the same double.
std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::array<char, 400> buf{};  // fixed notation of the largest double is 309 digits
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed);
  return {buf.data(), res.ptr};
}

using Label = std::pair<std::string_view, std::string_view>;

// Appends one metric family at a time, in the order the text format requires.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(kPrefix).append(name).append(" ");
    for (char c : help) {  // HELP text escapes backslash and newline only
      if (c == '\\')
        out_.append("\\\\");
      else if (c == '\n')
        out_.append("\\n");
      else
        out_.push_back(c);
    }
    out_.append("\n# TYPE ").append(kPrefix).append(name).append(" ").append(type).append("\n");
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, std::string_view value) {
    out_.append(kPrefix).append(name);
    if (labels.size() != 0) {
      char sep = '{';
      for (const auto& [key, val] : labels) {
        out_.push_back(sep);
        out_.append(key).append("=\"").append(escape_label_value(val)).append("\"");
        sep = ',';
      }
      out_.push_back('}');
    }
    out_.append(" ").append(value).append("\n");
  }

 private:
  std::string& out_;
};

}  // namespace

std::span<const std::string_view> metric_ops() { return kOps; }

std::string_view metric_op_label(std::string_view op) { return kOps[op_index(op)]; }

std::string_view metric_status_class(unsigned status) { return kStatusClasses[status_index(status)]; }

bool is_valid_s3_code_label(std::string_view code) {
  return !code.empty() && code.size() <= kMaxS3CodeLength && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
  });
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '"')
      out.append("\\\"");
    else if (c == '\n')
      out.append("\\n");
    else
      out.push_back(c);
  }
  return out;
}

// Concurrency: the request path touches only fixed-index atomics (relaxed fetch_add, no
// lock) -- one per counter, one bucket and one sum per histogram. Contention is a shared
// cache line at worst, which for a proxy with a handful of threads costs far less than the
// network I/O around it, so counters are not sharded per thread. The only mutexes guard the
// upstream-chosen error codes (error path only) and the canary's last-run record (once a
// minute, and its fields must change together).
struct Metrics::State {
  std::string version;

  std::array<std::array<Counter, kStatusClasses.size()>, kOpCount> requests;
  std::array<Histogram, kOpCount> durations;
  Counter bytes_received;
  Counter bytes_sent;

  CodeCounters upstream_errors;  // series: op
  CodeCounters write_failures;   // series: op * kWriteEvents.size() + event
  CodeCounters auth_failures;    // series: always 0

  std::array<std::array<Counter, kAclHeaders.size()>, kAclActions.size()> acl_headers;
  std::array<Counter, kAclRequestActions.size()> acl_requests;
  std::array<Counter, kOpCount> phantom_writes;
  std::array<std::array<Counter, kConditionalOutcomes.size()>, kOpCount> conditionals;

  std::atomic<std::int64_t> client_connections{0};
  std::atomic<std::int64_t> upstream_connections{0};
  Counter upstream_reused;
  Counter upstream_idle_closed;

  std::array<Counter, kThrottleReasons.size()> throttled;
  Counter accept_errors;
  Counter internal_errors;
  std::array<Counter, kReloadResults.size()> config_reloads;

  std::array<Counter, kCanaryResults.size()> canary_runs;
  mutable std::mutex canary_mutex;
  CanaryState canary;

  // One family group each; every family gets HELP and TYPE even before its first sample.
  void render_requests(Writer& w) const;
  void render_errors(Writer& w) const;
  void render_acl(Writer& w) const;
  void render_connections(Writer& w) const;
  void render_operations(Writer& w) const;
  void render_canary(Writer& w) const;
};

Metrics::Metrics() : Metrics(kVersion) {}

Metrics::Metrics(std::string_view version) : state_(std::make_unique<State>()) {
  state_->version = std::string(version);
}

Metrics::~Metrics() = default;

void Metrics::request(std::string_view op, unsigned status, std::chrono::duration<double> elapsed) {
  std::size_t i = op_index(op);
  bump(state_->requests[i][status_index(status)]);
  state_->durations[i].observe(sanitize_seconds(elapsed));
}

void Metrics::bytes(std::uint64_t received, std::uint64_t sent) {
  if (received != 0) bump(state_->bytes_received, received);
  if (sent != 0) bump(state_->bytes_sent, sent);
}

void Metrics::upstream_error(std::string_view op, std::string_view s3_code) {
  state_->upstream_errors.add(op_index(op), s3_code);
}

void Metrics::write_failure(std::string_view op, std::string_view event, std::string_view s3_code) {
  std::size_t series = op_index(op) * kWriteEvents.size() + label_index(kWriteEvents, event, exact);
  state_->write_failures.add(series, s3_code);
}

void Metrics::acl_header(std::string_view action, std::string_view header) {
  bump(state_->acl_headers[label_index(kAclActions, action, exact)][label_index(kAclHeaders, header, iequals)]);
}

void Metrics::acl_request(std::string_view action) {
  bump(state_->acl_requests[label_index(kAclRequestActions, action, exact)]);
}

void Metrics::auth_failure(std::string_view reason) { state_->auth_failures.add(0, reason); }

void Metrics::phantom_write(std::string_view op) { bump(state_->phantom_writes[op_index(op)]); }

void Metrics::conditional(std::string_view op, std::string_view outcome) {
  bump(state_->conditionals[op_index(op)][label_index(kConditionalOutcomes, outcome, exact)]);
}

void Metrics::client_connection(int delta) { state_->client_connections.fetch_add(delta, std::memory_order_relaxed); }

void Metrics::upstream_connection(int delta) {
  state_->upstream_connections.fetch_add(delta, std::memory_order_relaxed);
}

void Metrics::upstream_connection_reused() { bump(state_->upstream_reused); }

void Metrics::upstream_idle_closed() { bump(state_->upstream_idle_closed); }

void Metrics::throttled(std::string_view reason) {
  bump(state_->throttled[label_index(kThrottleReasons, reason, exact)]);
}

void Metrics::accept_error() { bump(state_->accept_errors); }

void Metrics::internal_error() { bump(state_->internal_errors); }

void Metrics::config_reload(bool ok) { bump(state_->config_reloads[ok ? 0 : 1]); }

void Metrics::canary(bool ok, std::chrono::duration<double> elapsed, std::chrono::system_clock::time_point when) {
  bump(state_->canary_runs[ok ? 0 : 1]);
  std::lock_guard lock(state_->canary_mutex);
  CanaryState& c = state_->canary;
  c.ran = true;
  c.ok = ok;
  c.duration_seconds = sanitize_seconds(elapsed);
  c.last_run_seconds = unix_seconds(when);
  if (ok) {
    c.succeeded = true;
    c.last_success_seconds = c.last_run_seconds;
  }
}

void Metrics::State::render_requests(Writer& w) const {
  w.family("requests_total", "counter", "S3 requests answered, by operation and HTTP status class.");
  for (std::size_t op = 0; op < kOpCount; ++op) {
    for (std::size_t c = 0; c < kStatusClasses.size(); ++c) {
      if (auto v = read(requests[op][c]); v != 0) {
        w.sample("requests_total", {{"op", kOps[op]}, {"status", kStatusClasses[c]}}, format_uint(v));
      }
    }
  }

  w.family("request_duration_seconds", "histogram",
           "Time from the first byte of a request to the last byte of its answer.");
  for (std::size_t op = 0; op < kOpCount; ++op) {
    const Histogram& h = durations[op];
    std::array<std::uint64_t, kDurationBounds.size() + 1> counts{};
    for (std::size_t b = 0; b < counts.size(); ++b) counts[b] = read(h.buckets[b]);
    std::uint64_t sum_micros = read(h.sum_micros);
    std::uint64_t total = std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
    if (total == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kDurationBounds.size(); ++b) {
      cumulative += counts[b];
      w.sample("request_duration_seconds_bucket", {{"op", kOps[op]}, {"le", kDurationBoundLabels[b]}},
               format_uint(cumulative));
    }
    w.sample("request_duration_seconds_bucket", {{"op", kOps[op]}, {"le", "+Inf"}}, format_uint(total));
    w.sample("request_duration_seconds_sum", {{"op", kOps[op]}},
             format_double(static_cast<double>(sum_micros) / kMicrosPerSecond));
    w.sample("request_duration_seconds_count", {{"op", kOps[op]}}, format_uint(total));
  }

  w.family("bytes_received_total", "counter", "Decoded payload bytes received from clients.");
  w.sample("bytes_received_total", {}, format_uint(read(bytes_received)));
  w.family("bytes_sent_total", "counter", "Payload bytes sent to clients.");
  w.sample("bytes_sent_total", {}, format_uint(read(bytes_sent)));
}

void Metrics::State::render_errors(Writer& w) const {
  w.family("upstream_errors_total", "counter", "Error answers from the upstream, by operation and S3 error code.");
  for (const auto& [key, v] : upstream_errors.snapshot()) {
    w.sample("upstream_errors_total", {{"op", kOps[key.first]}, {"s3_code", key.second}}, format_uint(v));
  }

  w.family("write_failures_total", "counter",
           "Write operations that failed, by operation, audit event and S3 error code.");
  for (const auto& [key, v] : write_failures.snapshot()) {
    w.sample("write_failures_total",
             {{"op", kOps[key.first / kWriteEvents.size()]},
              {"event", kWriteEvents[key.first % kWriteEvents.size()]},
              {"s3_code", key.second}},
             format_uint(v));
  }

  w.family("auth_failures_total", "counter", "Client requests whose authentication failed, by S3 error code.");
  for (const auto& [key, v] : auth_failures.snapshot()) {
    w.sample("auth_failures_total", {{"reason", key.second}}, format_uint(v));
  }

  w.family("phantom_writes_total", "counter",
           "Writes the upstream acknowledged but whose object was then not there, by operation.");
  for (std::size_t op = 0; op < kOpCount; ++op) {
    if (auto v = read(phantom_writes[op]); v != 0) {
      w.sample("phantom_writes_total", {{"op", kOps[op]}}, format_uint(v));
    }
  }

  // Not failures: the client asked for the condition. Kept apart so that dashboards and alerts
  // can tell "the object changed, as the client feared" from "the storage refused".
  w.family("conditional_requests_total", "counter",
           "Conditional requests answered 304, 412 or 409 ConditionalRequestConflict by the upstream, by operation "
           "and outcome.");
  for (std::size_t op = 0; op < kOpCount; ++op) {
    for (std::size_t o = 0; o < kConditionalOutcomes.size(); ++o) {
      if (auto v = read(conditionals[op][o]); v != 0) {
        w.sample("conditional_requests_total", {{"op", kOps[op]}, {"outcome", kConditionalOutcomes[o]}},
                 format_uint(v));
      }
    }
  }
}

// The known combinations of these small label sets are shown from 0, so rate() and alerts
// work from the first scrape; the catch-all "other" only appears once something hit it.
void Metrics::State::render_acl(Writer& w) const {
  w.family("acl_headers_total", "counter", "ACL headers seen on requests, by what was done with them.");
  for (std::size_t a = 0; a < kAclActions.size(); ++a) {
    for (std::size_t h = 0; h < kAclHeaders.size(); ++h) {
      auto v = read(acl_headers[a][h]);
      bool known = a + 1 < kAclActions.size() && h + 1 < kAclHeaders.size();
      if (known || v != 0) {
        w.sample("acl_headers_total", {{"action", kAclActions[a]}, {"header", kAclHeaders[h]}}, format_uint(v));
      }
    }
  }

  w.family("acl_requests_total", "counter",
           "Requests that set an ACL (PutObjectAcl, PutBucketAcl), by what the proxy did.");
  for (std::size_t a = 0; a < kAclRequestActions.size(); ++a) {
    auto v = read(acl_requests[a]);
    if (a + 1 < kAclRequestActions.size() || v != 0) {
      w.sample("acl_requests_total", {{"action", kAclRequestActions[a]}}, format_uint(v));
    }
  }
}

void Metrics::State::render_connections(Writer& w) const {
  w.family("client_connections", "gauge", "Client connections open.");
  w.sample("client_connections", {}, format_int(client_connections.load(std::memory_order_relaxed)));
  w.family("upstream_connections", "gauge", "Upstream connections open.");
  w.sample("upstream_connections", {}, format_int(upstream_connections.load(std::memory_order_relaxed)));
  w.family("upstream_connections_reused_total", "counter", "Upstream requests sent on a kept-alive connection.");
  w.sample("upstream_connections_reused_total", {}, format_uint(read(upstream_reused)));
  w.family("upstream_idle_closed_total", "counter",
           "Idle pooled upstream connections dropped because the upstream closed them while they waited.");
  w.sample("upstream_idle_closed_total", {}, format_uint(read(upstream_idle_closed)));
}

void Metrics::State::render_operations(Writer& w) const {
  w.family("throttled_total", "counter", "Connections and requests refused with 503 SlowDown, by reason.");
  for (std::size_t r = 0; r + 1 < kThrottleReasons.size(); ++r) {
    w.sample("throttled_total", {{"reason", kThrottleReasons[r]}}, format_uint(read(throttled[r])));
  }
  if (auto v = read(throttled.back()); v != 0) w.sample("throttled_total", {{"reason", "other"}}, format_uint(v));
  w.family("accept_errors_total", "counter", "Failed accepts of client connections (EMFILE and the like).");
  w.sample("accept_errors_total", {}, format_uint(read(accept_errors)));
  w.family("internal_errors_total", "counter", "Connections closed because an unexpected exception reached them.");
  w.sample("internal_errors_total", {}, format_uint(read(internal_errors)));
  w.family("config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
  for (std::size_t r = 0; r < kReloadResults.size(); ++r) {
    w.sample("config_reloads_total", {{"result", kReloadResults[r]}}, format_uint(read(config_reloads[r])));
  }
}

// The canary gauges stay without a sample until a check has run, so an alert on
// canary_success == 0 does not fire on a proxy whose periodic check is disabled.
void Metrics::State::render_canary(Writer& w) const {
  CanaryState c;
  {
    std::lock_guard lock(canary_mutex);
    c = canary;
  }
  w.family("canary_success", "gauge", "1 if the last synthetic write check passed, else 0.");
  if (c.ran) w.sample("canary_success", {}, c.ok ? "1" : "0");
  w.family("canary_last_success_timestamp_seconds", "gauge", "Unix time at which a synthetic write check last passed.");
  if (c.succeeded) w.sample("canary_last_success_timestamp_seconds", {}, format_double(c.last_success_seconds));
  w.family("canary_last_run_timestamp_seconds", "gauge", "Unix time at which the last synthetic write check finished.");
  if (c.ran) w.sample("canary_last_run_timestamp_seconds", {}, format_double(c.last_run_seconds));
  w.family("canary_duration_seconds", "gauge", "How long the last synthetic write check took.");
  if (c.ran) w.sample("canary_duration_seconds", {}, format_double(c.duration_seconds));
  w.family("canary_runs_total", "counter", "Synthetic write checks run, by result.");
  for (std::size_t r = 0; r < kCanaryResults.size(); ++r) {
    w.sample("canary_runs_total", {{"result", kCanaryResults[r]}}, format_uint(read(canary_runs[r])));
  }
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(16 * 1024);
  Writer w(out);
  state_->render_requests(w);
  state_->render_errors(w);
  state_->render_acl(w);
  state_->render_connections(w);
  state_->render_operations(w);
  state_->render_canary(w);
  w.family("build_info", "gauge", "Always 1; the version label names the running build.");
  w.sample("build_info", {{"version", state_->version}}, "1");
  return out;
}

}  // namespace s3proxy
