#pragma once
// Staying up under overload: the 503 SlowDown answer to a connection beyond
// server.max_connections, the back-off of an accept loop that fails (EMFILE: out of file
// descriptors), and the per-access-key request rate check.
#include "s3proxy/config.hpp"
#include "s3proxy/lifecycle.hpp"
#include "s3proxy/net.hpp"
#include "s3proxy/relay.hpp"
#include "s3proxy/s3_error.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <type_traits>

namespace s3proxy {

// A refused connection gets this long to take its answer (and, over TLS, to shake hands):
// under overload a slow client must not hold a socket for a full idle timeout.
inline constexpr std::chrono::seconds kRefusalTimeout{2};
// What is read (and dropped) of a refused client's request body before the socket closes,
// so that closing does not reset the connection before the 503 arrives.
inline constexpr std::size_t kRefusalDrainBytes = 64 * 1024;
// A refused client's request header is read (to answer a HEAD without a body) up to this
// size; a signed S3 request header is about 2 KiB.
inline constexpr std::uint32_t kRefusalHeaderLimit = 16 * 1024;

// The whole HTTP/1.1 answer to a refused connection: 503 with an S3 SlowDown error body
// (none for HEAD), Retry-After and Connection: close.
std::string slow_down_response(bool head = false);

// A failing accept() is retried after a pause that doubles from kFirstPause up to kMaxPause:
// a loop that retried at once would spin a core at 100% for as long as the process is out
// of file descriptors, and starve the connections it still serves.
class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirstPause{5};
  static constexpr std::chrono::milliseconds kMaxPause{1000};

  // Records a failure; returns the pause before the next accept.
  std::chrono::milliseconds failed();
  // True right after the first failure of a burst (the one to report).
  [[nodiscard]] bool burst_started() const { return failures_ == 1; }
  // Records a success; returns the number of failures of the burst it ends, if one.
  std::optional<unsigned> succeeded();

 private:
  unsigned failures_ = 0;
  std::chrono::milliseconds pause_{0};
};

// The request-rate check, after the client's signature verified: a Failure (503 SlowDown)
// when the key is over its max_requests_per_second, counted in the metrics; nullopt to go on.
std::optional<Failure> over_request_rate(const ProxyServices& services, const Config& config, const ClientKey& client);

// Answers a refused connection (over TLS after a handshake), audits and counts it, and
// closes it after reading at most kRefusalDrainBytes of what the client sent.
template <class Stream>
asio::awaitable<void> refuse_connection(Stream& stream, ConnectionGuard& guard) {
  guard.report_refused();
  lowest(stream).expires_after(kRefusalTimeout);
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
    if (hec) co_return;
  }
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> request;
  request.header_limit(kRefusalHeaderLimit);
  auto [rec, rn] = co_await http::async_read_header(stream, buffer, request, use_nothrow);
  // Whatever the header read gave (a silent or garbled client too), the answer goes out.
  const std::string answer = slow_down_response(!rec && request.get().method() == http::verb::head);
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(answer), use_nothrow);
  if (wec) co_return;
  if constexpr (std::is_same_v<Stream, tls_stream>) {
    co_await stream.async_shutdown(use_nothrow);
  } else {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::array<char, 4096> sink{};
    for (std::size_t drained = 0; drained < kRefusalDrainBytes;) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_nothrow);
      if (rec) break;
      drained += n;
    }
  }
}

}  // namespace s3proxy
