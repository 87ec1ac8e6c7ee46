// Shared by the socket-level tests: connected TCP pairs on loopback, a coroutine run to its
// result, and a recognisable byte pattern.
#pragma once

#include "s3proxy/net.hpp"

#include <gtest/gtest.h>

#include <string>

namespace s3proxy::loopback {

// Connects `a` to a fresh loopback listener and accepts the other end into `b`.
inline void connect(tcp::socket& a, tcp::socket& b) {
  tcp::acceptor acceptor(a.get_executor(), {asio::ip::make_address("127.0.0.1"), 0});
  a.connect(acceptor.local_endpoint());
  acceptor.accept(b);
}

// Runs `op` on `ioc` until nothing is left to do and returns what it produced.
template <class T>
T run_to_result(asio::io_context& ioc, asio::awaitable<T> op) {
  T result{};
  bool done = false;
  asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T r) {
    if (e) std::rethrow_exception(e);
    result = std::move(r);
    done = true;
  });
  ioc.run();
  ioc.restart();
  EXPECT_TRUE(done) << "the operation never completed";
  return result;
}

// Bytes whose every position is checkable: a reordering or a dropped piece shows.
inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// Reads exactly n bytes from `from`.
inline std::string receive(tcp::socket& from, std::size_t n) {
  std::string out(n, '\0');
  asio::read(from, asio::buffer(out));
  return out;
}

}  // namespace s3proxy::loopback
