#pragma once
// The proxy's configuration: TOML text in, an immutable validated struct out.
// Every way a file can be wrong ends in one ConfigError naming the key by its full
// dotted path ("upstream.endpoint", "clients[0].secret_access_key"), so an operator
// can fix the file without reading code. conf/s3-acl-proxy.toml documents each key.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "s3proxy/acl_types.hpp"
#include "s3proxy/suspension.hpp"
#include "s3proxy/secret.hpp"

namespace s3proxy {

struct HostPort {
  std::string host;  // without IPv6 brackets
  std::uint16_t port = 0;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};
// "host:port", with brackets around an IPv6 host: "[::1]:8080".
std::string to_string(const HostPort& hp);

enum class Scheme { http, https };
enum class Addressing { path, virtual_host };
// How request bodies in aws-chunked (STREAMING-*) form are sent upstream:
//  automatic:        hex and UNSIGNED-PAYLOAD kept; streaming modes re-signed as
//                    STREAMING-AWS4-HMAC-SHA256-PAYLOAD, which every S3 implementation accepts.
//  signed_chunks:    as automatic, and UNSIGNED-PAYLOAD bodies are also sent as
//                    STREAMING-AWS4-HMAC-SHA256-PAYLOAD so the upstream can check every byte.
//  unsigned_payload: streaming modes sent as UNSIGNED-PAYLOAD (config requires an https upstream).
enum class UpstreamPayload { automatic, signed_chunks, unsigned_payload };
// What happens to the client's payload checksums (x-amz-checksum-*, aws-chunked trailers):
//  forward: header checksums go upstream as sent (trailers are verified by the proxy and not sent).
//  strip:   the proxy verifies every one itself and the upstream gets none (storage that rejects them).
enum class UpstreamChecksums { forward, strip };
// A request that carries no credentials at all (no Authorization header, no presigned query):
//  refuse:  answered 403 AccessDenied by the proxy, nothing forwarded.
//  forward: sent upstream without any credentials, so that the storage's own public-access
//           rules judge it; the proxy never signs it with its identity.
enum class AnonymousRequests { refuse, forward };

struct ClientKey {
  std::string access_key_id;
  Secret secret_access_key;
  // Both empty: re-sign with [upstream]'s identity.
  std::string upstream_access_key_id;
  Secret upstream_secret_access_key;
  // Requests per second this key may make (token bucket, burst = rate); absent: the
  // [server] default; 0: no limit.
  std::optional<std::uint32_t> max_requests_per_second;
};

struct ServerConfig {
  HostPort listen;
  std::optional<HostPort> admin_listen;  // absent: no admin listener
  std::string tls_cert_file, tls_key_file;  // both empty: plain http
  std::vector<std::string> domains;  // lower-case DNS suffixes for virtual-hosted-style requests
  unsigned threads = 0;              // 0: hardware concurrency (see effective_threads)
  std::chrono::milliseconds idle_timeout{60000};
  // /readyz fails once the upstream has not answered for this long (the proxy probes it
  // itself when traffic is idle).
  std::chrono::milliseconds ready_window{30000};
  // The whole request body must arrive within this, however steadily it trickles in (the
  // idle timeout alone lets one byte a minute hold a connection for ever). An hour moves
  // a 5 GiB part at 1.5 MiB/s.
  std::chrono::milliseconds body_timeout{3600000};
  // Admit the legacy bucket names RGW and MinIO accept (upper case, '_', up to 255).
  bool legacy_bucket_names = false;
  std::size_t max_header_bytes = 16384;
  // Client connections served at once; a connection beyond it is answered 503 SlowDown and closed.
  std::size_t max_connections = 4096;
  // After SIGTERM/SIGINT, requests in flight get this long to finish before they are cancelled
  // (Kubernetes' default termination grace period is 30 s; leave room to exit inside it).
  std::chrono::milliseconds shutdown_grace{25000};
  // Default per-access-key request rate for [[clients]] without their own; 0: no limit.
  std::uint32_t max_requests_per_second = 0;
  AnonymousRequests anonymous = AnonymousRequests::refuse;
};

struct UpstreamConfig {
  Scheme scheme = Scheme::http;
  std::string host;  // lower-case, without IPv6 brackets
  std::uint16_t port = 0;
  // "host" or "host:port" when the port is not the scheme default; IPv6 bracketed.
  std::string host_header;
  std::string region;
  std::string access_key_id;
  Secret secret_access_key;
  Addressing addressing = Addressing::path;
  bool verify_peer = true;
  std::string ca_file;  // empty: the system's trust store
  std::chrono::milliseconds connect_timeout{5000}, read_timeout{60000};
  std::size_t max_idle_connections = 64;
  UpstreamPayload payload = UpstreamPayload::automatic;
  // After a write the upstream acknowledged, confirm it with a HEAD of the object.
  bool verify_writes = false;
  UpstreamChecksums checksums = UpstreamChecksums::forward;
  // The ARN of the identity above (arn:aws:iam::123456789012:user/mastodon; on Ceph RGW
  // arn:aws:iam:::user/UID), which an S3 key alone does not tell: what the `policy` command
  // exempts from the suspension Deny and what `check` and the policy lint look for. Empty: unknown.
  std::string principal_arn;
};

struct AclConfig {
  AclMode mode = AclMode::strip;
  AclRequests acl_requests = AclRequests::reject;
  // The tag that marks an object non-public (acl_requests = "tag", and uploads with a
  // non-public x-amz-acl in modes strip and tag).
  suspension::VisibilityTag private_tag{"s3-acl-proxy-visibility", "private"};
  // false: uploads are never given the tag (storage without object tagging).
  bool tag_private_uploads = true;
};

struct CanaryConfig {
  std::string bucket;
  std::string prefix;
  std::chrono::milliseconds interval{60000};  // 0: no periodic check
};

struct AuditConfig {
  std::string path = "-";  // "-": stdout
  std::string level = "info";  // "debug", "info" or "warn"
};

struct Config {
  ServerConfig server;
  UpstreamConfig upstream;
  std::vector<ClientKey> clients;
  AclConfig acl;
  std::optional<CanaryConfig> canary;
  AuditConfig audit;
};

struct ConfigError {
  std::string key;  // full dotted path; empty for a file that cannot be read or parsed
  std::string message;  // never holds a secret
  std::string to_string() const;  // "key: message", or just the message without a key
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Relative file paths in the text (secret files, TLS files, ca_file, audit path) are
// taken relative to base_dir; an empty base_dir leaves them relative to the working
// directory. Secret files are read here, so the result holds every secret it needs.
std::variant<Config, ConfigError> parse_config(std::string_view toml_text, const EnvLookup& env,
                                               const std::filesystem::path& base_dir = {});

// Reads the file with the process environment; relative paths in it are relative to
// the file's own directory. An unreadable file gives ConfigError{"", ...}.
std::variant<Config, ConfigError> load_config(const std::filesystem::path& file);

// Every key the loader accepts, as "section.key" ("clients.key" for [[clients]] entries).
std::vector<std::string> config_keys();

// The process environment as an EnvLookup (unset and empty variables are both nullopt).
std::optional<std::string> process_env(std::string_view name);

// A human summary for --check: listeners, upstream, addressing, payload, client key ids,
// acl policy, canary, audit. Never contains a secret.
std::string describe(const Config& config);

// Modes strip and tag (unless tag_private_uploads = false): an upload whose x-amz-acl is
// non-public carries the private tag.
bool tags_private_uploads(const AclConfig& acl);

const ClientKey* find_client(const Config& config, std::string_view access_key_id);

// The request rate a client key is held to: its own max_requests_per_second, else the
// [server] default; 0 means no limit.
std::uint32_t request_rate_limit(const Config& config, const ClientKey& client);

// Where a long-lived component (S3 client, canary, readiness probe) reads the upstream
// settings: the ones current at each call, since a reload may replace them. The caller
// holds the pointer for as long as it uses the settings, so a reload never frees them
// under it.
using UpstreamSource = std::function<std::shared_ptr<const UpstreamConfig>()>;
// A source that always gives (a copy of) these settings.
UpstreamSource fixed_upstream(UpstreamConfig upstream);

// The identity a client's requests are re-signed with upstream.
struct UpstreamIdentity {
  std::string_view access_key_id;
  const Secret& secret_access_key;
};
UpstreamIdentity upstream_identity(const Config& config, const ClientKey& client);

// threads, with 0 resolved to the hardware concurrency (at least 1).
unsigned effective_threads(const ServerConfig& server);

std::string_view to_string(Scheme s);
std::string_view to_string(Addressing a);        // "path" | "virtual"
std::string_view to_string(AclMode m);           // "strip" | "audit"
std::string_view to_string(AclRequests r);       // "reject" | "accept" | "forward" | "tag"
std::string_view to_string(UpstreamPayload p);
std::string_view to_string(AnonymousRequests a);  // "refuse" | "forward"
std::string_view to_string(UpstreamChecksums c);  // "forward" | "strip"   // "auto" | "signed-chunks" | "unsigned"

// "500ms", "5s", "2m", "1h": the largest unit that expresses d exactly.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace s3proxy
