#pragma once
// The command line: argv to one command, or a usage error naming the bad argument.
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace s3proxy {

enum class CommandKind {
  run,           // --config FILE
  check_config,  // --config FILE --check
  diagnose,      // check --config FILE [--json]
  healthcheck,   // healthcheck --config FILE
  lint_policy,   // lint-policy FILE [--json]
  policy,        // policy --config FILE [--flavor aws|ceph|minio]
  version,       // --version
  help,          // --help | -h
};

struct Command {
  CommandKind kind = CommandKind::help;
  std::string config_path;  // run, check_config, diagnose, healthcheck
  std::string policy_file;  // lint_policy
  bool json = false;        // diagnose, lint_policy: machine-readable output
  std::string flavor = "aws";  // policy: whose condition keys the printed policy uses
};

// Exit codes shared by every command (INTERFACE.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeFailure = 1;
inline constexpr int kExitBadUsage = 2;

// args without argv[0]. --help or -h anywhere wins, so "s3-acl-proxy check --help" helps.
std::variant<Command, std::string /*usage error*/> parse_command_line(std::span<const std::string_view> args);

// The --help text.
std::string usage();

}  // namespace s3proxy
