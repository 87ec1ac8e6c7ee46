#pragma once
// Writing a whole buffer sequence to a client or upstream stream.
#include "s3proxy/net.hpp"

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace s3proxy {

// Writes all of `buffers`. On a plain connection what the socket takes at once leaves
// without waiting: no timer armed and cancelled, no trip through the event loop (a small
// answer or request nearly always fits the socket's send buffer). The rest, if any, goes
// through the stream's async_write, under the timeout the caller set on the stream. Through
// TLS it is the stream's async_write. Returns the error, if any, and the bytes written.
template <class Stream, class Buffers>
asio::awaitable<std::tuple<error_code, std::size_t>> write_all(Stream& stream, const Buffers& buffers) {
  if constexpr (std::is_same_v<Stream, plain_stream>) {
    auto& socket = stream.socket();
    error_code ec;
    if (!socket.non_blocking()) socket.non_blocking(true, ec);  // once per socket: a write never blocks
    const std::size_t total = asio::buffer_size(buffers);
    const std::size_t sent = ec ? 0 : socket.write_some(buffers, ec);
    if (!ec && sent == total) co_return std::tuple{ec, sent};
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return std::tuple{ec, sent};
    beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(sent);
    auto [wec, wn] = co_await asio::async_write(stream, rest, use_nothrow);
    co_return std::tuple{wec, sent + wn};
  } else {
    co_return co_await asio::async_write(stream, buffers, use_nothrow);
  }
}

}  // namespace s3proxy
