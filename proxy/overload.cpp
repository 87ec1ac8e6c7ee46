#include "s3proxy/overload.hpp"

#include "s3proxy/metrics.hpp"
#include "s3proxy/rate_limit.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace s3proxy {

namespace {

// Retry-After: clients that honour it (and the AWS SDKs' own back-off on SlowDown) come
// back after a second rather than at once.
constexpr int kRetryAfterSeconds = 1;

}  // namespace

std::string slow_down_response(bool head) {
  const std::string body = error_xml(info(S3Error::SlowDown).code, "Please reduce your request rate.", "/", "");
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Server: s3-acl-proxy\r\n"
      "Content-Type: application/xml\r\n"
      "Content-Length: {}\r\n"
      "Retry-After: {}\r\n"
      "Connection: close\r\n"
      "\r\n"
      "{}",
      body.size(), kRetryAfterSeconds, head ? std::string() : body);
}

std::chrono::milliseconds AcceptBackoff::failed() {
  ++failures_;
  pause_ = pause_.count() == 0 ? kFirstPause : std::min(pause_ * 2, kMaxPause);
  return pause_;
}

std::optional<unsigned> AcceptBackoff::succeeded() {
  pause_ = std::chrono::milliseconds(0);
  if (failures_ == 0) return std::nullopt;
  const unsigned n = failures_;
  failures_ = 0;
  return n;
}

std::optional<Failure> over_request_rate(const ProxyServices& services, const Config& config, const ClientKey& client) {
  if (services.limiter == nullptr) return std::nullopt;
  if (services.limiter->admit(client.access_key_id, request_rate_limit(config, client))) return std::nullopt;
  services.metrics.throttled("rate_limit");
  return Failure{S3Error::SlowDown, "Please reduce your request rate."};
}

}  // namespace s3proxy
