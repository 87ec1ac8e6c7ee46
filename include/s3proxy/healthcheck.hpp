#pragma once
// `s3-acl-proxy healthcheck --config FILE`: GET /healthz on the config's admin listener and
// exit 0 on 200, so a container image without a shell or curl (docker/Dockerfile) can still
// carry a HEALTHCHECK. It binds no port and needs only the config the proxy runs with.
#include "s3proxy/config.hpp"

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <variant>

namespace s3proxy {

// A container runtime kills a health check after its own timeout (Docker's default 30 s);
// a live proxy answers /healthz at once, so anything slower than this is unhealthy.
inline constexpr auto kHealthcheckTimeout = std::chrono::seconds(5);

// Where to send the probe for an admin listener: a wildcard address (0.0.0.0, ::) is reached
// on the loopback address of its family; any other address as it is. An error (one line)
// when there is nothing to probe: no admin listener, or port 0 (picked by the kernel).
std::variant<HostPort, std::string> healthcheck_target(const std::optional<HostPort>& admin_listen);

// Probes once; prints one line on `out` (healthy) or `err`. Returns the exit code: 0 when
// /healthz answered 200, 1 otherwise, 2 when the config gives nothing to probe.
int run_healthcheck_command(const Config& config, std::ostream& out, std::ostream& err);

}  // namespace s3proxy
