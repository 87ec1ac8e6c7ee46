#include "s3proxy/audit.hpp"

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>

namespace s3proxy {
namespace {

constexpr std::string_view kRedacted = "*****";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

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

void append_json_string(std::string& out, std::string_view s) {
  static constexpr std::array<char, 16> kHex{'0', '1', '2', '3', '4', '5', '6', '7',
                                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
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

boost::json::value optional_string(const std::optional<std::string>& s) {
  return s ? boost::json::value(*s) : boost::json::value(nullptr);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

boost::json::object acl_headers_object(const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::json::object obj;
  for (const auto& [name, value] : headers) {
    const std::string key = lower(name);
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

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_secret_query_param(std::string_view raw_name) {
  const std::string name = percent_decode(raw_name);
  return iequals(name, "X-Amz-Signature") || iequals(name, "X-Amz-Credential") ||
         iequals(name, "X-Amz-Security-Token");
}

// --- the writer ------------------------------------------------------------------------

// Wraps the real sink: writes each line through at once (a tail -f or a log shipper sees
// it without waiting for a buffer to fill) and counts explicit flushes so that
// AuditLog::flush() can wait for its own flush to be carried out by the writer thread.
class FlushSignalSink final : public spdlog::sinks::sink {
 public:
  explicit FlushSignalSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    inner_->log(msg);
    inner_->flush();
  }

  void flush() override {
    struct Signal {
      FlushSignalSink& self;
      ~Signal() {
        {
          std::lock_guard lock(self.mu_);
          ++self.flushed_;
        }
        self.cv_.notify_all();
      }
    } signal{*this};  // also when the inner flush throws, so that no waiter hangs
    inner_->flush();
  }

  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

  void wait_for(std::uint64_t ticket) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return flushed_ >= ticket; });
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t flushed_ = 0;
};

// Appends to a file that can be opened anew at the same path (log rotation).
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(std::string path) : path_(std::move(path)), file_(open_file(path_)) {}

  // The new file is opened before the old one is let go: a path that cannot be opened
  // leaves the log writing where it did.
  void reopen() {
    auto fresh = open_file(path_);
    std::lock_guard lock(mutex_);
    file_->flush();
    file_ = std::move(fresh);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_->write(formatted);
  }
  void flush_() override { file_->flush(); }

 private:
  static std::unique_ptr<spdlog::details::file_helper> open_file(const std::string& path) {
    auto file = std::make_unique<spdlog::details::file_helper>();
    file->open(path, /*truncate=*/false);
    return file;
  }

  std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
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
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(ts);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

std::string to_json_line(const boost::json::object& obj) {
  std::string out;
  out.reserve(512);
  append_json(out, obj);
  return out;
}

std::string to_json_line(const AuditRecord& rec) {
  boost::json::object obj;
  obj.emplace("ts", format_timestamp(rec.ts));
  obj.emplace("level", level_name(rec.level));
  obj.emplace("event", rec.event);
  obj.emplace("op", rec.op);
  obj.emplace("method", rec.method);
  obj.emplace("bucket", rec.bucket);
  obj.emplace("key", rec.key);
  obj.emplace("status", rec.status);
  obj.emplace("upstream_status",
              rec.upstream_status ? boost::json::value(*rec.upstream_status) : boost::json::value(nullptr));
  obj.emplace("s3_code", optional_string(rec.s3_code));
  obj.emplace("s3_message", optional_string(rec.s3_message));
  obj.emplace("acl", boost::json::object{{"action", rec.acl_action}, {"headers", acl_headers_object(rec.acl_headers)}});
  obj.emplace("access_key_id", rec.access_key_id);
  obj.emplace("request_id", optional_string(rec.request_id));
  obj.emplace("bytes_in", rec.bytes_in);
  obj.emplace("bytes_out", rec.bytes_out);
  obj.emplace("duration_ms", round_to_microseconds(rec.duration_ms));
  obj.emplace("remote", rec.remote);
  obj.emplace("payload_mode", rec.payload_mode);
  return to_json_line(obj);
}

std::string redact_query(std::string_view raw_query) {
  std::string out;
  out.reserve(raw_query.size());
  std::size_t start = 0;
  while (start <= raw_query.size()) {
    const auto amp = raw_query.find('&', start);
    const std::string_view param =
        raw_query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const auto eq = param.find('=');
    if (eq != std::string_view::npos && is_secret_query_param(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out.append(kRedacted);
    } else {
      out.append(param);
    }
    if (amp == std::string_view::npos) break;
    out.push_back('&');
    start = amp + 1;
  }
  return out;
}

struct AuditLog::Impl {
  // Declared first so that it is destroyed last: the logger's queued lines need its thread.
  std::shared_ptr<spdlog::details::thread_pool> pool;
  std::shared_ptr<ReopenableFileSink> file;  // null for stdout
  std::shared_ptr<FlushSignalSink> sink;
  std::atomic<Level> min_level{Level::info};
  std::shared_ptr<spdlog::async_logger> logger;
  std::mutex flush_mu;  // keeps flush tickets in the order their flushes are queued
  std::uint64_t flushes_posted = 0;
};

AuditLog::AuditLog(const std::string& path) : impl_(std::make_unique<Impl>()) {
  // One writer thread keeps lines in the order they were queued.
  impl_->pool = std::make_shared<spdlog::details::thread_pool>(kQueueCapacity, 1);
  std::shared_ptr<spdlog::sinks::sink> inner;
  if (path == "-") {
    inner = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else {
    impl_->file = std::make_shared<ReopenableFileSink>(path);
    inner = impl_->file;
  }
  impl_->sink = std::make_shared<FlushSignalSink>(std::move(inner));
  // Not registered with spdlog's global registry: the audit log is not a diagnostic logger
  // and must not be reconfigured (level, pattern) by code that adjusts those.
  impl_->logger = std::make_shared<spdlog::async_logger>("s3proxy-audit", impl_->sink, impl_->pool,
                                                         spdlog::async_overflow_policy::block);
  impl_->logger->set_pattern("%v");
  impl_->logger->set_level(spdlog::level::trace);
}

AuditLog::~AuditLog() {
  flush();
  impl_->logger.reset();
  impl_->pool.reset();  // joins the writer thread after it has drained the queue
}

void AuditLog::write(const AuditRecord& rec) {
  if (rec.level < impl_->min_level.load(std::memory_order_relaxed)) return;
  impl_->logger->info(to_json_line(rec));
}

void AuditLog::set_min_level(Level level) { impl_->min_level.store(level, std::memory_order_relaxed); }

Level AuditLog::min_level() const { return impl_->min_level.load(std::memory_order_relaxed); }

std::optional<std::string> AuditLog::reopen() {
  if (!impl_->file) return std::nullopt;
  flush();  // what was queued before belongs to the old file
  try {
    impl_->file->reopen();
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
  impl_->logger->info(to_json_line(obj));
}

void AuditLog::flush() {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(impl_->flush_mu);
    ticket = ++impl_->flushes_posted;
    impl_->logger->flush();
  }
  impl_->sink->wait_for(ticket);
}

}  // namespace s3proxy
