#include "s3proxy/splice.hpp"

#include "loopback.hpp"

#include <gtest/gtest.h>

#include <string>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

// Two connected TCP pairs on loopback: sender -> from ... to -> receiver.
struct Sockets {
  asio::io_context ioc{1};
  tcp::socket sender{ioc}, from{ioc}, to{ioc}, receiver{ioc};

  Sockets() {
    loopback::connect(sender, from);
    loopback::connect(to, receiver);
  }

  SpliceResult run(std::uint64_t length, SpliceTimeouts timeouts = {5s, 5s}) {
    return loopback::run_to_result(ioc, splice_bytes(from, to, length, timeouts));
  }
  std::string receive(std::size_t n) { return loopback::receive(receiver, n); }
};

using loopback::pattern;

TEST(Splice, MovesExactlyTheLengthAndLeavesWhatFollowsUnread) {
  Sockets s;
  const std::string body = pattern(3 * 1024 * 1024 + 17);
  const std::string after = "HTTP/1.1 200 OK\r\n";  // a next response on a keep-alive connection
  std::thread writer([&] { asio::write(s.sender, asio::buffer(body + after)); });
  std::string got;
  std::thread reader([&] { got = s.receive(body.size()); });
  const auto result = s.run(body.size());
  writer.join();
  reader.join();
  EXPECT_TRUE(result.complete(body.size()));
  EXPECT_EQ(result.moved, body.size());
  EXPECT_EQ(got, body);
  std::string rest(after.size(), '\0');
  asio::read(s.from, asio::buffer(rest));
  EXPECT_EQ(rest, after);
}

TEST(Splice, ASenderThatClosesEarlyEndsWithEofAndTheCountOfWhatMoved) {
  Sockets s;
  const std::string body = pattern(200 * 1024);
  std::thread writer([&] {
    asio::write(s.sender, asio::buffer(body));
    s.sender.close();
  });
  std::string got;
  std::thread reader([&] { got = s.receive(body.size()); });
  const auto result = s.run(body.size() + 1000);
  writer.join();
  reader.join();
  EXPECT_EQ(result.read_ec, asio::error::eof);
  EXPECT_EQ(result.moved, body.size());
  EXPECT_FALSE(result.complete(body.size() + 1000));
  EXPECT_EQ(got, body);
}

TEST(Splice, ASilentSenderTimesOut) {
  Sockets s;
  asio::write(s.sender, asio::buffer(std::string(10, 'x')));
  std::string got;
  std::thread reader([&] { got = s.receive(10); });
  const auto started = std::chrono::steady_clock::now();
  const auto result = s.run(100, {200ms, 5s});
  reader.join();
  EXPECT_EQ(result.read_ec, beast::error::timeout);
  EXPECT_EQ(result.moved, 10U);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
}

TEST(Splice, AReceiverThatStopsReadingTimesOutOnTheWriteSide) {
  Sockets s;
  const std::size_t length = 64 * 1024 * 1024;  // far more than the socket buffers hold
  std::thread writer([&] {
    error_code ignored;
    asio::write(s.sender, asio::buffer(pattern(length)), ignored);
  });
  const auto result = s.run(length, {5s, 300ms});
  EXPECT_EQ(result.write_ec, beast::error::timeout);
  EXPECT_LT(result.moved, length);
  s.sender.close();
  s.from.close();
  writer.join();
}

TEST(Splice, AReceiverThatIsGoneEndsWithAWriteError) {
  Sockets s;
  const std::size_t length = 8 * 1024 * 1024;
  s.receiver.close();
  std::thread writer([&] {
    error_code ignored;
    asio::write(s.sender, asio::buffer(pattern(length)), ignored);
  });
  const auto result = s.run(length);
  EXPECT_TRUE(result.write_ec);
  EXPECT_FALSE(result.read_ec);
  s.sender.close();
  s.from.close();
  writer.join();
}

}  // namespace
}  // namespace s3proxy
