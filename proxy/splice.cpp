#include "s3proxy/splice.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <mutex>

namespace s3proxy {
namespace {

// The pipe between the sockets holds up to this much: large enough that one system call
// moves a good part of a socket buffer, small enough that 32 downloads at once cost 32 MiB
// of kernel memory at most. (The kernel may refuse the size: then the default, 64 KiB.)
constexpr int kPipeBytes = 1024 * 1024;

class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_ = fds[0];
      write_ = fds[1];
      const int size = ::fcntl(write_, F_SETPIPE_SZ, kPipeBytes);
      capacity_ = size > 0 ? static_cast<std::size_t>(size) : static_cast<std::size_t>(::fcntl(write_, F_GETPIPE_SZ));
    } else {
      error_ = error_code(errno, boost::system::system_category());
    }
  }
  ~Pipe() {
    if (read_ >= 0) ::close(read_);
    if (write_ >= 0) ::close(write_);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  [[nodiscard]] int read_end() const { return read_; }
  [[nodiscard]] int write_end() const { return write_; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] const error_code& error() const { return error_; }

 private:
  int read_ = -1, write_ = -1;
  std::size_t capacity_ = 0;
  error_code error_;
};

error_code last_error() { return {errno, boost::system::system_category()}; }

// Waits until the socket is ready for `what`, at most `timeout` (beast::error::timeout then).
asio::awaitable<error_code> wait_ready(tcp::socket& s, tcp::socket::wait_type what,
                                       std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(s.get_executor(), timeout);
  auto first = co_await (s.async_wait(what, use_nothrow) || timer.async_wait(use_nothrow));
  if (first.index() == 1) co_return beast::error::timeout;
  const auto [ec] = std::get<0>(first);
  if (!ec && !s.is_open()) co_return asio::error::operation_aborted;
  co_return ec;
}

}  // namespace

asio::awaitable<SpliceResult> splice_bytes(tcp::socket& from, tcp::socket& to, std::uint64_t length,
                                           SpliceTimeouts timeouts) {
  static std::once_flag sigpipe_ignored;
  std::call_once(sigpipe_ignored, [] { std::signal(SIGPIPE, SIG_IGN); });
  SpliceResult result;
  Pipe pipe;
  if (pipe.error()) {
    result.read_ec = pipe.error();
    co_return result;
  }
  error_code ec;
  from.native_non_blocking(true, ec);
  if (!ec) to.native_non_blocking(true, ec);
  if (ec) {
    result.read_ec = ec;
    co_return result;
  }

  std::uint64_t left = length;  // still to be taken from `from`
  std::size_t in_pipe = 0;      // taken, not yet given to `to`
  // After a read failure what is already in the pipe still goes out, then the move ends.
  while ((left > 0 && !result.read_ec) || in_pipe > 0) {
    bool from_dry = result.read_ec.failed();
    if (!from_dry && left > 0 && in_pipe < pipe.capacity()) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, pipe.capacity() - in_pipe));
      const ssize_t n = ::splice(from.native_handle(), nullptr, pipe.write_end(), nullptr, want,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        in_pipe += static_cast<std::size_t>(n);
        left -= static_cast<std::uint64_t>(n);
      } else if (n == 0) {
        result.read_ec = asio::error::eof;  // the sender closed before `length` bytes
        from_dry = true;
      } else if (errno == EAGAIN) {
        from_dry = true;
      } else if (errno != EINTR) {
        result.read_ec = last_error();
        from_dry = true;
      }
    }
    if (in_pipe == 0) {
      if (from_dry && !result.read_ec) {
        if (auto wec = co_await wait_ready(from, tcp::socket::wait_read, timeouts.read)) result.read_ec = wec;
      }
      continue;
    }
    // Drain when the pipe is full or the sender has nothing more right now.
    if (!from_dry && left > 0 && in_pipe < pipe.capacity()) continue;
    const unsigned more = left > 0 && !result.read_ec ? SPLICE_F_MORE : 0U;
    const ssize_t m = ::splice(pipe.read_end(), nullptr, to.native_handle(), nullptr, in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK | more);
    if (m > 0) {
      in_pipe -= static_cast<std::size_t>(m);
      result.moved += static_cast<std::uint64_t>(m);
    } else if (m < 0 && errno == EAGAIN) {
      if (auto wec = co_await wait_ready(to, tcp::socket::wait_write, timeouts.write)) {
        result.write_ec = wec;
        break;
      }
    } else if (m == 0 || errno != EINTR) {
      result.write_ec = m == 0 ? error_code(asio::error::broken_pipe) : last_error();
      break;
    }
  }
  co_return result;
}

}  // namespace s3proxy
