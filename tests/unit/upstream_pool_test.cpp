// The keep-alive pool against a small in-process upstream: idle connections the upstream
// closes are dropped at once (no CLOSE_WAIT until the next request), live ones are reused.
#include "s3proxy/upstream.hpp"

#include "s3proxy/metrics.hpp"
#include "s3proxy/s3_client.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

// Answers each request on a connection with 200 and keep-alive, then does `after` to the
// connection: nothing (keeps it open), closes it, sends bytes nobody asked for, or keeps it
// open and resets it when a second request arrives on it (a server restarted while the
// connection sat idle: the write goes out, the answer is a reset).
enum class AfterAnswer { keep_open, close_after_a_moment, send_stray_bytes, reset_the_next_request };

class FakeUpstream {
 public:
  FakeUpstream(asio::io_context& ioc, AfterAnswer after)
      : acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}), after_(after) {
    asio::co_spawn(ioc, accept(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections = 0;

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
      if (ec) co_return;
      ++connections;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (int served = 0;; ++served) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(socket, buffer, req, use_nothrow);
      if (ec) co_return;
      if (after_ == AfterAnswer::reset_the_next_request && served > 0) {
        socket.set_option(asio::socket_base::linger(true, 0));
        co_return;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.keep_alive(true);
      res.prepare_payload();
      co_await http::async_write(socket, res, use_nothrow);
      if (after_ == AfterAnswer::keep_open || after_ == AfterAnswer::reset_the_next_request) continue;
      asio::steady_timer pause(socket.get_executor(), 50ms);
      co_await pause.async_wait(use_nothrow);
      if (after_ == AfterAnswer::send_stray_bytes) {
        const std::string stray = "HTTP/1.1 408 Request Timeout\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(stray), use_nothrow);
        // and keep the connection open: only the bytes give it away
        asio::steady_timer hold(socket.get_executor(), 5s);
        co_await hold.async_wait(use_nothrow);
      }
      co_return;  // closes the connection, as a server's keep-alive timeout does
    }
  }

  tcp::acceptor acceptor_;
  AfterAnswer after_;
};

UpstreamConfig upstream_at(std::uint16_t port) {
  UpstreamConfig u;
  u.host = "127.0.0.1";
  u.port = port;
  u.host_header = "127.0.0.1:" + std::to_string(port);
  u.region = "us-east-1";
  u.access_key_id = "AKIDEXAMPLE";
  u.secret_access_key = Secret("secret");
  u.read_timeout = 5s;
  u.connect_timeout = 5s;
  return u;
}

struct PoolSetup {
  explicit PoolSetup(AfterAnswer after) : fake(ioc, after) {}
  asio::io_context ioc{1};
  FakeUpstream fake;
  UpstreamConfig upstream = upstream_at(fake.port());
  Metrics metrics;
  UpstreamPool pool{ioc.get_executor(), upstream, nullptr, metrics};
  S3Client client{pool, upstream};

  unsigned head() {
    unsigned status = 0;
    bool done = false;
    asio::co_spawn(ioc, client.head_bucket(bucket), [&](std::exception_ptr, S3Response r) {
      status = r.status;
      done = true;
    });
    run_until([&] { return done; });
    return status;
  }
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      ioc.run_for(5ms);
      if (pred()) return true;
    }
    return false;
  }
  std::string metric(std::string_view series) {
    const std::string text = metrics.render();
    const std::string prefix = "\n" + std::string(series) + " ";
    const auto at = text.find(prefix);
    if (at == std::string::npos) return "absent";
    const auto start = at + prefix.size();
    return text.substr(start, text.find('\n', start) - start);
  }
  const std::string bucket = "media";
};

TEST(UpstreamPool, IdleConnectionClosedByTheUpstreamIsDroppedAtOnce) {
  PoolSetup s(AfterAnswer::close_after_a_moment);
  ASSERT_EQ(s.head(), 200u);
  ASSERT_EQ(s.pool.idle_count(), 1u);
  // No request comes: the pool notices the close by itself.
  EXPECT_TRUE(s.run_until([&] { return s.pool.idle_count() == 0; }, 2s));
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_idle_closed_total"), "1");
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_connections"), "0");
}

TEST(UpstreamPool, IdleConnectionThatReceivesStrayBytesIsDropped) {
  PoolSetup s(AfterAnswer::send_stray_bytes);
  ASSERT_EQ(s.head(), 200u);
  EXPECT_TRUE(s.run_until([&] { return s.pool.idle_count() == 0; }, 2s));
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_idle_closed_total"), "1");
  // The next request opens a fresh connection rather than reading the stray answer.
  EXPECT_EQ(s.head(), 200u);
  EXPECT_EQ(s.fake.connections, 2);
}

TEST(UpstreamPool, LiveIdleConnectionIsKeptAndReused) {
  PoolSetup s(AfterAnswer::keep_open);
  ASSERT_EQ(s.head(), 200u);
  s.run_until([] { return false; }, 200ms);
  EXPECT_EQ(s.pool.idle_count(), 1u);
  ASSERT_EQ(s.head(), 200u);  // taken from the pool, still open
  ASSERT_EQ(s.head(), 200u);
  s.run_until([] { return false; }, 200ms);
  EXPECT_EQ(s.pool.idle_count(), 1u);
  EXPECT_EQ(s.fake.connections, 1);
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_connections_reused_total"), "2");
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_idle_closed_total"), "0");
}

TEST(UpstreamPool, AFreshAcquireOpensANewConnectionAndLeavesTheIdleOne) {
  PoolSetup s(AfterAnswer::keep_open);
  ASSERT_EQ(s.head(), 200u);
  ASSERT_EQ(s.pool.idle_count(), 1u);
  UpstreamConnectionPtr conn;
  bool done = false;
  const std::string host = s.upstream.host_header;
  asio::co_spawn(s.ioc, s.pool.acquire(host, true),
                 [&](std::exception_ptr, std::pair<error_code, UpstreamConnectionPtr> r) {
                   EXPECT_FALSE(r.first) << r.first.message();
                   conn = std::move(r.second);
                   done = true;
                 });
  ASSERT_TRUE(s.run_until([&] { return done && s.fake.connections == 2; }));
  ASSERT_TRUE(conn);
  EXPECT_FALSE(conn->reused);
  EXPECT_EQ(s.pool.idle_count(), 1u) << "the idle connection stays for a later request";
  s.pool.discard(std::move(conn));
}

TEST(UpstreamPool, ClientRetriesAStaleConnectionOnAFreshOneNotAnotherPooledOne) {
  PoolSetup s(AfterAnswer::reset_the_next_request);
  // Three requests at once leave three idle connections, each reset on its next request:
  // more dead connections than the client retries.
  int answered = 0;
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(s.ioc, s.client.head_bucket(s.bucket), [&](std::exception_ptr, S3Response r) {
      EXPECT_EQ(r.status, 200u);
      ++answered;
    });
  ASSERT_TRUE(s.run_until([&] { return answered == 3; }));
  ASSERT_EQ(s.pool.idle_count(), 3u);
  ASSERT_EQ(s.fake.connections, 3);
  EXPECT_EQ(s.head(), 200u) << "a retry after a reset must not take another dead pooled connection";
  EXPECT_EQ(s.fake.connections, 4);
}

TEST(UpstreamPool, CancelAllRefusesNewConnections) {
  PoolSetup s(AfterAnswer::keep_open);
  ASSERT_EQ(s.head(), 200u);
  s.pool.cancel_all();
  EXPECT_EQ(s.pool.idle_count(), 0u);
  EXPECT_EQ(s.head(), 0u);  // no answer: the pool no longer connects
  EXPECT_EQ(s.metric("s3_acl_proxy_upstream_connections"), "0");
}

TEST(UpstreamPool, PoolDestroyedWithAWaitingIdleConnectionIsSafe) {
  asio::io_context ioc{1};
  FakeUpstream fake(ioc, AfterAnswer::close_after_a_moment);
  Metrics metrics;
  const UpstreamConfig upstream = upstream_at(fake.port());
  {
    UpstreamPool pool{ioc.get_executor(), upstream, nullptr, metrics};
    S3Client client{pool, upstream};
    bool done = false;
    const std::string bucket = "media";
    asio::co_spawn(ioc, client.head_bucket(bucket), [&](std::exception_ptr, S3Response) { done = true; });
    while (!done) ioc.run_one_for(1s);
    ASSERT_EQ(pool.idle_count(), 1u);
  }
  ioc.run_for(200ms);  // the cancelled readiness wait completes after the pool is gone
  SUCCEED();
}

}  // namespace
}  // namespace s3proxy
