#pragma once
// The running configuration, replaceable while requests are in flight (SIGHUP). Each request
// takes a snapshot -- a shared pointer to an immutable Config -- when it starts and keeps it
// to its end, so a reload applies to the requests that start after it and never frees the
// settings, keys included, of a request still running.
//
// What may change on reload: client keys and their rates, the upstream identity, region,
// read timeout, payload mode and verify_writes, the [acl] policy, [audit] level, and the
// [server] keys read per connection or request (domains, idle_timeout, max_header_bytes,
// max_connections, shutdown_grace, max_requests_per_second). Everything bound when the
// process starts -- listeners, threads, TLS files, the upstream endpoint and the connection
// settings of its pools, the canary, the audit path -- needs a restart; a reload that
// changes one of them is refused as a whole.
#include "s3proxy/config.hpp"

#include <memory>
#include <mutex>
#include <optional>

namespace s3proxy {

// The first setting that differs between the running config and `next` and cannot change
// without a restart, as a ConfigError naming its key; nullopt when `next` can be installed.
std::optional<ConfigError> restart_required(const Config& running, const Config& next);

class ConfigStore {
 public:
  explicit ConfigStore(Config initial);

  // Thread-safe; the snapshot stays valid for as long as it is held.
  [[nodiscard]] std::shared_ptr<const Config> current() const;

  // Installs `next` unless restart_required() objects; then the running config stays and
  // the objection is returned.
  std::optional<ConfigError> replace(Config next);

  // The upstream settings of the config current at each call (for the proxy's own S3
  // client, the canary and the readiness probe).
  [[nodiscard]] UpstreamSource upstream_source() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
};

}  // namespace s3proxy
