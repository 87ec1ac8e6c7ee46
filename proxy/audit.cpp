#include "s3proxy/audit.hpp"

#include "s3proxy/text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <mutex>

namespace s3proxy {
namespace {

// --- JSON text -------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

bool plain_json_char(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

void append_json_string(std::string& out, std::string_view s) {
  static constexpr std::array<char, 16> kHex{'0', '1', '2', '3', '4', '5', '6', '7',
                                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    // Runs that need no escaping (nearly every field) are copied whole.
    std::size_t run = i;
    while (run < s.size() && plain_json_char(static_cast<unsigned char>(s[run]))) ++run;
    if (run > i) {
      out.append(s.substr(i, run - i));
      i = run;
      if (i == s.size()) break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

void append_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_:
      // fmt gives the shortest text that reads back to the same double, in plain
      // notation for everyday values, which is what a person reading the log expects.
      out += std::isfinite(v.get_double()) ? fmt::format("{}", v.get_double()) : "null";
      break;
    case boost::json::kind::string: append_json_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_json(out, e);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, kv.key());
        out.push_back(':');
        append_json(out, kv.value());
      }
      out.push_back('}');
      break;
    }
  }
}

boost::json::object acl_headers_object(const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::json::object obj;
  for (const auto& [name, value] : headers) {
    const std::string key = text::lower(name);
    if (auto* existing = obj.if_contains(key)) {
      // A repeated header means the values joined with a comma, as HTTP defines.
      auto& text = existing->as_string();
      text.append(",");
      text.append(value);
    } else {
      obj.emplace(key, value);
    }
  }
  return obj;
}

// Milliseconds with microsecond resolution: finer digits are timer noise.
double round_to_microseconds(double ms) { return std::round(ms * 1000.0) / 1000.0; }

// --- the writer ------------------------------------------------------------------------

// The file the lines go to: opened for appending, or standard output. Every write is a
// whole batch of whole lines, so a reader never sees half a line from us.
class LogFile {
 public:
  explicit LogFile(std::string path) : path_(std::move(path)) {
    if (path_ != "-") fd_ = open_path(path_);
  }
  ~LogFile() {
    if (fd_ != STDOUT_FILENO) ::close(fd_);
  }
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  [[nodiscard]] bool is_file() const { return path_ != "-"; }

  // The new file is opened before the old one is let go: a path that cannot be opened
  // leaves the log writing where it did.
  void reopen() {
    const int fresh = open_path(path_);
    std::lock_guard lock(mu_);
    ::close(fd_);
    fd_ = fresh;
  }

  void write_all(std::string_view data) {
    std::lock_guard lock(mu_);
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A full disk or a closed stdout: say so once per batch where an operator looks;
        // the lines of this batch cannot be written anywhere else.
        std::fprintf(stderr, "s3-acl-proxy: audit log write failed: %s\n", std::strerror(errno));
        return;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  static int open_path(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open the audit log {}: {}", path, std::strerror(errno)));
    return fd;
  }

  std::string path_;
  std::mutex mu_;  // write_all against reopen
  int fd_ = STDOUT_FILENO;
};

}  // namespace

Level min_level_of(std::string_view config_level) { return config_level == "warn" ? Level::warn : Level::info; }

std::string_view level_name(Level level) {
  switch (level) {
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void classify_outcome(AuditRecord& rec, bool is_write, bool auth_failed) {
  const unsigned upstream = rec.upstream_status.value_or(0);
  const auto set = [&](std::string_view event, Level level) {
    rec.event = std::string(event);
    rec.level = level;
  };
  if (auth_failed) return set("auth_failed", Level::warn);
  if (rec.acl_action == "rejected") return set("acl_rejected", Level::warn);
  if (rec.acl_action == "accepted_locally") return set("acl_accepted", Level::warn);
  if (is_write && upstream == 403) return set("write_denied", Level::warn);
  if (is_write && (rec.status >= 400 || upstream >= 400)) {
    return set("write_failed", (rec.status >= 500 || upstream >= 500) ? Level::error : Level::warn);
  }
  set("request", rec.status >= 500 ? Level::error : Level::info);
}

std::string format_timestamp(std::chrono::system_clock::time_point ts) {
  std::string out(24, '\0');  // 2026-11-23T18:15:00.123Z
  text::put_utc(out.data(), std::chrono::floor<std::chrono::milliseconds>(ts), '-', ':', true);
  return out;
}

std::string to_json_line(const boost::json::object& obj) {
  std::string out;
  out.reserve(512);
  append_json(out, obj);
  return out;
}

std::string to_json_line(const AuditRecord& rec) {
  // Written field by field, in INTERFACE.md's order: the one line every request costs.
  std::string out;
  out.reserve(512);
  bool first = true;
  const auto key = [&](std::string_view name) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(name);
    out.append("\":");
  };
  const auto str = [&](std::string_view name, std::string_view value) {
    key(name);
    append_json_string(out, value);
  };
  const auto opt_str = [&](std::string_view name, const std::optional<std::string>& value) {
    key(name);
    if (value) append_json_string(out, *value);
    else out.append("null");
  };
  const auto digits = [&](std::uint64_t value) {
    char buf[20];  // the digits of the largest uint64_t
    out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
  };
  const auto num = [&](std::string_view name, std::uint64_t value) {
    key(name);
    digits(value);
  };
  out.push_back('{');
  str("ts", format_timestamp(rec.ts));
  str("level", level_name(rec.level));
  str("event", rec.event);
  str("op", rec.op);
  str("method", rec.method);
  str("bucket", rec.bucket);
  str("key", rec.key);
  num("status", rec.status);
  key("upstream_status");
  if (rec.upstream_status) digits(*rec.upstream_status);
  else out.append("null");
  opt_str("s3_code", rec.s3_code);
  opt_str("s3_message", rec.s3_message);
  key("acl");
  out.append("{\"action\":");
  append_json_string(out, rec.acl_action);
  out.append(",\"headers\":");
  if (rec.acl_headers.empty()) out.append("{}");
  else append_json(out, acl_headers_object(rec.acl_headers));
  if (rec.acl_replaced) {
    out.append(",\"replaced\":");
    append_json_string(out, *rec.acl_replaced);
  }
  if (rec.acl_tag) {
    out.append(",\"tag\":");
    append_json_string(out, *rec.acl_tag);
  }
  out.push_back('}');
  str("access_key_id", rec.access_key_id);
  opt_str("request_id", rec.request_id);
  num("bytes_in", rec.bytes_in);
  num("bytes_out", rec.bytes_out);
  key("duration_ms");
  const double ms = round_to_microseconds(rec.duration_ms);
  if (std::isfinite(ms)) fmt::format_to(std::back_inserter(out), "{}", ms);
  else out.append("null");
  str("remote", rec.remote);
  str("payload_mode", rec.payload_mode);
  out.push_back('}');
  return out;
}

// Lines are gathered in memory and written by one thread in batches: a request pays for an
// append under a lock, and the writer wakes once per batch rather than once per line.
struct AuditLog::Impl {
  explicit Impl(const std::string& path) : file(path) {}

  LogFile file;
  std::atomic<Level> min_level{Level::info};

  std::mutex mu;
  std::condition_variable writer_wake;  // lines arrived after a quiet spell, a flush, or stop
  std::condition_variable progress;     // a batch was written: room for writers, flushes done
  std::string pending;                  // whole lines, each ending in '\n'
  std::uint64_t appended = 0;           // bytes handed to append() so far
  std::uint64_t written = 0;            // bytes written out so far
  std::uint64_t flush_target = 0;       // a flush() waits for written >= this
  bool stopping = false;
  std::thread writer;

  void append(std::string line) {
    line.push_back('\n');
    std::unique_lock lock(mu);
    // Bounded: beyond kMaxPendingBytes a request waits for the disk rather than a line
    // being dropped. An audit trail with silent gaps is worse than a briefly slower request.
    progress.wait(lock, [&] { return pending.size() < kMaxPendingBytes || stopping; });
    const bool was_empty = pending.empty();
    pending += line;
    appended += line.size();
    if (was_empty || pending.size() >= kBatchBytes) writer_wake.notify_one();
  }

  void run() {
    std::string batch;
    std::unique_lock lock(mu);
    for (;;) {
      writer_wake.wait(lock, [&] { return !pending.empty() || stopping; });
      if (pending.empty() && stopping) return;
      // Let a batch gather, unless it is already large or someone waits for it.
      writer_wake.wait_for(lock, kBatchDelay, [&] {
        return pending.size() >= kBatchBytes || flush_target > written || stopping;
      });
      batch.clear();
      batch.swap(pending);
      const std::uint64_t upto = appended;
      lock.unlock();
      progress.notify_all();  // room again for writers held back by a full buffer
      file.write_all(batch);
      lock.lock();
      written = upto;
      progress.notify_all();
      if (batch.capacity() > kBatchBytes * 4) batch = std::string();  // give a burst's memory back
    }
  }
};

AuditLog::AuditLog(const std::string& path) : impl_(std::make_unique<Impl>(path)) {
  impl_->writer = std::thread([impl = impl_.get()] { impl->run(); });
}

AuditLog::~AuditLog() {
  flush();
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->writer_wake.notify_one();
  impl_->writer.join();
}

void AuditLog::write(const AuditRecord& rec) {
  if (rec.level < impl_->min_level.load(std::memory_order_relaxed)) return;
  impl_->append(to_json_line(rec));
}

void AuditLog::set_min_level(Level level) { impl_->min_level.store(level, std::memory_order_relaxed); }

Level AuditLog::min_level() const { return impl_->min_level.load(std::memory_order_relaxed); }

std::optional<std::string> AuditLog::reopen() {
  if (!impl_->file.is_file()) return std::nullopt;
  flush();  // what was written before belongs to the old file
  try {
    impl_->file.reopen();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

void AuditLog::event(Level level, std::string_view event, boost::json::object fields) {
  boost::json::object obj;
  obj.emplace("ts", format_timestamp(std::chrono::system_clock::now()));
  obj.emplace("level", level_name(level));
  obj.emplace("event", event);
  for (auto& kv : fields) {
    if (kv.key() == "ts" || kv.key() == "level" || kv.key() == "event") continue;
    obj.emplace(kv.key(), std::move(kv.value()));
  }
  impl_->append(to_json_line(obj));
}

void AuditLog::flush() {
  std::unique_lock lock(impl_->mu);
  const std::uint64_t target = impl_->appended;
  impl_->flush_target = std::max(impl_->flush_target, target);
  impl_->writer_wake.notify_one();
  impl_->progress.wait(lock, [&] { return impl_->written >= target; });
}

}  // namespace s3proxy
