#pragma once
// The process: one io_context per worker thread, each with its own SO_REUSEPORT acceptor
// and upstream pool (no shared state on the request path but the metrics and the audit
// queue), an admin listener, and a graceful drain on SIGTERM/SIGINT.
#include "s3proxy/config.hpp"

namespace s3proxy {

class AuditLog;
class Metrics;

// Runs until SIGTERM or SIGINT, then stops accepting, lets requests in flight finish
// (bounded by kDrainTimeout) and returns the process exit code.
int run_server(const Config& config, AuditLog& audit, Metrics& metrics);

}  // namespace s3proxy
