#include "s3proxy/config_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;

Config base_config() {
  Config c;
  c.server.listen = {"127.0.0.1", 8080};
  c.server.admin_listen = HostPort{"127.0.0.1", 9090};
  c.upstream.scheme = Scheme::http;
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 7480;
  c.upstream.host_header = "127.0.0.1:7480";
  c.upstream.region = "us-east-1";
  c.upstream.access_key_id = "AKIAUPSTREAMOLD";
  c.upstream.secret_access_key = Secret("upstream-old");
  c.clients.push_back(ClientKey{"AKIACLIENTOLD", Secret("client-old"), "", Secret(), std::nullopt});
  c.canary = CanaryConfig{"media", ".s3-acl-proxy/canary/", 60s};
  c.audit.path = "/var/log/s3-acl-proxy/audit.jsonl";
  return c;
}

// Every setting a reload may change, changed at once.
Config rotated(Config c) {
  c.clients = {ClientKey{"AKIACLIENTNEW", Secret("client-new"), "", Secret(), 5u}};
  c.upstream.access_key_id = "AKIAUPSTREAMNEW";
  c.upstream.secret_access_key = Secret("upstream-new");
  c.upstream.region = "eu-west-2";
  c.upstream.read_timeout = 5s;
  c.upstream.payload = UpstreamPayload::signed_chunks;
  c.upstream.verify_writes = true;
  c.acl = {AclMode::audit, AclRequests::forward};
  c.audit.level = "warn";
  c.server.domains = {"s3.local"};
  c.server.idle_timeout = 5s;
  c.server.max_header_bytes = 8192;
  c.server.max_connections = 10;
  c.server.shutdown_grace = 2s;
  c.server.max_requests_per_second = 100;
  return c;
}

TEST(RestartRequired, NothingForTheSettingsAReloadMayChange) {
  EXPECT_EQ(restart_required(base_config(), rotated(base_config())), std::nullopt);
}

struct RestartCase {
  const char* name;
  void (*change)(Config&);
  const char* key;
};

class RestartRequiredFor : public ::testing::TestWithParam<RestartCase> {};

TEST_P(RestartRequiredFor, NamesTheKey) {
  Config next = rotated(base_config());
  GetParam().change(next);
  const auto e = restart_required(base_config(), next);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->key, GetParam().key);
  EXPECT_NE(e->message.find("restart"), std::string::npos) << e->message;
}

INSTANTIATE_TEST_SUITE_P(
    Settings, RestartRequiredFor,
    ::testing::Values(
        RestartCase{"Listen", [](Config& c) { c.server.listen.port = 8081; }, "server.listen"},
        RestartCase{"ListenHost", [](Config& c) { c.server.listen.host = "0.0.0.0"; }, "server.listen"},
        RestartCase{"AdminListen", [](Config& c) { c.server.admin_listen.reset(); }, "server.admin_listen"},
        RestartCase{"TlsCert", [](Config& c) { c.server.tls_cert_file = "/x.pem"; }, "server.tls_cert_file"},
        RestartCase{"TlsKey", [](Config& c) { c.server.tls_key_file = "/x.key"; }, "server.tls_key_file"},
        RestartCase{"Threads", [](Config& c) { c.server.threads = 3; }, "server.threads"},
        RestartCase{"ReadyWindow", [](Config& c) { c.server.ready_window = 5s; }, "server.ready_window"},
        RestartCase{"EndpointHost", [](Config& c) { c.upstream.host = "10.0.0.1"; }, "upstream.endpoint"},
        RestartCase{"EndpointPort", [](Config& c) { c.upstream.port = 7481; }, "upstream.endpoint"},
        RestartCase{"EndpointScheme", [](Config& c) { c.upstream.scheme = Scheme::https; }, "upstream.endpoint"},
        RestartCase{"Addressing", [](Config& c) { c.upstream.addressing = Addressing::virtual_host; },
                    "upstream.addressing"},
        RestartCase{"VerifyPeer", [](Config& c) { c.upstream.verify_peer = false; }, "upstream.verify_peer"},
        RestartCase{"CaFile", [](Config& c) { c.upstream.ca_file = "/ca.pem"; }, "upstream.ca_file"},
        RestartCase{"ConnectTimeout", [](Config& c) { c.upstream.connect_timeout = 1s; }, "upstream.connect_timeout"},
        RestartCase{"MaxIdle", [](Config& c) { c.upstream.max_idle_connections = 1; },
                    "upstream.max_idle_connections"},
        RestartCase{"CanaryRemoved", [](Config& c) { c.canary.reset(); }, "canary"},
        RestartCase{"CanaryBucket", [](Config& c) { c.canary->bucket = "other"; }, "canary.bucket"},
        RestartCase{"CanaryInterval", [](Config& c) { c.canary->interval = 1s; }, "canary.interval"},
        RestartCase{"AuditPath", [](Config& c) { c.audit.path = "-"; }, "audit.path"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigStore, ReplaceInstallsAReloadableChange) {
  ConfigStore store(base_config());
  EXPECT_EQ(store.replace(rotated(base_config())), std::nullopt);
  EXPECT_EQ(store.current()->clients.at(0).access_key_id, "AKIACLIENTNEW");
  EXPECT_EQ(store.current()->acl.mode, AclMode::audit);
}

TEST(ConfigStore, RefusedReplaceKeepsTheRunningConfig) {
  ConfigStore store(base_config());
  Config next = rotated(base_config());
  next.server.threads = 7;
  const auto e = store.replace(next);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->key, "server.threads");
  EXPECT_EQ(store.current()->clients.at(0).access_key_id, "AKIACLIENTOLD");
}

TEST(ConfigStore, ASnapshotOutlivesTheReloadThatReplacedIt) {
  ConfigStore store(base_config());
  const auto in_flight = store.current();  // what a request took when it started
  ASSERT_EQ(store.replace(rotated(base_config())), std::nullopt);
  EXPECT_EQ(in_flight->clients.at(0).access_key_id, "AKIACLIENTOLD");
  EXPECT_EQ(in_flight->clients.at(0).secret_access_key.reveal(), "client-old");
  EXPECT_EQ(store.current()->clients.at(0).access_key_id, "AKIACLIENTNEW");
}

TEST(ConfigStore, UpstreamSourceFollowsReloadsAndKeepsWhatItGaveOut) {
  ConfigStore store(base_config());
  const UpstreamSource source = store.upstream_source();
  const auto before = source();
  ASSERT_EQ(store.replace(rotated(base_config())), std::nullopt);
  EXPECT_EQ(before->access_key_id, "AKIAUPSTREAMOLD");
  EXPECT_EQ(source()->access_key_id, "AKIAUPSTREAMNEW");
  EXPECT_EQ(source()->secret_access_key.reveal(), "upstream-new");
}

TEST(ConfigStore, ReadersAndAReloaderRaceSafely) {
  ConfigStore store(base_config());
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!done) {
        const auto snapshot = store.current();
        const auto& id = snapshot->clients.at(0).access_key_id;
        if (id != "AKIACLIENTOLD" && id != "AKIACLIENTNEW") ADD_FAILURE() << id;
        ++reads;
      }
    });
  }
  // Reload until the readers have been at it for a while, however the threads are scheduled.
  const auto until = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; reads.load() < 10000 && std::chrono::steady_clock::now() < until; ++i) {
    ASSERT_EQ(store.replace(i % 2 ? base_config() : rotated(base_config())), std::nullopt);
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace s3proxy
