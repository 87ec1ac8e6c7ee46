#include "s3proxy/cli.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace s3proxy {
namespace {

std::variant<Command, std::string> parse(std::vector<std::string_view> args) {
  return parse_command_line(std::span<const std::string_view>(args.data(), args.size()));
}

Command ok(std::vector<std::string_view> args) {
  auto r = parse(args);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "usage error: " << *e;
    return {};
  }
  return std::get<Command>(r);
}

std::string error(std::vector<std::string_view> args) {
  auto r = parse(args);
  if (auto* e = std::get_if<std::string>(&r)) return *e;
  ADD_FAILURE() << "command line was accepted";
  return {};
}

TEST(CommandLine, ConfigRunsTheProxy) {
  const Command c = ok({"--config", "/etc/p.toml"});
  EXPECT_EQ(c.kind, CommandKind::run);
  EXPECT_EQ(c.config_path, "/etc/p.toml");
  EXPECT_FALSE(c.json);
}

TEST(CommandLine, ConfigWithEqualsSign) {
  const Command c = ok({"--config=/etc/p.toml"});
  EXPECT_EQ(c.kind, CommandKind::run);
  EXPECT_EQ(c.config_path, "/etc/p.toml");
}

TEST(CommandLine, CheckFlagValidatesConfig) {
  const Command c = ok({"--config", "p.toml", "--check"});
  EXPECT_EQ(c.kind, CommandKind::check_config);
  EXPECT_EQ(c.config_path, "p.toml");
}

TEST(CommandLine, CheckFlagMayComeFirst) {
  const Command c = ok({"--check", "--config=p.toml"});
  EXPECT_EQ(c.kind, CommandKind::check_config);
  EXPECT_EQ(c.config_path, "p.toml");
}

TEST(CommandLine, CheckCommandDiagnoses) {
  const Command c = ok({"check", "--config", "p.toml"});
  EXPECT_EQ(c.kind, CommandKind::diagnose);
  EXPECT_EQ(c.config_path, "p.toml");
  EXPECT_FALSE(c.json);
}

TEST(CommandLine, CheckCommandWithJson) {
  const Command c = ok({"check", "--json", "--config=p.toml"});
  EXPECT_EQ(c.kind, CommandKind::diagnose);
  EXPECT_TRUE(c.json);
}

TEST(CommandLine, LintPolicyTakesAFile) {
  const Command c = ok({"lint-policy", "policy.json"});
  EXPECT_EQ(c.kind, CommandKind::lint_policy);
  EXPECT_EQ(c.policy_file, "policy.json");
  EXPECT_FALSE(c.json);
}

TEST(CommandLine, LintPolicyWithJson) {
  const Command c = ok({"lint-policy", "policy.json", "--json"});
  EXPECT_EQ(c.kind, CommandKind::lint_policy);
  EXPECT_TRUE(c.json);
}

TEST(CommandLine, Version) { EXPECT_EQ(ok({"--version"}).kind, CommandKind::version); }

TEST(CommandLine, LongHelp) { EXPECT_EQ(ok({"--help"}).kind, CommandKind::help); }

TEST(CommandLine, ShortHelp) { EXPECT_EQ(ok({"-h"}).kind, CommandKind::help); }

TEST(CommandLine, HelpWinsAnywhere) { EXPECT_EQ(ok({"check", "--help"}).kind, CommandKind::help); }

TEST(CommandLine, NoArgumentsIsAnError) { EXPECT_NE(error({}).find("--config"), std::string::npos); }

TEST(CommandLine, UnknownFlagIsNamed) { EXPECT_EQ(error({"--config", "p.toml", "--chek"}), "unknown argument '--chek'"); }

TEST(CommandLine, UnknownCommandIsNamed) { EXPECT_EQ(error({"serve"}), "unknown argument 'serve'"); }

TEST(CommandLine, ConfigWithoutFile) { EXPECT_EQ(error({"--config"}), "--config needs a FILE"); }

TEST(CommandLine, ConfigFollowedByFlagHasNoFile) { EXPECT_EQ(error({"--config", "--check"}), "--config needs a FILE"); }

TEST(CommandLine, ConfigEqualsEmpty) { EXPECT_EQ(error({"--config="}), "--config needs a FILE"); }

TEST(CommandLine, ConfigTwice) {
  EXPECT_EQ(error({"--config", "a.toml", "--config", "b.toml"}), "--config given more than once");
}

TEST(CommandLine, CheckFlagWithoutConfig) { EXPECT_EQ(error({"--check"}), "missing --config FILE"); }

TEST(CommandLine, JsonWithoutCommand) {
  EXPECT_NE(error({"--config", "p.toml", "--json"}).find("--json"), std::string::npos);
}
TEST(CommandLine, HealthcheckTakesTheConfig) {
  const Command c = ok({"healthcheck", "--config", "/etc/p.toml"});
  EXPECT_EQ(c.kind, CommandKind::healthcheck);
  EXPECT_EQ(c.config_path, "/etc/p.toml");
}

TEST(CommandLine, HealthcheckWithoutConfig) {
  EXPECT_EQ(error({"healthcheck"}), "healthcheck: missing --config FILE");
}

TEST(CommandLine, HealthcheckRejectsJson) {
  EXPECT_EQ(error({"healthcheck", "--config", "p.toml", "--json"}), "unknown argument '--json' for healthcheck");
}

TEST(CommandLine, CheckCommandWithoutConfig) { EXPECT_EQ(error({"check"}), "check: missing --config FILE"); }

TEST(CommandLine, CheckCommandRejectsCheckFlag) {
  EXPECT_EQ(error({"check", "--config", "p.toml", "--check"}), "unknown argument '--check' for check");
}

TEST(CommandLine, LintPolicyWithoutFile) { EXPECT_EQ(error({"lint-policy"}), "lint-policy: missing FILE"); }

TEST(CommandLine, LintPolicyWithTwoFiles) {
  EXPECT_EQ(error({"lint-policy", "a.json", "b.json"}), "lint-policy takes one FILE; unexpected 'b.json'");
}

TEST(CommandLine, LintPolicyUnknownFlag) {
  EXPECT_EQ(error({"lint-policy", "a.json", "--yaml"}), "unknown argument '--yaml' for lint-policy");
}

TEST(CommandLine, VersionTakesNoArguments) {
  EXPECT_EQ(error({"--version", "--config", "p.toml"}), "unexpected argument '--config' after --version");
}

TEST(CommandLine, UsageListsEveryForm) {
  const std::string u = usage();
  for (const char* form : {"s3-acl-proxy --config FILE ", "s3-acl-proxy --config FILE --check",
                           "s3-acl-proxy check --config FILE", "s3-acl-proxy lint-policy FILE",
                           "s3-acl-proxy healthcheck --config FILE",
                           "s3-acl-proxy --version | --help"})
    EXPECT_NE(u.find(form), std::string::npos) << form;
}

}  // namespace
}  // namespace s3proxy
