// What a client receives when the upstream's answer is unusual but legal HTTP (interim 1xx
// answers, a bodiless answer announcing chunked framing, a body delimited by the close of
// the connection): over real loopback sockets against serve_connection, with an upstream
// that plays a script. Every byte the client gets must parse as exactly the responses it
// asked for, and no answer may be left behind on a pooled connection for another request.
#include "s3proxy/text.hpp"

#include "proxy_worker.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kClientKey = "AKIARELAYRESPONSE001";
constexpr std::string_view kClientSecret = "relay-response-test-client-secret";

// One piece of an upstream answer, sent after a pause.
struct Piece {
  std::chrono::milliseconds pause;
  std::string bytes;
};
using Answer = std::vector<Piece>;
// As the bytes of a piece: the upstream closes the connection there.
const std::string kClose("\0close", 6);
// As the bytes of a piece: the upstream reads the request body there (after an Expect step).
const std::string kReadBody("\0body", 5);

// An upstream on its own thread: reads each request (head, and a Content-Length body) on
// any connection and answers it with the next answer of the script, piece by piece.
class ScriptedUpstream {
 public:
  explicit ScriptedUpstream(std::vector<Answer> script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptedUpstream() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : connections_) t.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  std::size_t requests() {
    const std::lock_guard lock(mutex_);
    return next_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd >= 0) connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads more bytes into `in`; false on close, error or stop.
  bool fill(int fd, std::string& in) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }

  void serve(int fd) {
    answer_requests(fd);
    ::close(fd);
  }

  void answer_requests(int fd) {
    std::string in;
    for (;;) {
      std::size_t end = 0;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(fd, in)) return;
      }
      std::size_t length = 0;
      const auto cl = in.find("content-length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(in.substr(cl + 16));
      const bool expects = in.substr(0, end).find("expect: 100-continue") != std::string::npos;
      in.erase(0, end + 4);
      Answer answer;
      {
        const std::lock_guard lock(mutex_);
        if (next_ < script_.size()) answer = script_[next_];
        ++next_;
      }
      // Without an Expect step the whole request is read first; with one, the pieces before
      // kReadBody are the answers to the head alone.
      bool body_read = false;
      const auto read_body = [&] {
        body_read = true;
        while (in.size() < length) {
          if (!fill(fd, in)) return false;
        }
        in.erase(0, length);
        return true;
      };
      if (!expects && !read_body()) return;
      for (const auto& piece : answer) {
        if (piece.bytes == kReadBody) {
          if (!body_read && !read_body()) return;
          continue;
        }
        std::this_thread::sleep_for(piece.pause);
        if (piece.bytes == kClose) return;
        (void)::send(fd, piece.bytes.data(), piece.bytes.size(), MSG_NOSIGNAL);
      }
      if (answer.empty() || (!body_read && !read_body())) return;
    }
  }

  std::vector<Answer> script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // joined once stop_ is set
  std::mutex mutex_;
  std::size_t next_ = 0;
};

Config test_config(std::uint16_t upstream_port) {
  Config c = test::worker_config(upstream_port, kClientKey, kClientSecret);
  c.server.idle_timeout = 3s;
  c.upstream.read_timeout = 3s;
  return c;
}

// One proxy worker in front of a scripted upstream, run on the test's thread.
struct Worker : test::ProxyWorker {
  explicit Worker(ScriptedUpstream& upstream) {
    start(test_config(upstream.port()), std::filesystem::temp_directory_path() /
                                            ("s3proxy-relay-response-" + std::to_string(::getpid()) + ".jsonl"));
  }

  // Sends `request` on a new connection and returns every byte the proxy sent back until it
  // closed the connection (or `wait` passed), the event loop running meanwhile.
  std::string exchange(const std::string& request, std::chrono::milliseconds wait = 5s) {
    auto got = test::talk(port(), request, 0ms, wait);
    const auto until = std::chrono::steady_clock::now() + wait + 5s;
    while (got.wait_for(0ms) != std::future_status::ready && std::chrono::steady_clock::now() < until) {
      ioc.run_for(5ms);
    }
    return got.get();
  }
};

// A request signed with the test client's key, as an SDK sends it, asking the proxy to
// close the connection after its answer.
std::string signed_request(http::verb method, const std::string& key, const std::string& body = {}) {
  return test::signed_head("proxy.test", kClientKey, kClientSecret, method, key, body, "Connection: close\r\n") + body;
}

struct Reply {
  unsigned status = 0;
  std::string body;
};

// The responses in `bytes`, in order, as an HTTP client reads them (HEAD answers bodiless);
// whatever does not parse as a complete response is left in `rest`.
std::vector<Reply> replies(std::string_view bytes, bool head_request, std::string& rest) {
  std::vector<Reply> out;
  while (!bytes.empty()) {
    http::response_parser<http::string_body> p;
    p.eager(true);
    if (head_request) p.skip(true);
    error_code ec;
    while (!p.is_done() && !ec) {
      const auto n = p.put(asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(n);
      if (ec == http::error::need_more) ec = {};
      if (!ec && n == 0) {
        p.put_eof(ec);  // all of it was offered and nothing more will come
        break;
      }
    }
    if (!p.is_done()) break;
    out.push_back(Reply{p.get().result_int(), p.get().body()});
  }
  rest = std::string(bytes);
  return out;
}

const std::string kHello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const std::string kWorld = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld";

TEST(RelayResponse, SkipsInterimAnswersOtherThan100) {
  ScriptedUpstream up({{{0ms, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"}, {200ms, kHello}},
                       {{0ms, kWorld}}});
  Worker w(up);
  // Two requests on one connection: the second goes upstream on the pooled connection the
  // first used, and must get its own answer, not the one left over from the first.
  std::string first = signed_request(http::verb::get, "a.txt");
  first.replace(first.find("Connection: close\r\n"), 19, "");
  std::string rest;
  const auto got = replies(w.exchange(first + signed_request(http::verb::get, "b.txt")), false, rest);
  ASSERT_EQ(got.size(), 2u) << rest;
  EXPECT_EQ(got[0].status, 200u);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_EQ(got[1].status, 200u);
  EXPECT_EQ(got[1].body, "world");
  EXPECT_EQ(rest, "");
}

TEST(RelayResponse, WaitsForTheContinueBehindA102) {
  ScriptedUpstream up({{{0ms, "HTTP/1.1 102 Processing\r\n\r\n"},
                        {0ms, "HTTP/1.1 100 Continue\r\n\r\n"},
                        {0ms, kReadBody},
                        {0ms, "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n"}}});
  Worker w(up);
  std::string request = signed_request(http::verb::put, "a.txt", "hello");
  request.insert(request.find("\r\n\r\n") + 2, "Expect: 100-continue\r\n");
  std::string rest;
  const auto got = replies(w.exchange(request), false, rest);
  ASSERT_FALSE(got.empty()) << rest;
  EXPECT_EQ(got.back().status, 200u) << "the body was never asked for";
  EXPECT_EQ(rest, "");
}

TEST(RelayResponse, RefusesASwitchToAnotherProtocolNobodyAskedFor) {
  ScriptedUpstream up({{{0ms, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"}}});
  Worker w(up);
  std::string rest;
  const auto got = replies(w.exchange(signed_request(http::verb::get, "a.txt")), false, rest);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 502u);
  EXPECT_EQ(rest, "");
}

TEST(RelayResponse, HeadAnsweredWithChunkedFramingGetsNoBodyBytes) {
  ScriptedUpstream up({{{0ms, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"e\"\r\n\r\n"}}});
  Worker w(up);
  std::string rest;
  const auto got = replies(w.exchange(signed_request(http::verb::head, "a.txt")), true, rest);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 200u);
  EXPECT_EQ(rest, "") << "bytes after a HEAD answer would be read as the next response";
}

TEST(RelayResponse, NotModifiedWithChunkedFramingGetsNoBodyBytes) {
  ScriptedUpstream up({{{0ms, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nETag: \"e\"\r\n\r\n"}}});
  Worker w(up);
  std::string rest;
  const auto got = replies(w.exchange(signed_request(http::verb::get, "a.txt")), false, rest);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 304u);
  EXPECT_EQ(rest, "") << "bytes after a 304 would be read as the next response";
}

TEST(RelayResponse, BodyEndedByTheUpstreamsCloseReachesTheClientFramed) {
  // HTTP/1.0 style: no Content-Length, no chunked; the body ends where the connection does.
  ScriptedUpstream up({{{0ms, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"}, {0ms, kClose}}});
  Worker w(up);
  // The client keeps its connection open: the end of the body must be in the framing.
  std::string request = signed_request(http::verb::get, "a.txt");
  request.replace(request.find("Connection: close\r\n"), 19, "");
  const auto start = std::chrono::steady_clock::now();
  const std::string bytes = w.exchange(request, 2s);
  std::string rest;
  const auto got = replies(bytes, false, rest);
  ASSERT_EQ(got.size(), 1u) << "[" << bytes << "] rest [" << rest << "]";
  EXPECT_EQ(got[0].body, "hello");
  const auto head_end = bytes.find("\r\n\r\n");
  const std::string head = text::lower(bytes.substr(0, head_end));
  const bool framed = head.find("transfer-encoding: chunked") != std::string::npos ||
                      head.find("content-length:") != std::string::npos;
  const bool closes = head.find("connection: close") != std::string::npos &&
                      std::chrono::steady_clock::now() - start < 1500ms;
  EXPECT_TRUE(framed || closes) << bytes;
}

TEST(RelayResponse, ChunkedAnswerReachesAnHttp10ClientDelimitedByTheClose) {
  // An HTTP/1.0 client cannot read chunks (RFC 9112 §7.1: they must not be sent to it).
  ScriptedUpstream up({{{0ms, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}}});
  Worker w(up);
  std::string request = signed_request(http::verb::get, "a.txt");
  request.replace(request.find(" HTTP/1.1\r\n"), 11, " HTTP/1.0\r\n");
  const std::string bytes = w.exchange(request);
  const auto head_end = bytes.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << bytes;
  EXPECT_EQ(text::lower(bytes.substr(0, head_end)).find("transfer-encoding"), std::string::npos) << bytes;
  EXPECT_EQ(bytes.substr(head_end + 4), "hello");
}

}  // namespace
}  // namespace s3proxy
