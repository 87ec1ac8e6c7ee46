#pragma once
// The process: one io_context per worker thread, each with its own SO_REUSEPORT acceptor
// and upstream pool (no shared state on the request path but the metrics, the audit queue,
// the configuration snapshot and the rate limiter), an admin listener and a graceful drain on
// SIGTERM/SIGINT.
#include "s3proxy/config.hpp"

#include <functional>
#include <variant>

namespace s3proxy {

class AuditLog;
class Metrics;

// Runs until SIGTERM or SIGINT, then stops accepting, closes idle connections, lets
// requests in flight finish for server.shutdown_grace, cancels what is left (each such
// request still gets its audit line, status 503) and returns the process exit code (0).
int run_server(const Config& config, AuditLog& audit, Metrics& metrics);

}  // namespace s3proxy
