#pragma once
// Zero-copy relay of a body that needs no inspection (a plain-HTTP download): bytes move
// from one TCP socket to another through a kernel pipe with splice(2) and never enter user
// space. Linux only; callers use it for plain TCP on both sides.
#include "s3proxy/net.hpp"

#include <chrono>
#include <cstdint>

namespace s3proxy {

struct SpliceResult {
  std::uint64_t moved = 0;  // bytes written to `to`
  error_code read_ec;       // reading `from` failed: beast::error::timeout, asio::error::eof...
  error_code write_ec;      // writing `to` failed (the client went away or stalled)
  [[nodiscard]] bool complete(std::uint64_t length) const { return moved == length && !read_ec && !write_ec; }
};

struct SpliceTimeouts {
  std::chrono::steady_clock::duration read;   // waiting for `from` to have bytes
  std::chrono::steady_clock::duration write;  // waiting for `to` to take bytes
};

// Moves exactly `length` bytes from `from` to `to`, never one more (bytes the sender puts
// beyond them stay in `from`'s receive queue). Both sockets are switched to non-blocking
// mode. A socket closed meanwhile (shutdown) ends the move with operation_aborted.
// splice(2) has no MSG_NOSIGNAL: the first call sets SIGPIPE to be ignored process-wide, so
// that a client that goes away is a write error (EPIPE), never the end of the process.
asio::awaitable<SpliceResult> splice_bytes(tcp::socket& from, tcp::socket& to, std::uint64_t length,
                                           SpliceTimeouts timeouts);

}  // namespace s3proxy
