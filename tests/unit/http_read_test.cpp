#include "s3proxy/http_read.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace s3proxy {
namespace {

using local_socket = asio::local::stream_protocol::socket;
using ResponseParser = http::response_parser<http::buffer_body>;

// What one read returned, and the parser's state after it.
struct Outcome {
  error_code ec;
  bool header_done = false;
  bool done = false;
  std::string body;  // the bytes the buffer_body piece received
  std::size_t left_in_buffer = 0;

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{" << o.ec.message() << ", header_done=" << o.header_done << ", done=" << o.done << ", body=\""
            << o.body << "\", left=" << o.left_in_buffer << "}";
}

// Sends `pieces` (each after the reader has had a chance to run), then closes when `close`;
// reads once with read_http, or with Beast's own composed read when `beast_read`. A read
// still waiting for bytes at the end gives in_progress.
Outcome read_once(const std::vector<std::string>& pieces, bool close, ReadUntil until, bool beast_read,
                  std::size_t piece_size = 4096) {
  asio::io_context ioc;
  local_socket reader(ioc), writer(ioc);
  asio::local::connect_pair(reader, writer);
  std::array<char, 4096> storage{};
  beast::flat_static_buffer<8192> buffer;
  ResponseParser parser;
  parser.body_limit(boost::none);
  parser.get().body().data = storage.data();
  parser.get().body().size = piece_size;
  std::optional<Outcome> result;

  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        error_code ec;
        if (beast_read) {
          std::size_t n = 0;
          if (until == ReadUntil::header) std::tie(ec, n) = co_await http::async_read_header(reader, buffer, parser, use_nothrow);
          else std::tie(ec, n) = co_await http::async_read(reader, buffer, parser, use_nothrow);
        } else {
          ec = co_await read_http(reader, buffer, parser, until);
        }
        Outcome o;
        o.ec = ec;
        o.header_done = parser.is_header_done();
        o.done = parser.is_done();
        o.body.assign(storage.data(), piece_size - parser.get().body().size);
        o.left_in_buffer = buffer.size();
        result = o;
      },
      asio::detached);
  // Local sockets deliver at once: running what is ready until nothing is lets the reader
  // take each piece before the next, with no waiting.
  const auto settle = [&] {
    for (int i = 0; i < 1000 && ioc.poll() > 0; ++i) {
    }
  };
  settle();
  for (const auto& p : pieces) {
    asio::write(writer, asio::buffer(p));
    settle();
  }
  if (close) writer.close();
  settle();
  if (!result) return Outcome{asio::error::in_progress};  // still waiting for bytes
  return *result;
}

const std::string kHead = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";

TEST(ReadHttp, ParsesAHeadArrivingInPiecesAndLeavesTheBodyBuffered) {
  const auto o = read_once({"HTTP/1.1 200 OK\r\nConte", "nt-Length: 5\r\n", "\r\nhello"}, false, ReadUntil::header, false);
  EXPECT_FALSE(o.ec) << o;
  EXPECT_TRUE(o.header_done);
  EXPECT_FALSE(o.done);
  EXPECT_EQ(o.left_in_buffer, 5U);
}

TEST(ReadHttp, ReadsAWholeMessageIntoTheBodyPiece) {
  const auto o = read_once({kHead + "hel", "lo"}, false, ReadUntil::message, false);
  EXPECT_FALSE(o.ec) << o;
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "hello");
}

TEST(ReadHttp, StopsWithNeedBufferWhenThePieceIsFull) {
  const auto o = read_once({kHead + "hello"}, false, ReadUntil::message, false, 3);
  EXPECT_EQ(o.ec, http::error::need_buffer) << o;
  EXPECT_EQ(o.body, "hel");
  EXPECT_FALSE(o.done);
}

TEST(ReadHttp, EndOfStreamBeforeAnyByteIsEndOfStream) {
  const auto o = read_once({}, true, ReadUntil::header, false);
  EXPECT_EQ(o.ec, http::error::end_of_stream) << o;
}

TEST(ReadHttp, EndOfStreamInsideTheHeadIsAPartialMessage) {
  const auto o = read_once({"HTTP/1.1 200 OK\r\nContent-"}, true, ReadUntil::header, false);
  EXPECT_EQ(o.ec, http::error::partial_message) << o;
}

TEST(ReadHttp, EndOfStreamInsideALengthDelimitedBodyIsAPartialMessage) {
  const auto o = read_once({kHead + "he"}, true, ReadUntil::message, false);
  EXPECT_EQ(o.ec, http::error::partial_message) << o;
  EXPECT_EQ(o.body, "he");
}

TEST(ReadHttp, EndOfStreamCompletesACloseDelimitedBody) {
  const auto o = read_once({"HTTP/1.1 200 OK\r\n\r\nall of it"}, true, ReadUntil::message, false);
  EXPECT_FALSE(o.ec) << o;
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.body, "all of it");
}

TEST(ReadHttp, ReportsTheParsersOwnErrors) {
  const auto o = read_once({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"}, false,
                           ReadUntil::header, false);
  EXPECT_EQ(o.ec, http::error::multiple_content_length) << o;
}

// Whatever the message and however it is cut into writes, the result is Beast's.
TEST(ReadHttp, GivesWhatBeastsComposedReadsGive) {
  const std::vector<std::string> messages = {
      kHead + "hello",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 200 OK\r\n\r\nuntil the end",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n",
      "garbage\r\n\r\n",
  };
  for (const auto& m : messages) {
    for (std::size_t cut : {std::size_t{1}, m.size() / 3, m.size() / 2, m.size() - 1}) {
      const std::vector<std::string> pieces{m.substr(0, cut), m.substr(cut)};
      for (bool close : {false, true}) {
        for (ReadUntil until : {ReadUntil::header, ReadUntil::message}) {
          for (std::size_t piece_size : {std::size_t{4}, std::size_t{4096}}) {
            const auto ours = read_once(pieces, close, until, false, piece_size);
            const auto beasts = read_once(pieces, close, until, true, piece_size);
            EXPECT_EQ(ours, beasts) << "message " << m << " cut at " << cut << " close " << close << " until "
                                    << static_cast<int>(until) << " piece " << piece_size;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace s3proxy
