// Command-line parsing: a pure function from arguments to a Command, so every form and
// every mistake is testable without a process.
#include "s3proxy/cli.hpp"

#include <algorithm>
#include <optional>

namespace s3proxy {
namespace {

using Outcome = std::variant<Command, std::string>;

constexpr std::string_view kConfigFlag = "--config";
constexpr std::string_view kConfigPrefix = "--config=";

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// Reads --config FILE / --config=FILE at args[i], advancing i past what it consumed.
// Returns nullopt when args[i] is not a --config argument.
std::optional<Outcome> take_config(std::span<const std::string_view> args, std::size_t& i, std::string& path) {
  const std::string_view a = args[i];
  std::string_view value;
  if (a == kConfigFlag) {
    if (i + 1 >= args.size() || args[i + 1].starts_with("-"))
      return Outcome{std::string("--config needs a FILE")};
    value = args[++i];
  } else if (a.starts_with(kConfigPrefix)) {
    value = a.substr(kConfigPrefix.size());
    if (value.empty()) return Outcome{std::string("--config needs a FILE")};
  } else {
    return std::nullopt;
  }
  if (!path.empty()) return Outcome{std::string("--config given more than once")};
  path = std::string(value);
  return Outcome{Command{}};
}

bool is_error(const std::optional<Outcome>& o) { return o && std::holds_alternative<std::string>(*o); }

// s3-acl-proxy --config FILE [--check]
Outcome parse_run(std::span<const std::string_view> args) {
  Command cmd{CommandKind::run, {}, {}, false};
  bool check = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (auto o = take_config(args, i, cmd.config_path)) {
      if (is_error(o)) return *o;
      continue;
    }
    if (args[i] == "--check" && !check) {
      check = true;
      continue;
    }
    if (args[i] == "--check") return std::string("--check given more than once");
    if (args[i] == "--json") return std::string("--json goes only with the check and lint-policy commands");
    return "unknown argument " + quote(args[i]);
  }
  if (cmd.config_path.empty()) return std::string("missing --config FILE");
  if (check) cmd.kind = CommandKind::check_config;
  return cmd;
}

// s3-acl-proxy check --config FILE [--json]
Outcome parse_diagnose(std::span<const std::string_view> args) {
  Command cmd{CommandKind::diagnose, {}, {}, false};
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (auto o = take_config(args, i, cmd.config_path)) {
      if (is_error(o)) return *o;
      continue;
    }
    if (args[i] == "--json" && !cmd.json) {
      cmd.json = true;
      continue;
    }
    if (args[i] == "--json") return std::string("--json given more than once");
    return "unknown argument " + quote(args[i]) + " for check";
  }
  if (cmd.config_path.empty()) return std::string("check: missing --config FILE");
  return cmd;
}

// s3-acl-proxy healthcheck --config FILE
Outcome parse_healthcheck(std::span<const std::string_view> args) {
  Command cmd{CommandKind::healthcheck, {}, {}, false};
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (auto o = take_config(args, i, cmd.config_path)) {
      if (is_error(o)) return *o;
      continue;
    }
    return "unknown argument " + quote(args[i]) + " for healthcheck";
  }
  if (cmd.config_path.empty()) return std::string("healthcheck: missing --config FILE");
  return cmd;
}

// s3-acl-proxy lint-policy FILE [--json]
Outcome parse_lint(std::span<const std::string_view> args) {
  Command cmd{CommandKind::lint_policy, {}, {}, false};
  for (const std::string_view a : args) {
    if (a == "--json" && !cmd.json) {
      cmd.json = true;
    } else if (a == "--json") {
      return std::string("--json given more than once");
    } else if (a.starts_with("--") || a.empty()) {
      return "unknown argument " + quote(a) + " for lint-policy";
    } else if (!cmd.policy_file.empty()) {
      return "lint-policy takes one FILE; unexpected " + quote(a);
    } else {
      cmd.policy_file = std::string(a);
    }
  }
  if (cmd.policy_file.empty()) return std::string("lint-policy: missing FILE");
  return cmd;
}

// s3-acl-proxy policy --config FILE [--flavor aws|ceph|minio]
Outcome parse_policy(std::span<const std::string_view> args) {
  Command cmd{CommandKind::policy, {}, {}, false};
  bool flavor_given = false;
  constexpr std::string_view kFlavorFlag = "--flavor", kFlavorPrefix = "--flavor=";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (auto o = take_config(args, i, cmd.config_path)) {
      if (is_error(o)) return *o;
      continue;
    }
    std::string_view value;
    if (args[i] == kFlavorFlag) {
      if (i + 1 >= args.size() || args[i + 1].starts_with("-")) return std::string("--flavor needs aws, ceph or minio");
      value = args[++i];
    } else if (args[i].starts_with(kFlavorPrefix)) {
      value = args[i].substr(kFlavorPrefix.size());
    } else {
      return "unknown argument " + quote(args[i]) + " for policy";
    }
    if (flavor_given) return std::string("--flavor given more than once");
    if (value != "aws" && value != "ceph" && value != "minio")
      return "--flavor must be aws, ceph or minio, not " + quote(value);
    cmd.flavor = std::string(value);
    flavor_given = true;
  }
  if (cmd.config_path.empty()) return std::string("policy: missing --config FILE");
  return cmd;
}

}  // namespace

std::variant<Command, std::string> parse_command_line(std::span<const std::string_view> args) {
  if (args.empty()) return std::string("missing --config FILE");
  if (std::any_of(args.begin(), args.end(), [](std::string_view a) { return a == "--help" || a == "-h"; }))
    return Command{CommandKind::help, {}, {}, false};
  const std::string_view first = args.front();
  if (first == "--version") {
    if (args.size() > 1) return "unexpected argument " + quote(args[1]) + " after --version";
    return Command{CommandKind::version, {}, {}, false};
  }
  if (first == "check") return parse_diagnose(args.subspan(1));
  if (first == "lint-policy") return parse_lint(args.subspan(1));
  if (first == "policy") return parse_policy(args.subspan(1));
  if (first == "healthcheck") return parse_healthcheck(args.subspan(1));
  return parse_run(args);
}

std::string usage() {
  return R"(Usage:
  s3-acl-proxy --config FILE          run the proxy (foreground; SIGTERM/SIGINT drain and exit 0)
  s3-acl-proxy --config FILE --check  validate the config, print what it would do (no secrets), exit 0 or 2
  s3-acl-proxy check --config FILE [--json]
                                      diagnose the upstream bucket once (synthetic write check and more;
                                      binds no port), exit 0 healthy, 1 writes fail, 2 bad config
  s3-acl-proxy lint-policy FILE [--json]
                                      flag bucket-policy statements that silently block uploads,
                                      exit 1 on a finding; recognises the suspension Deny
  s3-acl-proxy policy --config FILE [--flavor aws|ceph|minio]
                                      print the bucket policy that keeps objects carrying the
                                      private tag ([acl] private_tag) private: a public-read Allow
                                      and a Deny of s3:GetObject on the tag that exempts the
                                      proxy's own identity (upstream.principal_arn); exit 0, or 2
  s3-acl-proxy healthcheck --config FILE
                                      GET /healthz on the config's admin_listen (a container HEALTHCHECK),
                                      exit 0 on 200, 1 otherwise, 2 when there is no admin_listen
  s3-acl-proxy --version | --help

--config=FILE is the same as --config FILE. --json prints one JSON document instead of text.

Exit code 0 on success, 1 for a runtime failure, 2 for a bad command line or config
(with a message that names the offending key).
)";
}

}  // namespace s3proxy
