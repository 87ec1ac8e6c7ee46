// s3-acl-proxy: verify SigV4, strip or audit ACL headers, re-sign, stream, audit.
#include "s3proxy/audit.hpp"
#include "s3proxy/cli.hpp"
#include "s3proxy/config.hpp"
#include "s3proxy/diagnose.hpp"
#include "s3proxy/healthcheck.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/policy_lint.hpp"
#include "s3proxy/server.hpp"
#include "s3proxy/version.hpp"

#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  using namespace s3proxy;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = parse_command_line(args);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    std::cerr << "s3-acl-proxy: " << *err << "\n\n" << usage();
    return kExitBadUsage;
  }
  const Command cmd = std::get<Command>(parsed);
  switch (cmd.kind) {
    case CommandKind::help: std::cout << usage(); return kExitOk;
    case CommandKind::version: std::cout << "s3-acl-proxy " << kVersion << "\n"; return kExitOk;
    case CommandKind::lint_policy: return run_lint_policy_command(cmd.policy_file, cmd.json, std::cout, std::cerr);
    case CommandKind::diagnose:
    case CommandKind::policy:
    case CommandKind::healthcheck:
    case CommandKind::run:
    case CommandKind::check_config: break;
  }

  auto loaded = load_config(cmd.config_path);
  if (auto* err = std::get_if<ConfigError>(&loaded)) {
    std::cerr << "s3-acl-proxy: " << cmd.config_path << ": " << err->to_string() << "\n";
    return kExitBadUsage;
  }
  const Config& config = std::get<Config>(loaded);
  if (cmd.kind == CommandKind::diagnose) return run_diagnose_command(config, cmd.json, std::cout, std::cerr);
  if (cmd.kind == CommandKind::policy) return run_policy_command(config, cmd.flavor, std::cout, std::cerr);
  if (cmd.kind == CommandKind::healthcheck) return run_healthcheck_command(config, std::cout, std::cerr);
  if (cmd.kind == CommandKind::check_config) {
    std::cout << describe(config);
    return kExitOk;
  }

  try {
    AuditLog audit(config.audit.path);
    Metrics metrics(kVersion);
    // SIGHUP reads the same file again.
    const ConfigLoader reload = [path = cmd.config_path] { return load_config(path); };
    return run_server(config, audit, metrics, reload);
  } catch (const std::exception& e) {
    std::cerr << "s3-acl-proxy: " << e.what() << "\n";
    return kExitRuntimeFailure;
  }
}
