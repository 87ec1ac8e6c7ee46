#pragma once
// One proxy worker as run_server sets it up -- serve_connection behind an acceptor on a free
// loopback port, with its audit log, metrics, connection registry and upstream pool -- run
// on the test's thread. The fixture of the tests that drive whole client connections.
#include "s3proxy/audit.hpp"
#include "s3proxy/buffer_pool.hpp"
#include "s3proxy/config_store.hpp"
#include "s3proxy/lifecycle.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/relay.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace s3proxy::test {

// A worker listening on loopback in front of the upstream at 127.0.0.1:`upstream_port`, with
// one client key.
inline Config worker_config(std::uint16_t upstream_port, std::string_view client_key, std::string_view client_secret) {
  Config c;
  c.server.listen = {"127.0.0.1", 0};
  c.upstream.host = "127.0.0.1";
  c.upstream.port = upstream_port;
  c.upstream.host_header = "127.0.0.1:" + std::to_string(upstream_port);
  c.upstream.region = "us-east-1";
  c.upstream.access_key_id = "AKIAUPSTREAMTEST0001";
  c.upstream.secret_access_key = Secret("upstream-test-secret");
  c.clients.push_back(ClientKey{std::string(client_key), Secret(std::string(client_secret)), "", Secret(), {}});
  return c;
}

// One blocking client connection on its own thread: sends `request`, waits `hold` (then,
// when it sent nothing, ends its side as an idle client leaving would), reads until the
// server closes or nothing comes for `patience`, and returns what it got.
inline std::future<std::string> talk(std::uint16_t port, std::string request,
                                     std::chrono::milliseconds hold = std::chrono::milliseconds(0),
                                     std::chrono::milliseconds patience = std::chrono::seconds(10)) {
  return std::async(std::launch::async, [port, request = std::move(request), hold, patience] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const auto ms = patience.count();
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      if (!request.empty()) (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(hold);
      if (request.empty()) ::shutdown(fd, SHUT_WR);
      char buf[4096];
      for (;;) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return got;
  });
}

// The head of a request for media/`key` signed with `key_id` and `secret` as an SDK signs it
// (the payload hash of `body` in a header), as raw bytes ending in the blank line; `extra` is
// more header lines, each ending in CRLF, sent unsigned.
inline std::string signed_head(std::string_view host_header, std::string_view key_id, std::string_view secret,
                               http::verb method, const std::string& key, const std::string& body,
                               std::string_view extra = {}) {
  UpstreamConfig signer;
  signer.host = "127.0.0.1";
  signer.host_header = std::string(host_header);
  signer.region = "us-east-1";
  signer.access_key_id = std::string(key_id);
  signer.secret_access_key = Secret(std::string(secret));
  S3ClientRequest req;
  req.method = method;
  req.bucket = "media";
  req.key = key;
  req.body = body;
  const auto prepared = prepare_request(req, signer, std::chrono::system_clock::now());
  std::string out = std::string(http::to_string(method)) + " " + prepared.target + " HTTP/1.1\r\n";
  for (const auto& [name, value] : prepared.headers) out += name + ": " + value + "\r\n";
  out += extra;
  out += "\r\n";
  return out;
}

struct ProxyWorker {
  // Declared first so that it is destroyed last: the coroutine frames the io_context destroys
  // hold its buffers.
  BufferPool buffers;
  asio::io_context ioc{1};
  Config cfg;
  std::optional<ConfigStore> store;
  std::filesystem::path audit_path;
  std::optional<AuditLog> audit;
  Metrics metrics;
  Activity activity;
  std::optional<ConnectionRegistry> registry;
  std::optional<UpstreamPool> pool;
  std::optional<S3Client> client;
  std::optional<ProxyServices> services;
  std::atomic<bool> stopping{false};
  std::optional<WorkerState> state;
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), 0}};

  ProxyWorker() = default;
  ProxyWorker(const ProxyWorker&) = delete;
  ProxyWorker& operator=(const ProxyWorker&) = delete;
  ~ProxyWorker() {
    ioc.stop();
    if (!audit_path.empty()) std::filesystem::remove(audit_path);
  }

  // Sets the worker up for `config`, its audit log written to `audit_file` (removed first),
  // and starts accepting.
  void start(Config config, std::filesystem::path audit_file) {
    cfg = std::move(config);
    store.emplace(cfg);
    audit_path = std::move(audit_file);
    std::filesystem::remove(audit_path);
    audit.emplace(audit_path.string());
    registry.emplace(activity, *store, *audit, metrics);
    pool.emplace(ioc.get_executor(), cfg.upstream, nullptr, metrics);
    client.emplace(*pool, store->upstream_source());
    services.emplace(ProxyServices{*store, *audit, metrics});
    state.emplace(WorkerState{*services, *pool, *client, stopping, *registry, buffers});
    accept_next();
  }

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  // Serves every connection the way accept_loop does: co_spawn with detached, so an
  // exception leaving serve_connection would come out of ioc.run().
  void accept_next() {
    acceptor.async_accept([this](error_code ec, tcp::socket s) {
      if (ec) return;
      asio::co_spawn(ioc, serve_connection(std::move(s), *state), asio::detached);
      accept_next();
    });
  }
};

}  // namespace s3proxy::test
