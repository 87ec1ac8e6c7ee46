#pragma once
// Reading an HTTP message through Beast's parser, fed here rather than by Beast's composed
// reads. Those post every completion that needs no I/O to the event loop (a small response's
// body arrives with its head, a small upload's with its request), and stack three composed
// operations per read; this parses what is buffered at once and reads the stream only when
// the parser needs more, with the same results: the parser's own errors, `need_buffer` when a
// buffer_body piece is full, `end_of_stream` when the stream ends before a message starts,
// and a close-delimited body completed by the end of the stream.
#include "s3proxy/net.hpp"

#include <boost/beast/core/read_size.hpp>

#include <cstddef>

namespace s3proxy {

// Bytes asked of the stream per read when the buffer has room for them (Beast's own figure).
inline constexpr std::size_t kHttpReadSize = 64 * 1024;

enum class ReadUntil {
  header,   // the head is parsed (http::async_read_header)
  message,  // the message is complete, or a buffer_body piece is full (http::async_read)
};

// Reads from `stream` into `buffer` and parses until `until`, under the timeout the caller set
// on the stream. For `message` the parser is made eager, as http::async_read makes it.
template <class Stream, class DynamicBuffer, bool isRequest>
asio::awaitable<error_code> read_http(Stream& stream, DynamicBuffer& buffer, http::basic_parser<isRequest>& parser,
                                      ReadUntil until) {
  const auto done = [&] { return until == ReadUntil::header ? parser.is_header_done() : parser.is_done(); };
  if (until == ReadUntil::message) parser.eager(true);
  while (!done()) {
    if (buffer.size() > 0) {
      error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;  // need_buffer among them
      if (!ec && used > 0) continue;
    }
    const std::size_t size = beast::read_size(buffer, kHttpReadSize);
    if (size == 0) co_return error_code(http::error::buffer_overflow);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(size), use_nothrow);
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) co_return error_code(http::error::end_of_stream);
      error_code eof;
      parser.put_eof(eof);  // completes a close-delimited body; partial_message otherwise
      co_return eof;
    }
    if (ec) co_return ec;
  }
  co_return error_code{};
}

}  // namespace s3proxy
