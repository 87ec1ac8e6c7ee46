#include "s3proxy/config_store.hpp"

#include <utility>

namespace s3proxy {

namespace {

ConfigError needs_restart(std::string key) {
  return ConfigError{std::move(key), "cannot change while the proxy runs; restart it to apply the new value"};
}

std::optional<ConfigError> server_change(const ServerConfig& a, const ServerConfig& b) {
  // Bound when the process starts: the sockets, the worker threads, the TLS context and
  // the readiness tracker.
  if (a.listen != b.listen) return needs_restart("server.listen");
  if (a.admin_listen != b.admin_listen) return needs_restart("server.admin_listen");
  if (a.tls_cert_file != b.tls_cert_file) return needs_restart("server.tls_cert_file");
  if (a.tls_key_file != b.tls_key_file) return needs_restart("server.tls_key_file");
  if (a.threads != b.threads) return needs_restart("server.threads");
  if (a.ready_window != b.ready_window) return needs_restart("server.ready_window");
  return std::nullopt;
}

std::optional<ConfigError> upstream_change(const UpstreamConfig& a, const UpstreamConfig& b) {
  // Bound into the connection pools and the TLS context; pooled connections lead there.
  if (a.scheme != b.scheme || a.host != b.host || a.port != b.port || a.host_header != b.host_header)
    return needs_restart("upstream.endpoint");
  if (a.addressing != b.addressing) return needs_restart("upstream.addressing");
  if (a.verify_peer != b.verify_peer) return needs_restart("upstream.verify_peer");
  if (a.ca_file != b.ca_file) return needs_restart("upstream.ca_file");
  if (a.connect_timeout != b.connect_timeout) return needs_restart("upstream.connect_timeout");
  if (a.max_idle_connections != b.max_idle_connections) return needs_restart("upstream.max_idle_connections");
  return std::nullopt;
}

std::optional<ConfigError> canary_change(const std::optional<CanaryConfig>& a, const std::optional<CanaryConfig>& b) {
  // The periodic check is set up (or not) when the process starts.
  if (a.has_value() != b.has_value()) return needs_restart("canary");
  if (!a) return std::nullopt;
  if (a->bucket != b->bucket) return needs_restart("canary.bucket");
  if (a->prefix != b->prefix) return needs_restart("canary.prefix");
  if (a->interval != b->interval) return needs_restart("canary.interval");
  return std::nullopt;
}

}  // namespace

std::optional<ConfigError> restart_required(const Config& running, const Config& next) {
  if (auto e = server_change(running.server, next.server)) return e;
  if (auto e = upstream_change(running.upstream, next.upstream)) return e;
  if (auto e = canary_change(running.canary, next.canary)) return e;
  // The file is reopened at the same path on SIGHUP; another path needs a restart.
  if (running.audit.path != next.audit.path) return needs_restart("audit.path");
  return std::nullopt;
}

ConfigStore::ConfigStore(Config initial) : current_(std::make_shared<const Config>(std::move(initial))) {}

std::shared_ptr<const Config> ConfigStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::optional<ConfigError> ConfigStore::replace(Config next) {
  auto fresh = std::make_shared<const Config>(std::move(next));
  std::lock_guard lock(mutex_);
  if (auto refused = restart_required(*current_, *fresh)) return refused;
  current_ = std::move(fresh);
  return std::nullopt;
}

UpstreamSource ConfigStore::upstream_source() const {
  return [this] {
    auto snapshot = current();
    // Shares ownership of the whole snapshot while pointing at its [upstream] part.
    return std::shared_ptr<const UpstreamConfig>(snapshot, &snapshot->upstream);
  };
}

}  // namespace s3proxy
