#include "s3proxy/write_all.hpp"

#include "loopback.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

// A plain stream connected on loopback to a socket the test reads from.
struct Pair {
  asio::io_context ioc{1};
  plain_stream stream{ioc};
  tcp::socket peer{ioc};

  Pair() { loopback::connect(stream.socket(), peer); }

  template <class Buffers>
  std::tuple<error_code, std::size_t> write(const Buffers& buffers) {
    return loopback::run_to_result(ioc, write_all(stream, buffers));
  }
  std::string receive(std::size_t n) { return loopback::receive(peer, n); }
};

using loopback::pattern;

TEST(WriteAll, SendsAGatherOfSmallPiecesWhole) {
  Pair p;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n";
  const std::string body = pattern(1024);
  const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body)};
  const auto [ec, n] = p.write(out);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, head.size() + body.size());
  EXPECT_EQ(p.receive(n), head + body);
}

TEST(WriteAll, WaitsForThePeerToTakeWhatItsBuffersCannotHold) {
  Pair p;
  const std::string body = pattern(16 * 1024 * 1024 + 5);  // far beyond both sockets' buffers
  std::string got;
  std::thread reader([&] {
    std::this_thread::sleep_for(100ms);
    got = p.receive(body.size());
  });
  p.stream.expires_after(10s);
  const asio::const_buffer out = asio::buffer(body);
  const auto [ec, n] = p.write(out);
  reader.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, body.size());
  EXPECT_TRUE(got == body) << "the bytes arrived changed or out of order";
}

TEST(WriteAll, GivesUpAfterTheStreamsTimeoutWhenThePeerNeverReads) {
  Pair p;
  const std::string body = pattern(32 * 1024 * 1024);
  p.stream.expires_after(300ms);
  const auto started = std::chrono::steady_clock::now();
  const asio::const_buffer out = asio::buffer(body);
  const auto [ec, n] = p.write(out);
  EXPECT_EQ(ec, beast::error::timeout) << ec.message();
  EXPECT_LT(n, body.size());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(WriteAll, ReportsAPeerThatResetTheConnection) {
  Pair p;
  p.peer.set_option(asio::socket_base::linger(true, 0));
  p.peer.close();  // RST
  std::this_thread::sleep_for(50ms);
  const std::string body = pattern(4096);
  const asio::const_buffer out = asio::buffer(body);
  auto [ec, n] = p.write(out);
  if (!ec) std::tie(ec, n) = p.write(out);  // the first write may still be taken before the reset is seen
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe) << ec.message();
}

}  // namespace
}  // namespace s3proxy
