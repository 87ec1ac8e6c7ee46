#pragma once
// The process: one io_context per worker thread, each with its own SO_REUSEPORT acceptor
// and upstream pool (no shared state on the request path but the metrics, the audit queue,
// the configuration snapshot and the rate limiter), an admin listener, a graceful drain on
// SIGTERM/SIGINT and a configuration reload on SIGHUP.
#include "s3proxy/config.hpp"

#include <functional>
#include <variant>

namespace s3proxy {

class AuditLog;
class Metrics;

// Reads the configuration file again (SIGHUP).
using ConfigLoader = std::function<std::variant<Config, ConfigError>()>;

// Runs until SIGTERM or SIGINT, then stops accepting, closes idle connections, lets
// requests in flight finish for server.shutdown_grace, cancels what is left (each such
// request still gets its audit line, status 503) and returns the process exit code (0).
//
// SIGHUP reopens the audit file (log rotation) and, with a loader, reloads the
// configuration: see config_store.hpp for what may change. A file that does not parse or
// changes what needs a restart is refused with an error audit record naming the key, and
// the running configuration stays.
int run_server(const Config& config, AuditLog& audit, Metrics& metrics, ConfigLoader reload = {});

}  // namespace s3proxy
