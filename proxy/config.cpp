// TOML to a validated Config. The first problem found wins and is reported with the
// full dotted path of its key; later checks still run but can no longer change the
// outcome, which keeps each section's code a straight list of reads.
#include "s3proxy/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <span>
#include <sstream>
#include <thread>
#include <utility>

#include <toml++/toml.h>

namespace s3proxy {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Beyond this a thread pool only adds contention for a proxy that spends its time in
// I/O; a larger value is almost certainly a typo.
constexpr std::int64_t kMaxThreads = 256;
// Header limits below a few KiB reject ordinary signed S3 requests (an Authorization
// header plus a dozen x-amz-* headers is ~2 KiB); above 1 MiB a client could pin that
// much memory per connection before being authenticated.
constexpr std::int64_t kMinHeaderBytes = 4096;
constexpr std::int64_t kMaxHeaderBytes = 1 << 20;
// Every idle upstream connection holds a socket (and a TLS session); a few thousand is
// far past what one proxy needs and still well inside default file-descriptor limits.
constexpr std::int64_t kMaxIdleConnections = 4096;
// Each client connection holds a socket and a few hundred KiB at most; a million is past
// any file-descriptor limit, so a larger value is a typo.
constexpr std::int64_t kMaxConnections = 1'000'000;
// A request rate above this per key is no limit at all for one proxy.
constexpr std::int64_t kMaxRequestsPerSecond = 1'000'000;
// A day exceeds any sensible timeout or probe interval, so a larger value is most
// likely milliseconds written where seconds were meant.
constexpr milliseconds kMaxDuration = std::chrono::hours(24);
// AWS documents access key ids as at most 128 characters.
constexpr std::size_t kMaxAccessKeyIdLength = 128;
// A secret file is one short line; refusing large files catches a wrong path (a
// certificate bundle, a log) before its bytes become a signing key.
constexpr std::size_t kMaxSecretFileBytes = 4096;
// S3 object keys are at most 1024 bytes; the canary appends its own object name.
constexpr std::size_t kMaxCanaryPrefixBytes = 900;
// Bucket names: 3-63 on AWS, up to 255 on Ceph RGW with relaxed naming.
constexpr std::size_t kMinBucketLength = 3;
constexpr std::size_t kMaxBucketLength = 255;
// DNS limits (RFC 1035).
constexpr std::size_t kMaxDnsNameLength = 253;
constexpr std::size_t kMaxDnsLabelLength = 63;

constexpr std::string_view kDefaultRegion = "us-east-1";
constexpr std::string_view kDefaultCanaryPrefix = ".s3-acl-proxy/canary/";
constexpr std::string_view kStdout = "-";

// ---------------------------------------------------------------------------
// The keys each section accepts; anything else is an "unknown key" error. config_keys()
// publishes them so that the README's configuration reference is checked against them.

constexpr auto kServerKeys = std::to_array<std::string_view>(
    {"listen", "admin_listen", "tls_cert_file", "tls_key_file", "domains", "threads", "idle_timeout",
     "max_header_bytes", "ready_window", "body_timeout", "legacy_bucket_names", "max_connections", "shutdown_grace",
     "max_requests_per_second", "anonymous"});
constexpr auto kUpstreamKeys = std::to_array<std::string_view>(
    {"endpoint", "region", "access_key_id", "secret_access_key", "secret_access_key_env", "secret_access_key_file",
     "addressing", "verify_peer", "ca_file", "connect_timeout", "read_timeout", "max_idle_connections", "payload",
     "verify_writes", "checksums", "principal_arn"});
constexpr auto kClientKeys = std::to_array<std::string_view>(
    {"access_key_id", "secret_access_key", "secret_access_key_env", "secret_access_key_file", "from_env",
     "upstream_access_key_id", "upstream_secret_access_key", "upstream_secret_access_key_env",
     "upstream_secret_access_key_file", "max_requests_per_second"});
constexpr auto kAclKeys =
    std::to_array<std::string_view>({"mode", "acl_requests", "private_tag", "tag_private_uploads"});
constexpr auto kCanaryKeys = std::to_array<std::string_view>({"bucket", "prefix", "interval"});
constexpr auto kAuditKeys = std::to_array<std::string_view>({"path", "level"});
constexpr auto kSections = std::to_array<std::string_view>({"server", "upstream", "clients", "acl", "canary", "audit"});

// ---------------------------------------------------------------------------
// Errors: first one wins.

class Errors {
 public:
  void fail(std::string key, std::string message) {
    if (!first_) first_ = ConfigError{std::move(key), std::move(message)};
  }
  [[nodiscard]] bool ok() const { return !first_.has_value(); }
  [[nodiscard]] const ConfigError& first() const { return *first_; }

 private:
  std::optional<ConfigError> first_;
};

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------
// Pure value parsers: text in, value or a message (without the key) out.

// Why a value was refused; the caller adds the key.
struct Problem {
  std::string message;
};
template <class T>
using Parsed = std::variant<T, Problem>;

std::optional<std::uint64_t> parse_digits(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr std::string_view kDurationHint =
    "must be a duration such as \"500ms\", \"5s\", \"2m\", \"1h\" or an integer number of seconds";

Parsed<milliseconds> parse_duration_text(std::string_view s) {
  struct Unit {
    std::string_view suffix;
    std::uint64_t ms;
  };
  // "ms" before "s" and "m": the longest suffix must match first.
  constexpr std::array<Unit, 4> kUnits{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  for (const auto& u : kUnits) {
    if (s.size() <= u.suffix.size() || !s.ends_with(u.suffix)) continue;
    const auto n = parse_digits(s.substr(0, s.size() - u.suffix.size()), 12);
    if (!n) break;
    if (*n > static_cast<std::uint64_t>(kMaxDuration.count()) / u.ms)
      return Problem{"must be at most 24h"};
    return milliseconds(static_cast<std::int64_t>(*n * u.ms));
  }
  return Problem{std::string(kDurationHint)};
}

struct Authority {
  std::string host;  // as written, without brackets
  std::optional<std::uint16_t> port;
  bool ipv6 = false;
};

bool is_ipv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_hostname_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

Parsed<std::uint16_t> parse_port(std::string_view s) {
  const auto v = parse_digits(s, 5);
  if (!v || *v > 65535) return Problem{"port must be a number from 0 to 65535"};
  return static_cast<std::uint16_t>(*v);
}

// "host", "host:port", "[v6]" or "[v6]:port".
Parsed<Authority> parse_authority(std::string_view s) {
  Authority a;
  std::string_view port_text;
  bool has_port = false;
  if (s.empty()) return Problem{"must not be empty"};
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return Problem{"missing \"]\" after an IPv6 address"};
    a.host = std::string(s.substr(1, close - 1));
    a.ipv6 = true;
    in6_addr addr{};
    if (inet_pton(AF_INET6, a.host.c_str(), &addr) != 1)
      return Problem{in_quotes(a.host) + " is not an IPv6 address"};
    const auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Problem{"expected \":port\" after \"]\""};
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = s.find(':');
    if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos)
      return Problem{"an IPv6 address must be in brackets, e.g. \"[::1]:8080\""};
    a.host = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = s.substr(colon + 1);
      has_port = true;
    }
    if (a.host.empty()) return Problem{"host must not be empty"};
    if (!std::all_of(a.host.begin(), a.host.end(), is_hostname_char))
      return Problem{in_quotes(a.host) + " is not a host name or IP address"};
  }
  if (has_port) {
    auto port = parse_port(port_text);
    if (auto* p = std::get_if<Problem>(&port)) return *p;
    a.port = std::get<std::uint16_t>(port);
  }
  return a;
}

Parsed<HostPort> parse_listen(std::string_view s) {
  auto parsed = parse_authority(s);
  if (auto* p = std::get_if<Problem>(&parsed)) return *p;
  auto& a = std::get<Authority>(parsed);
  if (!a.port) return Problem{"must be \"host:port\" (IPv6 as \"[::1]:8080\")"};
  return HostPort{std::move(a.host), *a.port};
}

struct Endpoint {
  Scheme scheme;
  std::string host;
  std::uint16_t port;
  std::string host_header;
  bool ip_literal;
};

Parsed<Endpoint> parse_endpoint(std::string_view s) {
  const std::string head = lower(s.substr(0, 8));
  Endpoint e{};
  std::string_view rest;
  if (head.starts_with("http://")) {
    e.scheme = Scheme::http;
    rest = s.substr(7);
  } else if (head.starts_with("https://")) {
    e.scheme = Scheme::https;
    rest = s.substr(8);
  } else {
    return Problem{"must start with http:// or https://"};
  }
  if (rest.find_first_of("?#") != std::string_view::npos)
    return Problem{"must not have a query or fragment"};
  if (rest.find('@') != std::string_view::npos)
    return Problem{"must not contain user information; credentials belong in access_key_id and secret_access_key"};
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    // A lone trailing slash is harmless; anything more would be silently dropped.
    if (rest.substr(slash) != "/")
      return Problem{"must not have a path (" + in_quotes(rest.substr(slash)) + "); buckets are addressed per request"};
    rest = rest.substr(0, slash);
  }
  auto parsed = parse_authority(rest);
  if (auto* p = std::get_if<Problem>(&parsed)) return *p;
  auto& a = std::get<Authority>(parsed);
  const std::uint16_t default_port = e.scheme == Scheme::https ? 443 : 80;
  if (a.port && *a.port == 0) return Problem{"port must be a number from 1 to 65535"};
  e.host = lower(a.host);
  e.port = a.port.value_or(default_port);
  e.ip_literal = a.ipv6 || is_ipv4(e.host);
  e.host_header = a.ipv6 ? "[" + e.host + "]" : e.host;
  if (e.port != default_port) e.host_header += ":" + std::to_string(e.port);
  return e;
}

// A DNS suffix such as "s3.local": lower-cased, one leading/trailing dot tolerated.
Parsed<std::string> parse_domain(std::string_view s) {
  if (s.starts_with('.')) s.remove_prefix(1);
  if (s.ends_with('.')) s.remove_suffix(1);
  if (s.empty()) return Problem{"must not be empty"};
  if (s.size() > kMaxDnsNameLength) return Problem{"is longer than a DNS name can be"};
  std::string d = lower(s);
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= d.size(); ++i) {
    if (i < d.size() && d[i] != '.') {
      const char c = d[i];
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-')
        return Problem{in_quotes(d) + " is not a DNS name (letters, digits, '-' and '.')"};
      continue;
    }
    const std::size_t len = i - label_start;
    if (len == 0 || len > kMaxDnsLabelLength) return Problem{in_quotes(d) + " is not a DNS name (empty or over-long label)"};
    label_start = i + 1;
  }
  return d;
}

std::optional<std::string> access_key_id_problem(std::string_view id) {
  if (id.empty()) return "must not be empty";
  if (id.size() > kMaxAccessKeyIdLength) return "must be at most 128 characters";
  // These characters delimit the Credential field of an Authorization header.
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '/' || c == ',' || c == '=')
      return "must be printable ASCII without spaces, '/', ',' or '='";
  }
  return std::nullopt;
}

std::optional<std::string> bucket_problem(std::string_view b) {
  if (b.size() < kMinBucketLength || b.size() > kMaxBucketLength)
    return "must be 3 to 255 characters";
  for (char c : b)
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '-' && c != '_')
      return "must hold only letters, digits, '.', '-' and '_'";
  return std::nullopt;
}

std::string resolve_path(const fs::path& base_dir, std::string_view p) {
  const fs::path path(p);
  if (base_dir.empty() || path.is_absolute()) return path.string();
  return (base_dir / path).string();
}

// Why a file cannot be read, or nullopt if it can.
std::optional<std::string> unreadable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot read " + path + ": " + std::strerror(errno);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) return "cannot read " + path + ": not a regular file";
  return std::nullopt;
}

Parsed<std::string> read_secret_file(const std::string& path) {
  if (auto why = unreadable(path)) return Problem{*why};
  std::ifstream in(path, std::ios::binary);
  std::string content(kMaxSecretFileBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(in.gcount()));
  if (content.size() > kMaxSecretFileBytes) return Problem{path + " is larger than a secret can be (4096 bytes)"};
  // Files written by `echo` or mounted by orchestrators end with a newline.
  const std::string_view secret = trim(content);
  if (secret.empty()) return Problem{path + " is empty"};
  return std::string(secret);
}

// ---------------------------------------------------------------------------
// Typed reads from one TOML table, each error naming the key's full path.

class Section {
 public:
  Section(const toml::table* table, std::string path, Errors& errors)
      : table_(table != nullptr ? table : &empty_), path_(std::move(path)), errors_(&errors) {}

  [[nodiscard]] std::string key(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  [[nodiscard]] bool has(std::string_view name) const { return table_->get(name) != nullptr; }
  void fail(std::string_view name, std::string message) const { errors_->fail(key(name), std::move(message)); }

  void allow_only(std::span<const std::string_view> known) const {
    for (auto&& [k, node] : *table_) {
      const std::string_view name = k.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string message = "unknown key";
      for (auto candidate : known)
        if (edit_distance(name, candidate) <= 2) {
          message += " (did you mean " + in_quotes(candidate) + "?)";
          break;
        }
      fail(name, std::move(message));
    }
  }

  std::optional<std::string> string(std::string_view name) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) {
      fail(name, "must be a string");
      return std::nullopt;
    }
    return n->as_string()->get();
  }

  std::string required_string(std::string_view name) const {
    auto s = string(name);
    if (!s && !has(name)) fail(name, "required");
    return s.value_or("");
  }

  std::optional<bool> boolean(std::string_view name) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) {
      fail(name, "must be true or false");
      return std::nullopt;
    }
    return n->as_boolean()->get();
  }

  std::optional<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) {
      fail(name, "must be an integer");
      return std::nullopt;
    }
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      fail(name, "must be from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<milliseconds> duration(std::string_view name) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return std::nullopt;
    if (n->is_integer()) {
      const std::int64_t seconds = n->as_integer()->get();
      if (seconds < 0 || seconds > std::chrono::duration_cast<std::chrono::seconds>(kMaxDuration).count()) {
        fail(name, seconds < 0 ? "must not be negative" : "must be at most 24h");
        return std::nullopt;
      }
      return std::chrono::seconds(seconds);
    }
    if (!n->is_string()) {
      fail(name, std::string(kDurationHint));
      return std::nullopt;
    }
    auto parsed = parse_duration_text(n->as_string()->get());
    if (auto* problem = std::get_if<Problem>(&parsed)) {
      fail(name, problem->message);
      return std::nullopt;
    }
    return std::get<milliseconds>(parsed);
  }

  milliseconds positive_duration(std::string_view name, milliseconds fallback) const {
    const auto d = duration(name);
    if (d && d->count() == 0) fail(name, "must be greater than 0");
    return d.value_or(fallback);
  }

  std::optional<std::vector<std::string>> strings(std::string_view name) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return std::nullopt;
    const toml::array* arr = n->as_array();
    if (arr == nullptr || !std::all_of(arr->begin(), arr->end(), [](const toml::node& e) { return e.is_string(); })) {
      fail(name, "must be a list of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const toml::node& e : *arr) out.push_back(e.as_string()->get());
    return out;
  }

  template <class E>
  E choice(std::string_view name, std::initializer_list<std::pair<std::string_view, E>> options, E fallback) const {
    const auto s = string(name);
    if (!s) return fallback;
    for (const auto& [text, value] : options)
      if (*s == text) return value;
    std::string message = "must be one of";
    const char* sep = " ";
    for (const auto& option : options) {
      message += sep + in_quotes(option.first);
      sep = ", ";
    }
    fail(name, std::move(message));
    return fallback;
  }

  const toml::table* sub_table(std::string_view name) const {
    const toml::node* n = table_->get(name);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) fail(name, "must be a table ([" + key(name) + "])");
    return n->as_table();
  }

 private:
  static inline const toml::table empty_{};
  const toml::table* table_;
  std::string path_;
  Errors* errors_;
};

struct Context {
  const EnvLookup& env;
  const fs::path& base_dir;
};

// A secret given inline as <base>, by environment variable as <base>_env, or read from
// the file <base>_file: exactly one of them. nullopt when none is given (not an error
// here, since some secrets are optional) or on error.
std::optional<Secret> read_secret(const Section& s, std::string_view base, const Context& ctx) {
  const std::string inline_key(base), env_key = inline_key + "_env", file_key = inline_key + "_file";
  const int given = int(s.has(inline_key)) + int(s.has(env_key)) + int(s.has(file_key));
  if (given == 0) return std::nullopt;
  if (given > 1) {
    s.fail(inline_key, "give exactly one of " + inline_key + ", " + env_key + ", " + file_key);
    return std::nullopt;
  }
  if (auto value = s.string(inline_key)) {
    if (value->empty()) {
      s.fail(inline_key, "must not be empty");
      return std::nullopt;
    }
    return Secret(std::move(*value));
  }
  if (auto name = s.string(env_key)) {
    if (name->empty()) {
      s.fail(env_key, "must name an environment variable");
      return std::nullopt;
    }
    auto value = ctx.env(*name);
    if (!value || value->empty()) {
      s.fail(env_key, "environment variable " + *name + " is not set");
      return std::nullopt;
    }
    return Secret(std::move(*value));
  }
  if (auto path = s.string(file_key)) {
    if (path->empty()) {
      s.fail(file_key, "must name a file");
      return std::nullopt;
    }
    auto content = read_secret_file(resolve_path(ctx.base_dir, *path));
    if (auto* problem = std::get_if<Problem>(&content)) {
      s.fail(file_key, problem->message);
      return std::nullopt;
    }
    return Secret(std::move(std::get<std::string>(content)));
  }
  return std::nullopt;  // wrong type, already reported
}

std::string secret_choices(std::string_view base) {
  const std::string b(base);
  return "give exactly one of " + b + ", " + b + "_env, " + b + "_file";
}

std::string readable_file(const Section& s, std::string_view name, const Context& ctx) {
  const auto value = s.string(name);
  if (!value) return {};
  if (value->empty()) {
    s.fail(name, "must name a file");
    return {};
  }
  std::string path = resolve_path(ctx.base_dir, *value);
  if (auto why = unreadable(path)) s.fail(name, *why);
  return path;
}

std::optional<HostPort> listen_address(const Section& s, std::string_view name) {
  const auto text = s.string(name);
  if (!text) return std::nullopt;
  auto parsed = parse_listen(*text);
  if (auto* problem = std::get_if<Problem>(&parsed)) {
    s.fail(name, problem->message);
    return std::nullopt;
  }
  return std::get<HostPort>(parsed);
}

// ---------------------------------------------------------------------------
// Sections.

ServerConfig parse_server(const Section& s, const Context& ctx) {
  s.allow_only(kServerKeys);
  ServerConfig c;
  if (!s.has("listen")) s.fail("listen", "required");
  if (auto l = listen_address(s, "listen")) c.listen = *l;
  c.admin_listen = listen_address(s, "admin_listen");
  if (c.admin_listen && c.admin_listen->port != 0 && *c.admin_listen == c.listen)
    s.fail("admin_listen", "must differ from " + s.key("listen"));

  const bool has_cert = s.has("tls_cert_file"), has_key = s.has("tls_key_file");
  if (has_cert && !has_key) s.fail("tls_key_file", "required with " + s.key("tls_cert_file") + " (give both or neither)");
  if (has_key && !has_cert) s.fail("tls_cert_file", "required with " + s.key("tls_key_file") + " (give both or neither)");
  c.tls_cert_file = readable_file(s, "tls_cert_file", ctx);
  c.tls_key_file = readable_file(s, "tls_key_file", ctx);

  for (const auto& d : s.strings("domains").value_or(std::vector<std::string>{})) {
    auto parsed = parse_domain(d);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
      s.fail("domains", problem->message);
      break;
    }
    c.domains.push_back(std::move(std::get<std::string>(parsed)));
  }
  c.threads = static_cast<unsigned>(s.integer("threads", 0, kMaxThreads).value_or(0));
  c.idle_timeout = s.positive_duration("idle_timeout", c.idle_timeout);
  c.ready_window = s.positive_duration("ready_window", c.ready_window);
  c.body_timeout = s.positive_duration("body_timeout", c.body_timeout);
  c.legacy_bucket_names = s.boolean("legacy_bucket_names").value_or(false);
  c.max_header_bytes = static_cast<std::size_t>(
      s.integer("max_header_bytes", kMinHeaderBytes, kMaxHeaderBytes).value_or(static_cast<std::int64_t>(c.max_header_bytes)));
  c.max_connections = static_cast<std::size_t>(
      s.integer("max_connections", 1, kMaxConnections).value_or(static_cast<std::int64_t>(c.max_connections)));
  c.shutdown_grace = s.duration("shutdown_grace").value_or(c.shutdown_grace);
  c.max_requests_per_second =
      static_cast<std::uint32_t>(s.integer("max_requests_per_second", 0, kMaxRequestsPerSecond).value_or(0));
  c.anonymous = s.choice<AnonymousRequests>(
      "anonymous", {{"refuse", AnonymousRequests::refuse}, {"forward", AnonymousRequests::forward}},
      AnonymousRequests::refuse);
  return c;
}

UpstreamConfig parse_upstream(const Section& s, const Context& ctx) {
  s.allow_only(kUpstreamKeys);
  UpstreamConfig c;
  bool ip_literal = false;
  if (!s.has("endpoint")) s.fail("endpoint", "required");
  if (auto text = s.string("endpoint")) {
    auto parsed = parse_endpoint(*text);
    if (auto* problem = std::get_if<Problem>(&parsed)) {
      s.fail("endpoint", problem->message);
    } else {
      auto& e = std::get<Endpoint>(parsed);
      c.scheme = e.scheme;
      c.host = std::move(e.host);
      c.port = e.port;
      c.host_header = std::move(e.host_header);
      ip_literal = e.ip_literal;
    }
  }

  c.region = s.string("region").value_or(std::string(kDefaultRegion));
  if (c.region.empty() || !std::all_of(c.region.begin(), c.region.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_';
      }))
    s.fail("region", "must be a region name such as \"us-east-1\" (letters, digits, '-', '_')");

  c.access_key_id = s.required_string("access_key_id");
  if (s.has("access_key_id"))
    if (auto why = access_key_id_problem(c.access_key_id)) s.fail("access_key_id", *why);
  if (auto secret = read_secret(s, "secret_access_key", ctx)) {
    c.secret_access_key = std::move(*secret);
  } else if (!s.has("secret_access_key") && !s.has("secret_access_key_env") && !s.has("secret_access_key_file")) {
    s.fail("secret_access_key", secret_choices("secret_access_key"));
  }

  c.addressing = s.choice<Addressing>("addressing", {{"path", Addressing::path}, {"virtual", Addressing::virtual_host}},
                                      Addressing::path);
  if (c.addressing == Addressing::virtual_host && ip_literal)
    s.fail("addressing", "\"virtual\" needs a DNS name in " + s.key("endpoint") + ", not an IP address");

  c.verify_peer = s.boolean("verify_peer").value_or(true);
  c.ca_file = readable_file(s, "ca_file", ctx);
  if (!c.ca_file.empty() && c.scheme != Scheme::https)
    s.fail("ca_file", "only used with an https:// " + s.key("endpoint"));
  c.connect_timeout = s.positive_duration("connect_timeout", c.connect_timeout);
  c.read_timeout = s.positive_duration("read_timeout", c.read_timeout);
  c.max_idle_connections = static_cast<std::size_t>(
      s.integer("max_idle_connections", 0, kMaxIdleConnections).value_or(static_cast<std::int64_t>(c.max_idle_connections)));
  c.payload = s.choice<UpstreamPayload>("payload",
                                        {{"auto", UpstreamPayload::automatic},
                                         {"signed-chunks", UpstreamPayload::signed_chunks},
                                         {"unsigned", UpstreamPayload::unsigned_payload}},
                                        UpstreamPayload::automatic);
  // Over plain http an unsigned body could be altered in transit without anyone noticing.
  if (c.payload == UpstreamPayload::unsigned_payload && c.scheme != Scheme::https)
    s.fail("payload", "\"unsigned\" is allowed only with an https:// " + s.key("endpoint"));
  c.verify_writes = s.boolean("verify_writes").value_or(false);
  c.checksums = s.choice<UpstreamChecksums>(
      "checksums", {{"forward", UpstreamChecksums::forward}, {"strip", UpstreamChecksums::strip}},
      UpstreamChecksums::forward);
  if (auto arn = s.string("principal_arn")) {
    if (!arn->starts_with("arn:") || std::count(arn->begin(), arn->end(), ':') < 5)
      s.fail("principal_arn", "must be an ARN such as \"arn:aws:iam::123456789012:user/mastodon\" "
                              "(on Ceph RGW \"arn:aws:iam:::user/UID\")");
    else
      c.principal_arn = *arn;
  }
  return c;
}

constexpr std::string_view kMastodonKeyIdVar = "AWS_ACCESS_KEY_ID";
constexpr std::string_view kMastodonSecretVar = "AWS_SECRET_ACCESS_KEY";

ClientKey parse_client(const Section& s, const Context& ctx) {
  s.allow_only(kClientKeys);
  ClientKey c;
  if (s.boolean("from_env").value_or(false)) {
    for (auto k : {"access_key_id", "secret_access_key", "secret_access_key_env", "secret_access_key_file"})
      if (s.has(k))
        s.fail(k, "not allowed with from_env = true (the key comes from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
    auto id = ctx.env(kMastodonKeyIdVar);
    auto secret = ctx.env(kMastodonSecretVar);
    if (!id || id->empty()) {
      s.fail("from_env", "environment variable " + std::string(kMastodonKeyIdVar) + " is not set");
    } else if (auto why = access_key_id_problem(*id)) {
      s.fail("from_env", std::string(kMastodonKeyIdVar) + " " + *why);
    }
    if (!secret || secret->empty())
      s.fail("from_env", "environment variable " + std::string(kMastodonSecretVar) + " is not set");
    c.access_key_id = id.value_or("");
    c.secret_access_key = Secret(secret.value_or(""));
  } else {
    c.access_key_id = s.required_string("access_key_id");
    if (s.has("access_key_id"))
      if (auto why = access_key_id_problem(c.access_key_id)) s.fail("access_key_id", *why);
    if (auto secret = read_secret(s, "secret_access_key", ctx)) {
      c.secret_access_key = std::move(*secret);
    } else if (!s.has("secret_access_key") && !s.has("secret_access_key_env") && !s.has("secret_access_key_file")) {
      s.fail("secret_access_key", secret_choices("secret_access_key"));
    }
  }

  const bool has_upstream_id = s.has("upstream_access_key_id");
  const bool has_upstream_secret = s.has("upstream_secret_access_key") || s.has("upstream_secret_access_key_env") ||
                                   s.has("upstream_secret_access_key_file");
  if (has_upstream_id && !has_upstream_secret)
    s.fail("upstream_secret_access_key",
           "required with upstream_access_key_id (" + secret_choices("upstream_secret_access_key") + ")");
  if (has_upstream_secret && !has_upstream_id)
    s.fail("upstream_access_key_id", "required with upstream_secret_access_key (give both or neither)");
  if (has_upstream_id) {
    c.upstream_access_key_id = s.string("upstream_access_key_id").value_or("");
    if (auto why = access_key_id_problem(c.upstream_access_key_id)) s.fail("upstream_access_key_id", *why);
  }
  if (auto secret = read_secret(s, "upstream_secret_access_key", ctx)) c.upstream_secret_access_key = std::move(*secret);
  if (auto rate = s.integer("max_requests_per_second", 0, kMaxRequestsPerSecond))
    c.max_requests_per_second = static_cast<std::uint32_t>(*rate);
  return c;
}

std::vector<ClientKey> parse_clients(const toml::table& root, Errors& errors, const Context& ctx) {
  std::vector<ClientKey> clients;
  const toml::node* n = root.get("clients");
  if (n == nullptr) {
    errors.fail("clients", "at least one [[clients]] entry is required");
    return clients;
  }
  const toml::array* arr = n->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    errors.fail("clients", "must be an array of tables ([[clients]])");
    return clients;
  }
  if (arr->empty()) errors.fail("clients", "at least one [[clients]] entry is required");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const Section s(arr->get(i)->as_table(), "clients[" + std::to_string(i) + "]", errors);
    ClientKey c = parse_client(s, ctx);
    for (std::size_t j = 0; j < clients.size(); ++j)
      if (!c.access_key_id.empty() && clients[j].access_key_id == c.access_key_id)
        s.fail(s.has("from_env") ? "from_env" : "access_key_id",
               "duplicate access key id; already used by clients[" + std::to_string(j) + "]");
    clients.push_back(std::move(c));
  }
  return clients;
}

AclConfig parse_acl(const Section& s) {
  s.allow_only(kAclKeys);
  AclConfig c;
  c.mode = s.choice<AclMode>("mode", {{"strip", AclMode::strip}, {"audit", AclMode::audit}}, AclMode::strip);
  // In audit mode the proxy changes nothing by default, PUT ?acl included.
  const AclRequests fallback = c.mode == AclMode::audit ? AclRequests::forward : AclRequests::reject;
  c.acl_requests = s.choice<AclRequests>(
      "acl_requests",
      {{"reject", AclRequests::reject},
       {"accept", AclRequests::accept},
       {"forward", AclRequests::forward},
       {"tag", AclRequests::tag}},
      fallback);
  if (auto tag = s.string("private_tag")) {
    auto parsed = suspension::parse_private_tag(*tag);
    if (auto* why = std::get_if<std::string>(&parsed)) s.fail("private_tag", *why);
    else c.private_tag = std::get<suspension::VisibilityTag>(parsed);
  }
  c.tag_private_uploads = s.boolean("tag_private_uploads").value_or(true);
  return c;
}

CanaryConfig parse_canary(const Section& s) {
  s.allow_only(kCanaryKeys);
  CanaryConfig c;
  c.bucket = s.required_string("bucket");
  if (s.has("bucket"))
    if (auto why = bucket_problem(c.bucket)) s.fail("bucket", *why);
  c.prefix = s.string("prefix").value_or(std::string(kDefaultCanaryPrefix));
  if (c.prefix.empty())
    s.fail("prefix", "must not be empty (canary objects would land at the top of the bucket)");
  else if (c.prefix.front() == '/')
    s.fail("prefix", "must not start with \"/\"");
  else if (c.prefix.size() > kMaxCanaryPrefixBytes)
    s.fail("prefix", "must be at most 900 bytes");
  else if (std::any_of(c.prefix.begin(), c.prefix.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
    s.fail("prefix", "must not contain control characters");
  c.interval = s.duration("interval").value_or(c.interval);
  return c;
}

AuditConfig parse_audit(const Section& s, const Context& ctx) {
  s.allow_only(kAuditKeys);
  AuditConfig c;
  if (auto p = s.string("path")) {
    if (p->empty())
      s.fail("path", "must be \"-\" (stdout) or a file path");
    else
      c.path = *p == kStdout ? std::string(kStdout) : resolve_path(ctx.base_dir, *p);
  }
  if (auto level = s.string("level")) {
    if (*level != "debug" && *level != "info" && *level != "warn")
      s.fail("level", "must be one of \"debug\", \"info\", \"warn\" (failed writes are logged at warn and must "
                      "never be filtered out)");
    else
      c.level = *level;
  }
  return c;
}

// toml++ descriptions may quote the offending text ("saw '...'"), which could be a
// mistyped secret; keep only the part before it.
std::string redacted_parse_error(const toml::parse_error& e) {
  std::string_view d = e.description();
  if (const auto saw = d.find(", saw "); saw != std::string_view::npos) d = d.substr(0, saw);
  return "line " + std::to_string(e.source().begin.line) + ", column " + std::to_string(e.source().begin.column) +
         ": " + std::string(d);
}

}  // namespace

// ---------------------------------------------------------------------------

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  const auto add = [&out](std::string_view section, std::span<const std::string_view> keys) {
    for (auto k : keys) out.push_back(std::string(section) + "." + std::string(k));
  };
  add("server", kServerKeys);
  add("upstream", kUpstreamKeys);
  add("clients", kClientKeys);
  add("acl", kAclKeys);
  add("canary", kCanaryKeys);
  add("audit", kAuditKeys);
  return out;
}

std::string ConfigError::to_string() const { return key.empty() ? message : key + ": " + message; }

std::string to_string(const HostPort& hp) {
  const bool ipv6 = hp.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

std::variant<Config, ConfigError> parse_config(std::string_view toml_text, const EnvLookup& env,
                                               const std::filesystem::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    return ConfigError{"", redacted_parse_error(e)};
  }
  Errors errors;
  const Context ctx{env, base_dir};
  const Section top(&root, "", errors);
  top.allow_only(kSections);

  Config config;
  config.server = parse_server(Section(top.sub_table("server"), "server", errors), ctx);
  config.upstream = parse_upstream(Section(top.sub_table("upstream"), "upstream", errors), ctx);
  config.clients = parse_clients(root, errors, ctx);
  config.acl = parse_acl(Section(top.sub_table("acl"), "acl", errors));
  if (top.has("canary")) {
    if (const toml::table* t = top.sub_table("canary")) config.canary = parse_canary(Section(t, "canary", errors));
  }
  config.audit = parse_audit(Section(top.sub_table("audit"), "audit", errors), ctx);
  if (!errors.ok()) return errors.first();
  return config;
}

std::optional<std::string> process_env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::variant<Config, ConfigError> load_config(const std::filesystem::path& file) {
  if (auto why = unreadable(file.string())) return ConfigError{"", *why};
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return ConfigError{"", "cannot read " + file.string()};
  return parse_config(text.str(), process_env, file.parent_path());
}

bool tags_private_uploads(const AclConfig& acl) {
  return acl.tag_private_uploads && (acl.mode == AclMode::strip || acl.acl_requests == AclRequests::tag);
}

const ClientKey* find_client(const Config& config, std::string_view access_key_id) {
  for (const auto& c : config.clients)
    if (c.access_key_id == access_key_id) return &c;
  return nullptr;
}

std::uint32_t request_rate_limit(const Config& config, const ClientKey& client) {
  return client.max_requests_per_second.value_or(config.server.max_requests_per_second);
}

UpstreamSource fixed_upstream(UpstreamConfig upstream) {
  auto fixed = std::make_shared<const UpstreamConfig>(std::move(upstream));
  return [fixed] { return fixed; };
}

UpstreamIdentity upstream_identity(const Config& config, const ClientKey& client) {
  if (client.upstream_access_key_id.empty())
    return {config.upstream.access_key_id, config.upstream.secret_access_key};
  return {client.upstream_access_key_id, client.upstream_secret_access_key};
}

unsigned effective_threads(const ServerConfig& server) {
  if (server.threads != 0) return server.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string_view to_string(Scheme s) { return s == Scheme::https ? "https" : "http"; }

std::string_view to_string(Addressing a) { return a == Addressing::virtual_host ? "virtual" : "path"; }

std::string_view to_string(AclMode m) { return m == AclMode::audit ? "audit" : "strip"; }

std::string_view to_string(AclRequests r) {
  switch (r) {
    case AclRequests::reject: return "reject";
    case AclRequests::accept: return "accept";
    case AclRequests::forward: return "forward";
    case AclRequests::tag: return "tag";
  }
  return "reject";
}

std::string_view to_string(UpstreamPayload p) {
  switch (p) {
    case UpstreamPayload::automatic: return "auto";
    case UpstreamPayload::signed_chunks: return "signed-chunks";
    case UpstreamPayload::unsigned_payload: return "unsigned";
  }
  return "auto";
}

std::string_view to_string(AnonymousRequests a) {
  return a == AnonymousRequests::forward ? "forward" : "refuse";
}

std::string_view to_string(UpstreamChecksums c) {
  return c == UpstreamChecksums::strip ? "strip" : "forward";
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

namespace {

std::string_view payload_summary(UpstreamPayload p) {
  switch (p) {
    case UpstreamPayload::automatic:
      return "hex and UNSIGNED-PAYLOAD kept; streaming bodies re-signed as STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    case UpstreamPayload::signed_chunks:
      return "hex kept; streaming and UNSIGNED-PAYLOAD bodies sent as STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    case UpstreamPayload::unsigned_payload:
      return "hex and UNSIGNED-PAYLOAD kept; streaming bodies sent as UNSIGNED-PAYLOAD";
  }
  return "";
}

std::string_view acl_requests_summary(AclRequests r) {
  switch (r) {
    case AclRequests::reject: return "answered 501 NotImplemented by the proxy";
    case AclRequests::accept: return "answered 200 by the proxy without reaching the upstream";
    case AclRequests::forward: return "forwarded to the upstream";
    case AclRequests::tag: return "a non-public ACL sets the object's private tag, a public one removes it";
  }
  return "";
}

}  // namespace

std::string describe(const Config& config) {
  const auto& s = config.server;
  const auto& u = config.upstream;
  std::ostringstream out;
  out << "listen:         " << to_string(s.listen) << (s.tls_cert_file.empty() ? " (http)" : " (https)") << "\n";
  if (!s.tls_cert_file.empty()) out << "  certificate:  " << s.tls_cert_file << ", key " << s.tls_key_file << "\n";
  out << "admin:          "
      << (s.admin_listen ? to_string(*s.admin_listen) + " (/metrics, /healthz, /readyz)" : std::string("none"))
      << "\n";
  out << "client hosts:   path-style";
  for (const auto& d : s.domains) out << ", *." << d << " (virtual-hosted)";
  out << "\n";
  out << "threads:        " << effective_threads(s) << (s.threads == 0 ? " (hardware concurrency)" : "") << "\n";
  out << "limits:         idle timeout " << format_duration(s.idle_timeout) << ", request body within "
      << format_duration(s.body_timeout) << ", headers up to " << s.max_header_bytes << " bytes, "
      << s.max_connections << " connections\n";
  out << "readiness:      /readyz fails after " << format_duration(s.ready_window) << " without an upstream answer\n";
  out << "bucket names:   " << (s.legacy_bucket_names ? "legacy (upper case and '_' allowed)" : "S3 rules") << "\n";
  out << "anonymous:      " << to_string(s.anonymous)
      << (s.anonymous == AnonymousRequests::forward
              ? " (requests without credentials forwarded without any; the storage's public access decides)"
              : " (requests without credentials refused, 403 AccessDenied)")
      << "; OPTIONS (CORS preflight) always forwarded without credentials\n";
  out << "shutdown:       requests in flight get " << format_duration(s.shutdown_grace)
      << " to finish, then are cancelled\n";
  out << "upstream:       " << to_string(u.scheme) << "://" << u.host_header << " region " << u.region << "\n";
  out << "  identity:     " << u.access_key_id << "\n";
  out << "  addressing:   " << (u.addressing == Addressing::path ? "path-style" : "virtual-hosted-style") << "\n";
  out << "  payload:      " << to_string(u.payload) << " (" << payload_summary(u.payload) << ")\n";
  if (u.scheme == Scheme::https)
    out << "  tls:          " << (u.verify_peer ? "verify peer" : "NO peer verification") << " against "
        << (u.ca_file.empty() ? std::string("the system trust store") : u.ca_file) << "\n";
  out << "  timeouts:     connect " << format_duration(u.connect_timeout) << ", read "
      << format_duration(u.read_timeout) << "; up to " << u.max_idle_connections << " idle connections\n";
  out << "  verify writes: " << (u.verify_writes ? "yes (HEAD after each acknowledged write)" : "no") << "\n";
  out << "  checksums:    " << to_string(u.checksums)
      << (u.checksums == UpstreamChecksums::strip ? " (verified by the proxy, never sent upstream)"
                                                  : " (x-amz-checksum-* headers sent upstream as received)")
      << "\n";
  out << "clients:        " << config.clients.size() << "\n";
  for (const auto& c : config.clients) {
    out << "  " << c.access_key_id << " -> upstream as "
        << (c.upstream_access_key_id.empty() ? u.access_key_id + " ([upstream])" : c.upstream_access_key_id);
    if (const auto rate = request_rate_limit(config, c); rate != 0) out << ", at most " << rate << " requests/s";
    out << "\n";
  }
  const auto& a = config.acl;
  out << "acl:            " << to_string(a.mode)
      << (a.mode == AclMode::strip ? " (x-amz-acl and x-amz-grant-* removed, request re-signed)"
                                   : " (ACL headers forwarded and logged)")
      << "\n";
  out << "  PUT ?acl:     " << to_string(a.acl_requests) << " (" << acl_requests_summary(a.acl_requests) << ")\n";
  if (tags_private_uploads(a))
    out << "  private tag:  " << suspension::to_string(a.private_tag)
        << " (uploads with a non-public x-amz-acl carry it; a bucket-policy Deny gives it its effect: "
           "s3-acl-proxy policy)\n";
  if (!u.principal_arn.empty()) out << "  principal:    " << u.principal_arn << "\n";
  if (config.canary) {
    const auto& c = *config.canary;
    out << "canary:         bucket " << c.bucket << ", prefix " << c.prefix << ", "
        << (c.interval.count() == 0 ? std::string("no periodic check") : "every " + format_duration(c.interval))
        << "\n";
  } else {
    out << "canary:         none\n";
  }
  out << "audit:          " << (config.audit.path == kStdout ? std::string("stdout") : config.audit.path)
      << ", level " << config.audit.level << "\n";
  return out.str();
}

}  // namespace s3proxy
