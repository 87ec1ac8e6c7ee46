#pragma once
// The audit log: one JSON object per line, one line per S3 request handled plus lines
// for events that are not requests (start-up, canary, shutdown). Written by a background
// thread so that a slow disk never stalls the request path for long.
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy {

enum class Level { info, warn, error };
std::string_view level_name(Level level);  // "info", "warn", "error"

struct AuditRecord {
  std::chrono::system_clock::time_point ts;
  Level level = Level::info;
  std::string event = "request";  // request | write_denied | write_failed | auth_failed | acl_rejected | acl_accepted
  std::string op, method, bucket, key;
  unsigned status = 0;                      // HTTP status the client received
  std::optional<unsigned> upstream_status;  // absent: the request never reached the upstream
  std::optional<std::string> s3_code, s3_message;
  std::string acl_action = "none";
  std::vector<std::pair<std::string, std::string>> acl_headers;  // name, value
  // acl.replaced: the canned ACL a visibility tag stands for (from the header or the XML body);
  // acl.tag: that tag, "key=value". Written only when set.
  std::optional<std::string> acl_replaced, acl_tag;
  std::string access_key_id;
  std::optional<std::string> request_id;  // the upstream's x-amz-request-id
  std::uint64_t bytes_in = 0, bytes_out = 0;
  double duration_ms = 0;
  std::string remote;        // client address
  std::string payload_mode;  // as the client sent it, e.g. "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
};

// The minimum level of request lines for [audit] level: "warn" keeps only problems;
// "debug" and "info" keep every line (the proxy writes no debug lines).
Level min_level_of(std::string_view config_level);

// Sets event and level from the outcome, first rule that applies:
//   auth_failed                                   -> auth_failed / warn
//   acl_action "rejected" (PUT ?acl answered 501) -> acl_rejected / warn
//   acl_action "accepted_locally" (answered 200)  -> acl_accepted / warn
//   write with upstream 403                       -> write_denied / warn
//   write with status or upstream status >= 400   -> write_failed / warn, error when either is >= 500
//   anything else                                 -> request / info, error when status >= 500
void classify_outcome(AuditRecord& rec, bool is_write, bool auth_failed);

// "2026-11-23T18:15:00.123Z": RFC 3339, UTC, milliseconds (truncated).
std::string format_timestamp(std::chrono::system_clock::time_point ts);

// One JSON object without a trailing newline. Absent optionals are null; header names in
// acl.headers are lower-case (repeats joined with ","); strings that are not valid UTF-8
// get U+FFFD in place of the bad bytes so that every line stays parseable.
std::string to_json_line(const AuditRecord& rec);

// Serialises any JSON object the same way: numbers as plain decimals ("12.5", not "1.25E1"),
// non-finite numbers as null, invalid UTF-8 repaired.
std::string to_json_line(const boost::json::object& obj);

class AuditLog {
 public:
  // Lines waiting beyond this many bytes hold back the next write() until the writer thread
  // catches up: ~8,000 lines of ~500 bytes, several seconds of peak traffic for a sidecar.
  static constexpr std::size_t kMaxPendingBytes = 4 * 1024 * 1024;
  // The writer waits this long for more lines before it writes what it has: one write()
  // and one wake-up per batch instead of per line, and a line is on disk within ~5 ms.
  static constexpr std::chrono::milliseconds kBatchDelay{5};
  // A batch this large is written at once.
  static constexpr std::size_t kBatchBytes = 64 * 1024;

  // path "-" writes to stdout, anything else appends to that file (created if missing).
  // Throws std::exception if the file cannot be opened: a start-up error.
  //
  // When kMaxPendingBytes wait, write() blocks until there is room rather than dropping the
  // line: an audit trail with silent gaps is worse than a briefly slower request.
  explicit AuditLog(const std::string& path);
  ~AuditLog();  // writes out every queued line
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Written only when rec.level is at least the minimum level (see set_min_level).
  void write(const AuditRecord& rec);
  // A line that is not a request: ts, level and event first, then fields (fields named
  // ts, level or event are ignored).
  void event(Level level, std::string_view event, boost::json::object fields);
  // Returns once every line queued before the call is written and flushed to the file.
  void flush();

  // Request lines below `level` are dropped from now on; lines that are not requests
  // (start, reload, canary, shutdown...) are always written. Thread-safe.
  void set_min_level(Level level);
  [[nodiscard]] Level min_level() const;

  // Opens the file at its path anew, for log rotation (mv the file away, then SIGHUP):
  // lines queued before the call end up in the old file, later ones in a new file at the
  // path. When the path cannot be opened the old file is kept and the reason returned.
  // Nothing to do for stdout.
  std::optional<std::string> reopen();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace s3proxy
