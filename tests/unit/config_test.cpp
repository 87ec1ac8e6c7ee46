#include "s3proxy/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

namespace s3proxy {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A TOML document built from sections, so each test states only what it changes.
class Doc {
 public:
  static Doc minimal() {
    Doc d;
    d.section("[server]", {"listen = \"127.0.0.1:8080\""});
    d.section("[upstream]", {"endpoint = \"http://127.0.0.1:7480\"", "access_key_id = \"AKIAUPSTREAM\"",
                             "secret_access_key = \"upstream-secret-value\""});
    d.section("[[clients]]", {"access_key_id = \"AKIACLIENT\"", "secret_access_key = \"client-secret-value\""});
    return d;
  }

  // Adds a section at the end (a second [[clients]] entry, say).
  Doc& section(std::string header, std::vector<std::string> lines) {
    sections_.push_back({std::move(header), std::move(lines)});
    return *this;
  }

  // Sets `line` in the first section with this header: replaces the line with the same
  // key, or adds it; adds the section when missing.
  Doc& set(const std::string& header, const std::string& line) {
    auto* lines = find(header);
    if (lines == nullptr) return section(header, {line});
    erase_key(*lines, key_of(line));
    lines->push_back(line);
    return *this;
  }

  Doc& erase(const std::string& header, const std::string& key) {
    if (auto* lines = find(header)) erase_key(*lines, key);
    return *this;
  }

  Doc& erase_section(const std::string& header) {
    std::erase_if(sections_, [&](const auto& s) { return s.first == header; });
    return *this;
  }

  std::string text() const {
    std::ostringstream out;
    for (const auto& [header, lines] : sections_) {
      out << header << "\n";
      for (const auto& l : lines) out << l << "\n";
    }
    return out.str();
  }

 private:
  static std::string key_of(const std::string& line) { return line.substr(0, line.find(" =")); }
  static void erase_key(std::vector<std::string>& lines, const std::string& key) {
    std::erase_if(lines, [&](const std::string& l) { return key_of(l) == key; });
  }
  std::vector<std::string>* find(const std::string& header) {
    for (auto& s : sections_)
      if (s.first == header) return &s.second;
    return nullptr;
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> sections_;
};

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kNoEnv = env_of({});

Config parse_ok(const std::string& text, const EnvLookup& env = kNoEnv, const fs::path& base = {}) {
  auto result = parse_config(text, env, base);
  if (auto* e = std::get_if<ConfigError>(&result)) {
    ADD_FAILURE() << "unexpected config error: " << e->to_string();
    return {};
  }
  return std::get<Config>(std::move(result));
}

ConfigError parse_error(const std::string& text, const EnvLookup& env = kNoEnv) {
  auto result = parse_config(text, env);
  if (auto* e = std::get_if<ConfigError>(&result)) return *e;
  ADD_FAILURE() << "config was accepted:\n" << text;
  return {};
}

// A file under the test's own temporary directory, removed with it.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("s3p-config-test-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  fs::path write(const std::string& name, const std::string& content) const {
    const fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// ---------------------------------------------------------------------------
// Defaults

class ConfigDefaults : public ::testing::Test {
 protected:
  Config c = parse_ok(Doc::minimal().text());
};

TEST_F(ConfigDefaults, NoAdminListener) { EXPECT_FALSE(c.server.admin_listen.has_value()); }
TEST_F(ConfigDefaults, NoTls) {
  EXPECT_TRUE(c.server.tls_cert_file.empty());
  EXPECT_TRUE(c.server.tls_key_file.empty());
}
TEST_F(ConfigDefaults, NoDomains) { EXPECT_TRUE(c.server.domains.empty()); }
TEST_F(ConfigDefaults, ThreadsZeroMeansHardwareConcurrency) {
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_GE(effective_threads(c.server), 1u);
}
TEST_F(ConfigDefaults, IdleTimeoutSixtySeconds) { EXPECT_EQ(c.server.idle_timeout, 60s); }
TEST_F(ConfigDefaults, ReadyWindowThirtySeconds) { EXPECT_EQ(c.server.ready_window, 30s); }
TEST_F(ConfigDefaults, MaxHeaderBytes16KiB) { EXPECT_EQ(c.server.max_header_bytes, 16384u); }
TEST_F(ConfigDefaults, RegionUsEast1) { EXPECT_EQ(c.upstream.region, "us-east-1"); }
TEST_F(ConfigDefaults, PathAddressing) { EXPECT_EQ(c.upstream.addressing, Addressing::path); }
TEST_F(ConfigDefaults, VerifyPeer) { EXPECT_TRUE(c.upstream.verify_peer); }
TEST_F(ConfigDefaults, NoCaFile) { EXPECT_TRUE(c.upstream.ca_file.empty()); }
TEST_F(ConfigDefaults, ConnectTimeoutFiveSeconds) { EXPECT_EQ(c.upstream.connect_timeout, 5s); }
TEST_F(ConfigDefaults, ReadTimeoutSixtySeconds) { EXPECT_EQ(c.upstream.read_timeout, 60s); }
TEST_F(ConfigDefaults, SixtyFourIdleConnections) { EXPECT_EQ(c.upstream.max_idle_connections, 64u); }
TEST_F(ConfigDefaults, PayloadAuto) { EXPECT_EQ(c.upstream.payload, UpstreamPayload::automatic); }
TEST_F(ConfigDefaults, VerifyWritesOff) { EXPECT_FALSE(c.upstream.verify_writes); }
TEST_F(ConfigDefaults, ChecksumsForwarded) { EXPECT_EQ(c.upstream.checksums, UpstreamChecksums::forward); }
TEST_F(ConfigDefaults, ClientUsesUpstreamIdentity) {
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_TRUE(c.clients[0].upstream_access_key_id.empty());
  EXPECT_TRUE(c.clients[0].upstream_secret_access_key.empty());
}
TEST_F(ConfigDefaults, AclModeStrip) { EXPECT_EQ(c.acl.mode, AclMode::strip); }
TEST_F(ConfigDefaults, AclRequestsRejectInStripMode) { EXPECT_EQ(c.acl.acl_requests, AclRequests::reject); }
TEST_F(ConfigDefaults, NoCanary) { EXPECT_FALSE(c.canary.has_value()); }
TEST_F(ConfigDefaults, AuditToStdout) { EXPECT_EQ(c.audit.path, "-"); }
TEST_F(ConfigDefaults, AuditLevelInfo) { EXPECT_EQ(c.audit.level, "info"); }
TEST_F(ConfigDefaults, FourThousandConnections) { EXPECT_EQ(c.server.max_connections, 4096u); }
TEST_F(ConfigDefaults, ShutdownGraceTwentyFiveSeconds) { EXPECT_EQ(c.server.shutdown_grace, 25s); }
TEST_F(ConfigDefaults, NoRequestRateLimit) {
  EXPECT_EQ(c.server.max_requests_per_second, 0u);
  EXPECT_FALSE(c.clients[0].max_requests_per_second.has_value());
  EXPECT_EQ(request_rate_limit(c, c.clients[0]), 0u);
}

TEST_F(ConfigDefaults, AnonymousRequestsRefused) { EXPECT_EQ(c.server.anonymous, AnonymousRequests::refuse); }

TEST(ConfigServer, AnonymousForwardIsParsed) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "anonymous = \"forward\"").text());
  EXPECT_EQ(c.server.anonymous, AnonymousRequests::forward);
  EXPECT_NE(describe(c).find("anonymous:      forward"), std::string::npos);
}

TEST(ConfigServer, AnonymousRefuseIsParsed) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "anonymous = \"refuse\"").text());
  EXPECT_EQ(c.server.anonymous, AnonymousRequests::refuse);
  EXPECT_NE(describe(c).find("anonymous:      refuse"), std::string::npos);
}

TEST(ConfigDefault, AclRequestsForwardInAuditMode) {
  const Config c = parse_ok(Doc::minimal().set("[acl]", "mode = \"audit\"").text());
  EXPECT_EQ(c.acl.acl_requests, AclRequests::forward);
}

TEST(ConfigAcl, TagModeAndItsDefaultTag) {
  const Config c = parse_ok(Doc::minimal().set("[acl]", "acl_requests = \"tag\"").text());
  EXPECT_EQ(c.acl.acl_requests, AclRequests::tag);
  EXPECT_EQ(c.acl.private_tag.key, "s3-acl-proxy-visibility");
  EXPECT_EQ(c.acl.private_tag.value, "private");
  EXPECT_TRUE(tags_private_uploads(c.acl));
  EXPECT_NE(describe(c).find("private tag:  s3-acl-proxy-visibility=private"), std::string::npos);
}

TEST(ConfigAcl, PrivateTagIsParsed) {
  const Config c = parse_ok(Doc::minimal().set("[acl]", "private_tag = \"hidden=yes\"").text());
  EXPECT_EQ(c.acl.private_tag.key, "hidden");
  EXPECT_EQ(c.acl.private_tag.value, "yes");
}

TEST(ConfigAcl, BadPrivateTagNamesTheKey) {
  const ConfigError e = parse_error(Doc::minimal().set("[acl]", "private_tag = \"novalue\"").text());
  EXPECT_EQ(e.key, "acl.private_tag");
}

TEST(ConfigAcl, UploadsAreNotTaggedInAuditModeOrWhenSwitchedOff) {
  EXPECT_FALSE(tags_private_uploads(parse_ok(Doc::minimal().set("[acl]", "mode = \"audit\"").text()).acl));
  EXPECT_FALSE(tags_private_uploads(parse_ok(Doc::minimal().set("[acl]", "tag_private_uploads = false").text()).acl));
}

TEST(ConfigUpstream, PrincipalArnMustBeAnArn) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "principal_arn = \"arn:aws:iam:::user/tester\"").text());
  EXPECT_EQ(c.upstream.principal_arn, "arn:aws:iam:::user/tester");
  const ConfigError e = parse_error(Doc::minimal().set("[upstream]", "principal_arn = \"tester\"").text());
  EXPECT_EQ(e.key, "upstream.principal_arn");
}

TEST(ConfigDefault, CanaryPrefixAndInterval) {
  const Config c = parse_ok(Doc::minimal().set("[canary]", "bucket = \"media\"").text());
  ASSERT_TRUE(c.canary.has_value());
  EXPECT_EQ(c.canary->bucket, "media");
  EXPECT_EQ(c.canary->prefix, ".s3-acl-proxy/canary/");
  EXPECT_EQ(c.canary->interval, 60s);
}

// ---------------------------------------------------------------------------
// Every error names its key.

struct BadConfig {
  std::string name;
  std::string text;
  std::string key;
  std::string message_part;
  EnvLookup env = kNoEnv;
};

std::ostream& operator<<(std::ostream& os, const BadConfig& b) { return os << b.name; }

Doc second_client(std::vector<std::string> lines) { return Doc::minimal().section("[[clients]]", std::move(lines)); }

const std::vector<BadConfig>& bad_configs() {
  static const std::vector<BadConfig> cases = {
      // [server]
      {"ListenMissing", Doc::minimal().erase("[server]", "listen").text(), "server.listen", "required"},
      {"ServerSectionMissing", Doc::minimal().erase_section("[server]").text(), "server.listen", "required"},
      {"ServerNotATable", "server = 5\n" + Doc::minimal().erase_section("[server]").text(), "server",
       "must be a table"},
      {"ListenWithoutPort", Doc::minimal().set("[server]", "listen = \"127.0.0.1\"").text(), "server.listen",
       "host:port"},
      {"ListenUnbracketedIpv6", Doc::minimal().set("[server]", "listen = \"::1:8080\"").text(), "server.listen",
       "brackets"},
      {"ListenBadIpv6", Doc::minimal().set("[server]", "listen = \"[::g]:8080\"").text(), "server.listen",
       "not an IPv6 address"},
      {"ListenPortTooLarge", Doc::minimal().set("[server]", "listen = \"127.0.0.1:70000\"").text(), "server.listen",
       "port"},
      {"ListenNotAString", Doc::minimal().set("[server]", "listen = 8080").text(), "server.listen",
       "must be a string"},
      {"AdminListenSameAsListen", Doc::minimal().set("[server]", "admin_listen = \"127.0.0.1:8080\"").text(),
       "server.admin_listen", "must differ"},
      {"TlsCertWithoutKey", Doc::minimal().set("[server]", "tls_cert_file = \"/nonexistent/cert.pem\"").text(),
       "server.tls_key_file", "required with server.tls_cert_file"},
      {"TlsKeyWithoutCert", Doc::minimal().set("[server]", "tls_key_file = \"/nonexistent/key.pem\"").text(),
       "server.tls_cert_file", "required with server.tls_key_file"},
      {"TlsCertUnreadable",
       Doc::minimal()
           .set("[server]", "tls_cert_file = \"/nonexistent/cert.pem\"")
           .set("[server]", "tls_key_file = \"/nonexistent/key.pem\"")
           .text(),
       "server.tls_cert_file", "cannot read /nonexistent/cert.pem"},
      {"DomainsNotAList", Doc::minimal().set("[server]", "domains = \"s3.local\"").text(), "server.domains",
       "list of strings"},
      {"DomainNotADnsName", Doc::minimal().set("[server]", "domains = [\"s3!.local\"]").text(), "server.domains",
       "not a DNS name"},
      {"DomainEmptyLabel", Doc::minimal().set("[server]", "domains = [\"s3..local\"]").text(), "server.domains",
       "not a DNS name"},
      {"ThreadsTooMany", Doc::minimal().set("[server]", "threads = 257").text(), "server.threads",
       "from 0 to 256"},
      {"ThreadsNotAnInteger", Doc::minimal().set("[server]", "threads = \"4\"").text(), "server.threads",
       "must be an integer"},
      {"IdleTimeoutWithoutUnit", Doc::minimal().set("[server]", "idle_timeout = \"60\"").text(),
       "server.idle_timeout", "must be a duration"},
      {"ReadyWindowWithoutUnit", Doc::minimal().set("[server]", "ready_window = \"30\"").text(),
       "server.ready_window", "must be a duration"},
      {"IdleTimeoutSpaceBeforeUnit", Doc::minimal().set("[server]", "idle_timeout = \"5 s\"").text(),
       "server.idle_timeout", "must be a duration"},
      {"IdleTimeoutZero", Doc::minimal().set("[server]", "idle_timeout = \"0s\"").text(), "server.idle_timeout",
       "greater than 0"},
      {"IdleTimeoutOverADay", Doc::minimal().set("[server]", "idle_timeout = \"25h\"").text(),
       "server.idle_timeout", "at most 24h"},
      {"IdleTimeoutFloat", Doc::minimal().set("[server]", "idle_timeout = 1.5").text(), "server.idle_timeout",
       "must be a duration"},
      {"MaxHeaderBytesTooSmall", Doc::minimal().set("[server]", "max_header_bytes = 100").text(),
       "server.max_header_bytes", "from 4096 to 1048576"},
      {"ServerUnknownKey", Doc::minimal().set("[server]", "lisen = \"127.0.0.1:8081\"").text(), "server.lisen",
       "unknown key"},
      {"MaxConnectionsZero", Doc::minimal().set("[server]", "max_connections = 0").text(), "server.max_connections",
       "from 1 to 1000000"},
      {"MaxConnectionsNotInteger", Doc::minimal().set("[server]", "max_connections = \"many\"").text(),
       "server.max_connections", "must be an integer"},
      {"ShutdownGraceNegative", Doc::minimal().set("[server]", "shutdown_grace = -5").text(),
       "server.shutdown_grace", "negative"},
      {"ShutdownGraceUnknownUnit", Doc::minimal().set("[server]", "shutdown_grace = \"2 seconds\"").text(),
       "server.shutdown_grace", "must be a duration"},
      {"ServerRateNegative", Doc::minimal().set("[server]", "max_requests_per_second = -1").text(),
       "server.max_requests_per_second", "from 0 to 1000000"},
      {"ServerRateFloat", Doc::minimal().set("[server]", "max_requests_per_second = 2.5").text(),
       "server.max_requests_per_second", "must be an integer"},
      {"AnonymousUnknownValue", Doc::minimal().set("[server]", "anonymous = \"allow\"").text(), "server.anonymous",
       "must be one of \"refuse\", \"forward\""},
      {"AnonymousNotAString", Doc::minimal().set("[server]", "anonymous = true").text(), "server.anonymous",
       "must be a string"},
      // [upstream]
      {"EndpointMissing", Doc::minimal().erase("[upstream]", "endpoint").text(), "upstream.endpoint", "required"},
      {"UpstreamSectionMissing", Doc::minimal().erase_section("[upstream]").text(), "upstream.endpoint",
       "required"},
      {"EndpointWrongScheme", Doc::minimal().set("[upstream]", "endpoint = \"ftp://127.0.0.1\"").text(),
       "upstream.endpoint", "must start with http:// or https://"},
      {"EndpointNoScheme", Doc::minimal().set("[upstream]", "endpoint = \"127.0.0.1:7480\"").text(),
       "upstream.endpoint", "must start with http:// or https://"},
      {"EndpointWithPath", Doc::minimal().set("[upstream]", "endpoint = \"http://127.0.0.1:7480/media\"").text(),
       "upstream.endpoint", "must not have a path"},
      {"EndpointWithQuery", Doc::minimal().set("[upstream]", "endpoint = \"http://127.0.0.1:7480?x=1\"").text(),
       "upstream.endpoint", "query"},
      {"EndpointWithUserInfo", Doc::minimal().set("[upstream]", "endpoint = \"http://user@127.0.0.1\"").text(),
       "upstream.endpoint", "user information"},
      {"EndpointPortZero", Doc::minimal().set("[upstream]", "endpoint = \"http://127.0.0.1:0\"").text(),
       "upstream.endpoint", "port"},
      {"EndpointEmptyHost", Doc::minimal().set("[upstream]", "endpoint = \"http://:7480\"").text(),
       "upstream.endpoint", "host must not be empty"},
      {"RegionEmpty", Doc::minimal().set("[upstream]", "region = \"\"").text(), "upstream.region", "region name"},
      {"UpstreamAccessKeyIdMissing", Doc::minimal().erase("[upstream]", "access_key_id").text(),
       "upstream.access_key_id", "required"},
      {"UpstreamAccessKeyIdWithSlash", Doc::minimal().set("[upstream]", "access_key_id = \"AKIA/X\"").text(),
       "upstream.access_key_id", "'/'"},
      {"UpstreamSecretMissing", Doc::minimal().erase("[upstream]", "secret_access_key").text(),
       "upstream.secret_access_key",
       "give exactly one of secret_access_key, secret_access_key_env, secret_access_key_file"},
      {"UpstreamSecretTwice", Doc::minimal().set("[upstream]", "secret_access_key_env = \"X\"").text(),
       "upstream.secret_access_key",
       "give exactly one of secret_access_key, secret_access_key_env, secret_access_key_file"},
      {"UpstreamSecretEmpty", Doc::minimal().set("[upstream]", "secret_access_key = \"\"").text(),
       "upstream.secret_access_key", "must not be empty"},
      {"UpstreamSecretEnvUnset",
       Doc::minimal()
           .erase("[upstream]", "secret_access_key")
           .set("[upstream]", "secret_access_key_env = \"RGW_SECRET_ACCESS_KEY\"")
           .text(),
       "upstream.secret_access_key_env", "environment variable RGW_SECRET_ACCESS_KEY is not set"},
      {"UpstreamSecretEnvEmpty",
       Doc::minimal()
           .erase("[upstream]", "secret_access_key")
           .set("[upstream]", "secret_access_key_env = \"RGW_SECRET_ACCESS_KEY\"")
           .text(),
       "upstream.secret_access_key_env", "is not set", env_of({{"RGW_SECRET_ACCESS_KEY", ""}})},
      {"UpstreamSecretFileMissing",
       Doc::minimal()
           .erase("[upstream]", "secret_access_key")
           .set("[upstream]", "secret_access_key_file = \"/nonexistent/secret\"")
           .text(),
       "upstream.secret_access_key_file", "cannot read /nonexistent/secret"},
      {"AddressingUnknown", Doc::minimal().set("[upstream]", "addressing = \"vhost\"").text(),
       "upstream.addressing", "must be one of \"path\", \"virtual\""},
      {"VirtualAddressingWithIpEndpoint", Doc::minimal().set("[upstream]", "addressing = \"virtual\"").text(),
       "upstream.addressing", "DNS name"},
      {"VerifyPeerNotBoolean", Doc::minimal().set("[upstream]", "verify_peer = \"yes\"").text(),
       "upstream.verify_peer", "true or false"},
      {"CaFileUnreadable",
       Doc::minimal()
           .set("[upstream]", "endpoint = \"https://s3.example.com\"")
           .set("[upstream]", "ca_file = \"/nonexistent/ca.pem\"")
           .text(),
       "upstream.ca_file", "cannot read"},
      {"ConnectTimeoutNegative", Doc::minimal().set("[upstream]", "connect_timeout = -1").text(),
       "upstream.connect_timeout", "negative"},
      {"ReadTimeoutUnknownUnit", Doc::minimal().set("[upstream]", "read_timeout = \"1d\"").text(),
       "upstream.read_timeout", "must be a duration"},
      {"MaxIdleConnectionsTooMany", Doc::minimal().set("[upstream]", "max_idle_connections = 5000").text(),
       "upstream.max_idle_connections", "from 0 to 4096"},
      {"PayloadUnknown", Doc::minimal().set("[upstream]", "payload = \"chunked\"").text(), "upstream.payload",
       "must be one of \"auto\", \"signed-chunks\", \"unsigned\""},
      {"PayloadUnsignedOverHttp", Doc::minimal().set("[upstream]", "payload = \"unsigned\"").text(),
       "upstream.payload", "only with an https://"},
      {"ChecksumsUnknown", Doc::minimal().set("[upstream]", "checksums = \"remove\"").text(), "upstream.checksums",
       "must be one of \"forward\", \"strip\""},
      {"ChecksumsNotString", Doc::minimal().set("[upstream]", "checksums = true").text(), "upstream.checksums", ""},
      {"VerifyWritesNotBoolean", Doc::minimal().set("[upstream]", "verify_writes = 1").text(),
       "upstream.verify_writes", "true or false"},
      {"UpstreamUnknownKey", Doc::minimal().set("[upstream]", "endpiont = \"http://x\"").text(),
       "upstream.endpiont", "unknown key (did you mean \"endpoint\"?)"},
      // [[clients]]
      {"ClientsMissing", Doc::minimal().erase_section("[[clients]]").text(), "clients",
       "at least one [[clients]] entry"},
      {"ClientsNotTables", "clients = [\"AKIA\"]\n" + Doc::minimal().erase_section("[[clients]]").text(), "clients",
       "array of tables"},
      {"ClientAccessKeyIdMissing", Doc::minimal().erase("[[clients]]", "access_key_id").text(),
       "clients[0].access_key_id", "required"},
      {"ClientSecretMissing", Doc::minimal().erase("[[clients]]", "secret_access_key").text(),
       "clients[0].secret_access_key",
       "give exactly one of secret_access_key, secret_access_key_env, secret_access_key_file"},
      {"SecondClientTwoSecrets",
       second_client({"access_key_id = \"AKIASECOND\"", "secret_access_key = \"s\"",
                      "secret_access_key_file = \"/x\""})
           .text(),
       "clients[1].secret_access_key",
       "give exactly one of secret_access_key, secret_access_key_env, secret_access_key_file"},
      {"ClientRateTooLarge",
       Doc::minimal().set("[[clients]]", "max_requests_per_second = 2000000").text(),
       "clients[0].max_requests_per_second", "from 0 to 1000000"},
      {"DuplicateClientKeyId", second_client({"access_key_id = \"AKIACLIENT\"", "secret_access_key = \"s\""}).text(),
       "clients[1].access_key_id", "duplicate"},
      {"ClientUpstreamIdWithoutSecret",
       Doc::minimal().set("[[clients]]", "upstream_access_key_id = \"AKIAOWN\"").text(),
       "clients[0].upstream_secret_access_key", "required with upstream_access_key_id"},
      {"ClientUpstreamSecretWithoutId",
       Doc::minimal().set("[[clients]]", "upstream_secret_access_key_env = \"OWN\"").text(),
       "clients[0].upstream_access_key_id", "required with upstream_secret_access_key"},
      {"ClientUpstreamSecretEnvUnset",
       Doc::minimal()
           .set("[[clients]]", "upstream_access_key_id = \"AKIAOWN\"")
           .set("[[clients]]", "upstream_secret_access_key_env = \"OWN_SECRET\"")
           .text(),
       "clients[0].upstream_secret_access_key_env", "OWN_SECRET is not set"},
      {"FromEnvWithAccessKeyId", Doc::minimal().set("[[clients]]", "from_env = true").text(),
       "clients[0].access_key_id", "not allowed with from_env = true"},
      {"FromEnvWithoutVariables",
       Doc::minimal().erase_section("[[clients]]").section("[[clients]]", {"from_env = true"}).text(),
       "clients[0].from_env", "AWS_ACCESS_KEY_ID is not set"},
      {"FromEnvWithoutSecretVariable",
       Doc::minimal().erase_section("[[clients]]").section("[[clients]]", {"from_env = true"}).text(),
       "clients[0].from_env", "AWS_SECRET_ACCESS_KEY is not set", env_of({{"AWS_ACCESS_KEY_ID", "AKIAENV"}})},
      {"ClientUnknownKey", Doc::minimal().set("[[clients]]", "secret_acess_key_env = \"X\"").text(),
       "clients[0].secret_acess_key_env", "unknown key"},
      // [acl]
      {"AclModeUnknown", Doc::minimal().set("[acl]", "mode = \"remove\"").text(), "acl.mode",
       "must be one of \"strip\", \"audit\""},
      {"AclRequestsUnknown", Doc::minimal().set("[acl]", "acl_requests = \"deny\"").text(), "acl.acl_requests",
       "must be one of \"reject\", \"accept\", \"forward\""},
      {"AclUnknownKey", Doc::minimal().set("[acl]", "headers = []").text(), "acl.headers", "unknown key"},
      // [canary]
      {"CanaryBucketMissing", Doc::minimal().set("[canary]", "interval = \"60s\"").text(), "canary.bucket",
       "required"},
      {"CanaryBucketWithSlash", Doc::minimal().set("[canary]", "bucket = \"media/x\"").text(), "canary.bucket",
       "letters, digits"},
      {"CanaryPrefixLeadingSlash",
       Doc::minimal().set("[canary]", "bucket = \"media\"").set("[canary]", "prefix = \"/canary/\"").text(),
       "canary.prefix", "must not start with"},
      {"CanaryPrefixEmpty",
       Doc::minimal().set("[canary]", "bucket = \"media\"").set("[canary]", "prefix = \"\"").text(),
       "canary.prefix", "must not be empty"},
      {"CanaryIntervalNotADuration",
       Doc::minimal().set("[canary]", "bucket = \"media\"").set("[canary]", "interval = \"soon\"").text(),
       "canary.interval", "must be a duration"},
      // [audit]
      {"AuditLevelError", Doc::minimal().set("[audit]", "level = \"error\"").text(), "audit.level",
       "must be one of \"debug\", \"info\", \"warn\""},
      {"AuditPathEmpty", Doc::minimal().set("[audit]", "path = \"\"").text(), "audit.path", "must be \"-\""},
      // top level
      {"UnknownSection", Doc::minimal().set("[metrics]", "port = 9090").text(), "metrics", "unknown key"},
  };
  return cases;
}

class ConfigErrorNamesKey : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrorNamesKey, WithFullDottedPath) {
  const BadConfig& b = GetParam();
  const ConfigError e = parse_error(b.text, b.env);
  EXPECT_EQ(e.key, b.key) << e.to_string();
  EXPECT_NE(e.message.find(b.message_part), std::string::npos) << e.to_string();
  EXPECT_EQ(e.to_string(), b.key + ": " + e.message);
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigErrorNamesKey, ::testing::ValuesIn(bad_configs()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Single behaviours

TEST(Config, UnknownKeyIsAnError) {
  const ConfigError e = parse_error(Doc::minimal().set("[server]", "lisen = \"127.0.0.1:8081\"").text());
  EXPECT_EQ(e.to_string(), "server.lisen: unknown key (did you mean \"listen\"?)");
}

TEST(Config, TomlSyntaxErrorHasNoKeyAndGivesLine) {
  const ConfigError e = parse_error("[server]\nlisten = \n");
  EXPECT_EQ(e.key, "");
  EXPECT_NE(e.message.find("line 2"), std::string::npos) << e.message;
  EXPECT_EQ(e.to_string(), e.message);
}

TEST(Config, TomlSyntaxErrorDoesNotEchoTheValue) {
  // toml++ would quote the first characters of the value: "saw 'faS'".
  const ConfigError e = parse_error("[upstream]\nsecret_access_key = faS3cr3t\n");
  EXPECT_EQ(e.message.find("faS"), std::string::npos) << e.message;
}

TEST(Config, ErrorsNeverEchoAnInlineSecret) {
  const ConfigError e = parse_error(Doc::minimal().set("[upstream]", "secret_access_key = 12345").text());
  EXPECT_EQ(e.key, "upstream.secret_access_key");
  EXPECT_EQ(e.message.find("12345"), std::string::npos) << e.message;
}

TEST(Config, ListenParsesHostAndPort) {
  const Config c = parse_ok(Doc::minimal().text());
  EXPECT_EQ(c.server.listen, (HostPort{"127.0.0.1", 8080}));
}

TEST(Config, ListenAcceptsBracketedIpv6) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "listen = \"[::1]:8080\"").text());
  EXPECT_EQ(c.server.listen.host, "::1");
  EXPECT_EQ(c.server.listen.port, 8080);
}

TEST(Config, HostPortPrintsIpv6InBrackets) {
  EXPECT_EQ(to_string(HostPort{"::1", 8080}), "[::1]:8080");
  EXPECT_EQ(to_string(HostPort{"0.0.0.0", 80}), "0.0.0.0:80");
}

TEST(Config, AdminListenParsed) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "admin_listen = \"[::]:9090\"").text());
  ASSERT_TRUE(c.server.admin_listen.has_value());
  EXPECT_EQ(*c.server.admin_listen, (HostPort{"::", 9090}));
}

TEST(Config, ListenPortZeroAllowedForTests) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "listen = \"127.0.0.1:0\"")
                                .set("[server]", "admin_listen = \"127.0.0.1:0\"")
                                .text());
  EXPECT_EQ(c.server.listen.port, 0);
}

TEST(Config, HttpEndpointDefaultsToPort80WithBareHostHeader) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"http://rgw.internal\"").text());
  EXPECT_EQ(c.upstream.scheme, Scheme::http);
  EXPECT_EQ(c.upstream.host, "rgw.internal");
  EXPECT_EQ(c.upstream.port, 80);
  EXPECT_EQ(c.upstream.host_header, "rgw.internal");
}

TEST(Config, HttpsEndpointDefaultsToPort443WithBareHostHeader) {
  const Config c =
      parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"https://s3.eu-west-2.amazonaws.com\"").text());
  EXPECT_EQ(c.upstream.scheme, Scheme::https);
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.host_header, "s3.eu-west-2.amazonaws.com");
}

TEST(Config, EndpointWithExplicitDefaultPortOmitsItFromHostHeader) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"https://s3.example.com:443\"").text());
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.host_header, "s3.example.com");
}

TEST(Config, EndpointWithOtherPortKeepsItInHostHeader) {
  const Config c = parse_ok(Doc::minimal().text());
  EXPECT_EQ(c.upstream.host, "127.0.0.1");
  EXPECT_EQ(c.upstream.port, 7480);
  EXPECT_EQ(c.upstream.host_header, "127.0.0.1:7480");
}

TEST(Config, EndpointHttpsPort80IsNotDefault) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"https://s3.example.com:80\"").text());
  EXPECT_EQ(c.upstream.host_header, "s3.example.com:80");
}

TEST(Config, Ipv6EndpointBracketsHostHeaderOnly) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"http://[::1]:7480\"").text());
  EXPECT_EQ(c.upstream.host, "::1");
  EXPECT_EQ(c.upstream.host_header, "[::1]:7480");
}

TEST(Config, EndpointHostIsLowerCasedAndTrailingSlashAccepted) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "endpoint = \"HTTPS://S3.Example.COM/\"").text());
  EXPECT_EQ(c.upstream.scheme, Scheme::https);
  EXPECT_EQ(c.upstream.host, "s3.example.com");
  EXPECT_EQ(c.upstream.host_header, "s3.example.com");
}

TEST(Config, VirtualAddressingWithDnsEndpoint) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[upstream]", "endpoint = \"https://s3.example.com\"")
                                .set("[upstream]", "addressing = \"virtual\"")
                                .text());
  EXPECT_EQ(c.upstream.addressing, Addressing::virtual_host);
}

TEST(Config, UnsignedPayloadAllowedOverHttps) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[upstream]", "endpoint = \"https://s3.example.com\"")
                                .set("[upstream]", "payload = \"unsigned\"")
                                .text());
  EXPECT_EQ(c.upstream.payload, UpstreamPayload::unsigned_payload);
}

TEST(Config, ChecksumsStrip) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "checksums = \"strip\"").text());
  EXPECT_EQ(c.upstream.checksums, UpstreamChecksums::strip);
  EXPECT_NE(describe(c).find("checksums:    strip"), std::string::npos);
}

TEST(Config, SignedChunksPayload) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "payload = \"signed-chunks\"").text());
  EXPECT_EQ(c.upstream.payload, UpstreamPayload::signed_chunks);
}

TEST(Config, CaFileOnlyWithHttpsEndpoint) {
  TempDir dir;
  const auto ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const ConfigError e = parse_error(Doc::minimal().set("[upstream]", "ca_file = \"" + ca.string() + "\"").text());
  EXPECT_EQ(e.key, "upstream.ca_file");
}

TEST(Config, CaFileReadableWithHttpsEndpoint) {
  TempDir dir;
  const auto ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const Config c = parse_ok(Doc::minimal()
                                .set("[upstream]", "endpoint = \"https://s3.example.com\"")
                                .set("[upstream]", "ca_file = \"" + ca.string() + "\"")
                                .set("[upstream]", "verify_peer = false")
                                .text());
  EXPECT_EQ(c.upstream.ca_file, ca.string());
  EXPECT_FALSE(c.upstream.verify_peer);
}

TEST(Config, TlsFilesReadable) {
  TempDir dir;
  const auto cert = dir.write("cert.pem", "cert");
  const auto key = dir.write("key.pem", "key");
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "tls_cert_file = \"" + cert.string() + "\"")
                                .set("[server]", "tls_key_file = \"" + key.string() + "\"")
                                .text());
  EXPECT_EQ(c.server.tls_cert_file, cert.string());
  EXPECT_EQ(c.server.tls_key_file, key.string());
}

TEST(Config, TlsFileThatIsADirectoryIsRefused) {
  TempDir dir;
  const auto key = dir.write("key.pem", "key");
  const ConfigError e = parse_error(Doc::minimal()
                                        .set("[server]", "tls_cert_file = \"" + dir.path().string() + "\"")
                                        .set("[server]", "tls_key_file = \"" + key.string() + "\"")
                                        .text());
  EXPECT_EQ(e.key, "server.tls_cert_file");
  EXPECT_NE(e.message.find("not a regular file"), std::string::npos) << e.message;
}

TEST(Config, DomainsAreLowerCasedWithoutLeadingDot) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "domains = [\"S3.Local\", \".files.example.org\"]").text());
  EXPECT_EQ(c.server.domains, (std::vector<std::string>{"s3.local", "files.example.org"}));
}

TEST(Config, DurationsAcceptEveryUnitAndIntegerSeconds) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "idle_timeout = \"2m\"")
                                .set("[upstream]", "connect_timeout = \"500ms\"")
                                .set("[upstream]", "read_timeout = 30")
                                .set("[canary]", "bucket = \"media\"")
                                .set("[canary]", "interval = \"1h\"")
                                .text());
  EXPECT_EQ(c.server.idle_timeout, 2min);
  EXPECT_EQ(c.upstream.connect_timeout, 500ms);
  EXPECT_EQ(c.upstream.read_timeout, 30s);
  EXPECT_EQ(c.canary->interval, 1h);
}

TEST(Config, ReadyWindowIsConfigurable) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "ready_window = \"90s\"").text());
  EXPECT_EQ(c.server.ready_window, 90s);
}

TEST(Config, CanaryIntervalZeroDisablesPeriodicCheck) {
  const Config a = parse_ok(
      Doc::minimal().set("[canary]", "bucket = \"media\"").set("[canary]", "interval = \"0s\"").text());
  const Config b =
      parse_ok(Doc::minimal().set("[canary]", "bucket = \"media\"").set("[canary]", "interval = 0").text());
  EXPECT_EQ(a.canary->interval, 0ms);
  EXPECT_EQ(b.canary->interval, 0ms);
}

TEST(Config, ThreadsAndLimitsRead) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "threads = 4")
                                .set("[server]", "max_header_bytes = 32768")
                                .set("[upstream]", "max_idle_connections = 0")
                                .text());
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(effective_threads(c.server), 4u);
  EXPECT_EQ(c.server.max_header_bytes, 32768u);
  EXPECT_EQ(c.upstream.max_idle_connections, 0u);
}

TEST(Config, OverloadAndShutdownSettingsRead) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "max_connections = 10")
                                .set("[server]", "shutdown_grace = \"2s\"")
                                .set("[server]", "max_requests_per_second = 50")
                                .text());
  EXPECT_EQ(c.server.max_connections, 10u);
  EXPECT_EQ(c.server.shutdown_grace, 2s);
  EXPECT_EQ(c.server.max_requests_per_second, 50u);
}

TEST(Config, ShutdownGraceZeroCancelsAtOnce) {
  const Config c = parse_ok(Doc::minimal().set("[server]", "shutdown_grace = 0").text());
  EXPECT_EQ(c.server.shutdown_grace, 0ms);
}

TEST(Config, ClientRateOverridesTheServerDefault) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "max_requests_per_second = 50")
                                .set("[[clients]]", "max_requests_per_second = 5")
                                .section("[[clients]]", {"access_key_id = \"AKIASECOND\"", "secret_access_key = \"s\""})
                                .section("[[clients]]", {"access_key_id = \"AKIATHIRD\"", "secret_access_key = \"t\"",
                                                         "max_requests_per_second = 0"})
                                .text());
  EXPECT_EQ(request_rate_limit(c, c.clients[0]), 5u);
  EXPECT_EQ(request_rate_limit(c, c.clients[1]), 50u);
  EXPECT_EQ(request_rate_limit(c, c.clients[2]), 0u);  // 0: this key is never limited
}

TEST(Config, FixedUpstreamSourceKeepsItsOwnCopy) {
  UpstreamSource source;
  {
    Config c = parse_ok(Doc::minimal().text());
    source = fixed_upstream(c.upstream);
    c.upstream.access_key_id = "CHANGED";
  }
  EXPECT_EQ(source()->access_key_id, "AKIAUPSTREAM");
  EXPECT_EQ(source(), source());
}

TEST(Config, VerifyWritesRead) {
  const Config c = parse_ok(Doc::minimal().set("[upstream]", "verify_writes = true").text());
  EXPECT_TRUE(c.upstream.verify_writes);
}

TEST(Config, AclSettingsRead) {
  const Config c =
      parse_ok(Doc::minimal().set("[acl]", "mode = \"audit\"").set("[acl]", "acl_requests = \"accept\"").text());
  EXPECT_EQ(c.acl.mode, AclMode::audit);
  EXPECT_EQ(c.acl.acl_requests, AclRequests::accept);
}

TEST(Config, InlineSecretsRead) {
  const Config c = parse_ok(Doc::minimal().text());
  EXPECT_EQ(c.upstream.access_key_id, "AKIAUPSTREAM");
  EXPECT_EQ(c.upstream.secret_access_key.reveal(), "upstream-secret-value");
  EXPECT_EQ(c.clients[0].access_key_id, "AKIACLIENT");
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "client-secret-value");
}

TEST(Config, SecretFromEnvironmentVariable) {
  const Config c = parse_ok(Doc::minimal()
                                .erase("[upstream]", "secret_access_key")
                                .set("[upstream]", "secret_access_key_env = \"RGW_SECRET_ACCESS_KEY\"")
                                .text(),
                            env_of({{"RGW_SECRET_ACCESS_KEY", "from-the-environment"}}));
  EXPECT_EQ(c.upstream.secret_access_key.reveal(), "from-the-environment");
}

TEST(Config, SecretFromFileWithoutTrailingNewline) {
  TempDir dir;
  const auto file = dir.write("secret", "from-a-file\n");
  const Config c = parse_ok(Doc::minimal()
                                .erase("[[clients]]", "secret_access_key")
                                .set("[[clients]]", "secret_access_key_file = \"" + file.string() + "\"")
                                .text());
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "from-a-file");
}

TEST(Config, EmptySecretFileIsRefused) {
  TempDir dir;
  const auto file = dir.write("secret", "\n");
  const ConfigError e = parse_error(Doc::minimal()
                                        .erase("[[clients]]", "secret_access_key")
                                        .set("[[clients]]", "secret_access_key_file = \"" + file.string() + "\"")
                                        .text());
  EXPECT_EQ(e.key, "clients[0].secret_access_key_file");
  EXPECT_NE(e.message.find("is empty"), std::string::npos) << e.message;
}

TEST(Config, RelativeSecretFileIsResolvedAgainstBaseDir) {
  TempDir dir;
  dir.write("client.secret", "relative-secret");
  const Config c = parse_ok(Doc::minimal()
                                .erase("[[clients]]", "secret_access_key")
                                .set("[[clients]]", "secret_access_key_file = \"client.secret\"")
                                .text(),
                            kNoEnv, dir.path());
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "relative-secret");
}

TEST(Config, RelativeAuditPathIsResolvedAgainstBaseDir) {
  const Config c = parse_ok(Doc::minimal().set("[audit]", "path = \"audit.jsonl\"").text(), kNoEnv, "/var/lib/x");
  EXPECT_EQ(c.audit.path, "/var/lib/x/audit.jsonl");
}

TEST(Config, ClientFromEnvUsesMastodonVariables) {
  const Config c =
      parse_ok(Doc::minimal().erase_section("[[clients]]").section("[[clients]]", {"from_env = true"}).text(),
               env_of({{"AWS_ACCESS_KEY_ID", "AKIAFROMENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}}));
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_EQ(c.clients[0].access_key_id, "AKIAFROMENV");
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "env-secret");
}

TEST(Config, ClientOwnUpstreamIdentity) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[[clients]]", "upstream_access_key_id = \"AKIAOWN\"")
                                .set("[[clients]]", "upstream_secret_access_key = \"own-upstream-secret\"")
                                .text());
  const UpstreamIdentity id = upstream_identity(c, c.clients[0]);
  EXPECT_EQ(id.access_key_id, "AKIAOWN");
  EXPECT_EQ(id.secret_access_key.reveal(), "own-upstream-secret");
}

TEST(Config, ClientWithoutOwnIdentityUsesUpstreams) {
  const Config c = parse_ok(Doc::minimal().text());
  const UpstreamIdentity id = upstream_identity(c, c.clients[0]);
  EXPECT_EQ(id.access_key_id, "AKIAUPSTREAM");
  EXPECT_EQ(id.secret_access_key.reveal(), "upstream-secret-value");
}

TEST(Config, ClientMayShareTheUpstreamKey) {
  const Config c = parse_ok(Doc::minimal().set("[[clients]]", "access_key_id = \"AKIAUPSTREAM\"").text());
  EXPECT_EQ(c.clients[0].access_key_id, "AKIAUPSTREAM");
}

TEST(Config, FindClientByAccessKeyId) {
  const Config c =
      parse_ok(second_client({"access_key_id = \"AKIASECOND\"", "secret_access_key = \"second-secret\""}).text());
  const ClientKey* k = find_client(c, "AKIASECOND");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->secret_access_key.reveal(), "second-secret");
}

TEST(Config, FindClientUnknownKeyIsNull) {
  const Config c = parse_ok(Doc::minimal().text());
  EXPECT_EQ(find_client(c, "AKIANOBODY"), nullptr);
  EXPECT_EQ(find_client(c, ""), nullptr);
}

TEST(Config, DescribeNamesWhatTheProxyWillDo) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "admin_listen = \"127.0.0.1:9090\"")
                                .set("[canary]", "bucket = \"media\"")
                                .text());
  const std::string d = describe(c);
  for (const char* part : {"127.0.0.1:8080", "127.0.0.1:9090", "http://127.0.0.1:7480", "us-east-1", "path-style",
                           "auto", "AKIACLIENT", "AKIAUPSTREAM", "strip", "reject", "bucket media", "stdout"})
    EXPECT_NE(d.find(part), std::string::npos) << part << " missing from:\n" << d;
}

TEST(Config, DescribeNamesConnectionCapGraceAndRates) {
  const Config c = parse_ok(Doc::minimal()
                                .set("[server]", "max_connections = 100")
                                .set("[server]", "shutdown_grace = \"2s\"")
                                .set("[[clients]]", "max_requests_per_second = 7")
                                .text());
  const std::string d = describe(c);
  for (const char* part : {"100 connections", "get 2s to finish", "at most 7 requests/s"})
    EXPECT_NE(d.find(part), std::string::npos) << part << " missing from:\n" << d;
}

TEST(Config, DescribeContainsNoSecret) {
  TempDir dir;
  const auto file = dir.write("secret", "secret-from-file-3\n");
  const Config c = parse_ok(Doc::minimal()
                                .erase("[upstream]", "secret_access_key")
                                .set("[upstream]", "secret_access_key_env = \"UP\"")
                                .set("[[clients]]", "upstream_access_key_id = \"AKIAOWN\"")
                                .set("[[clients]]", "upstream_secret_access_key_file = \"" + file.string() + "\"")
                                .section("[[clients]]", {"from_env = true"})
                                .text(),
                            env_of({{"UP", "secret-from-env-1"},
                                    {"AWS_ACCESS_KEY_ID", "AKIAFROMENV"},
                                    {"AWS_SECRET_ACCESS_KEY", "secret-from-aws-env-4"}}));
  const std::string d = describe(c);
  for (const char* secret : {"secret-from-env-1", "client-secret-value", "secret-from-file-3", "secret-from-aws-env-4"})
    EXPECT_EQ(d.find(secret), std::string::npos) << secret << " leaked into:\n" << d;
  EXPECT_NE(d.find("AKIAFROMENV"), std::string::npos) << d;
  EXPECT_NE(d.find("AKIAOWN"), std::string::npos) << d;
}

TEST(Config, FormatDurationPicksLargestExactUnit) {
  EXPECT_EQ(format_duration(500ms), "500ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(5s), "5s");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(1h), "1h");
  EXPECT_EQ(format_duration(0ms), "0s");
}

TEST(Config, EnumNamesMatchTheFileSpelling) {
  EXPECT_EQ(to_string(Addressing::virtual_host), "virtual");
  EXPECT_EQ(to_string(UpstreamPayload::signed_chunks), "signed-chunks");
  EXPECT_EQ(to_string(UpstreamPayload::unsigned_payload), "unsigned");
  EXPECT_EQ(to_string(AclRequests::forward), "forward");
  EXPECT_EQ(to_string(AclMode::audit), "audit");
  EXPECT_EQ(to_string(Scheme::https), "https");
}

TEST(Config, LoadConfigUnreadableFileHasNoKey) {
  auto result = load_config("/nonexistent/s3-acl-proxy.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigError>(result));
  const auto& e = std::get<ConfigError>(result);
  EXPECT_EQ(e.key, "");
  EXPECT_NE(e.message.find("/nonexistent/s3-acl-proxy.toml"), std::string::npos) << e.message;
}

TEST(Config, LoadConfigResolvesPathsAgainstTheFilesDirectory) {
  TempDir dir;
  dir.write("upstream.secret", "loaded-secret\n");
  const auto file = dir.write("proxy.toml", Doc::minimal()
                                                .erase("[upstream]", "secret_access_key")
                                                .set("[upstream]", "secret_access_key_file = \"upstream.secret\"")
                                                .text());
  auto result = load_config(file);
  ASSERT_TRUE(std::holds_alternative<Config>(result)) << std::get<ConfigError>(result).to_string();
  EXPECT_EQ(std::get<Config>(result).upstream.secret_access_key.reveal(), "loaded-secret");
}

// ---------------------------------------------------------------------------
// The shipped examples

std::string read_example(const std::string& name) {
  const fs::path p = fs::path(S3P_TEST_DATA) / ".." / ".." / "conf" / name;
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << "cannot open " << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ConfigExamples, ProductionExampleParses) {
  const Config c = parse_ok(read_example("s3-acl-proxy.toml"),
                            env_of({{"UPSTREAM_SECRET_ACCESS_KEY", "u"},
                                    {"AWS_ACCESS_KEY_ID", "AKIAMASTODONEXAMPLE"},
                                    {"AWS_SECRET_ACCESS_KEY", "c"}}));
  EXPECT_EQ(c.upstream.scheme, Scheme::https);
  EXPECT_EQ(c.clients.at(0).access_key_id, "AKIAMASTODONEXAMPLE");
  EXPECT_TRUE(c.canary.has_value());
}

TEST(ConfigExamples, ContainerConfigParsesAndListensOnAllInterfaces) {
  const fs::path p = fs::path(S3P_TEST_DATA) / ".." / ".." / "docker" / "s3-acl-proxy.toml";
  std::ifstream in(p);
  ASSERT_TRUE(in.good()) << "cannot open " << p;
  std::ostringstream text;
  text << in.rdbuf();
  // The storage secret is the Compose secret at /run/secrets/storage_secret; here, a file
  // of the test's in its place.
  std::string doc = text.str();
  const std::string secret_path = "/run/secrets/storage_secret";
  const auto at = doc.find(secret_path);
  ASSERT_NE(at, std::string::npos) << "the config no longer reads " << secret_path;
  TempDir dir;
  doc.replace(at, secret_path.size(), dir.write("storage_secret", "storage\n").string());
  const Config c = parse_ok(doc, env_of({{"APP_SECRET_ACCESS_KEY", "app"}}));
  EXPECT_EQ(c.server.listen, (HostPort{"0.0.0.0", 8080}));
  ASSERT_TRUE(c.server.admin_listen.has_value());
  EXPECT_EQ(*c.server.admin_listen, (HostPort{"0.0.0.0", 9090}));
  EXPECT_EQ(c.upstream.scheme, Scheme::http);
  EXPECT_EQ(c.upstream.secret_access_key.reveal(), "storage");
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "app");
  EXPECT_EQ(c.acl.mode, AclMode::strip);
}

TEST(ConfigExamples, QuickstartParses) {
  const Config c = parse_ok(read_example("quickstart.toml"),
                            env_of({{"RGW_SECRET_ACCESS_KEY", "rgw"}, {"CLIENT_SECRET_ACCESS_KEY", "client"}}));
  EXPECT_EQ(c.server.listen, (HostPort{"127.0.0.1", 8080}));
  ASSERT_TRUE(c.server.admin_listen.has_value());
  EXPECT_EQ(*c.server.admin_listen, (HostPort{"127.0.0.1", 9090}));
  EXPECT_EQ(c.upstream.host_header, "127.0.0.1:7480");
  EXPECT_EQ(c.upstream.region, "us-east-1");
  EXPECT_EQ(c.upstream.access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(c.upstream.secret_access_key.reveal(), "rgw");
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_EQ(c.clients[0].access_key_id, "AKIAMASTODONEXAMPLE");
  EXPECT_EQ(c.clients[0].secret_access_key.reveal(), "client");
  EXPECT_EQ(c.acl.mode, AclMode::strip);
  EXPECT_EQ(c.audit.path, "-");
}

}  // namespace
}  // namespace s3proxy
