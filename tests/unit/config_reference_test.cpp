// The README's configuration reference and the example config, checked against the loader:
// the same keys both ways, and every documented default really is the default.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "s3proxy/config.hpp"

namespace s3proxy {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Row {
  std::string key;      // "section.key"
  std::string default_;  // the Default cell
};

// The rows of the table under "## Configuration reference": "| `section.key` | default | ...".
std::vector<Row> reference_rows() {
  const std::string readme = read_file(std::string(S3P_SOURCE_DIR) + "/README.md");
  const auto start = readme.find("\n## Configuration reference\n");
  if (start == std::string::npos) return {};
  const auto end = readme.find("\n## ", start + 1);
  std::istringstream section(readme.substr(start, end == std::string::npos ? std::string::npos : end - start));
  static const std::regex kRow(R"(^\| `([a-z_]+\.[a-z_]+)` \| ([^|]*[^| ]) +\|)");
  std::vector<Row> rows;
  for (std::string line; std::getline(section, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kRow)) rows.push_back({m[1], m[2]});
  }
  return rows;
}

std::set<std::string> documented_keys() {
  std::set<std::string> out;
  for (const auto& row : reference_rows()) out.insert(row.key);
  return out;
}

std::set<std::string> loader_keys() {
  const auto keys = config_keys();
  return {keys.begin(), keys.end()};
}

TEST(ConfigReference, ReadmeListsEveryKeyTheLoaderAccepts) {
  const auto documented = documented_keys();
  ASSERT_FALSE(documented.empty()) << "no \"## Configuration reference\" table found in README.md";
  for (const auto& key : loader_keys()) EXPECT_TRUE(documented.count(key)) << key << " is not in the README";
}

TEST(ConfigReference, ReadmeListsNoKeyTheLoaderRefuses) {
  const auto known = loader_keys();
  for (const auto& key : documented_keys()) EXPECT_TRUE(known.count(key)) << key << " is in the README only";
}

TEST(ConfigReference, ReadmeListsEachKeyOnce) {
  std::map<std::string, int> seen;
  for (const auto& row : reference_rows()) EXPECT_EQ(++seen[row.key], 1) << row.key << " is listed twice";
}

TEST(ConfigReference, ExampleConfigShowsEveryKey) {
  const std::string example = read_file(std::string(S3P_SOURCE_DIR) + "/conf/s3-acl-proxy.toml");
  ASSERT_FALSE(example.empty());
  for (const auto& dotted : config_keys()) {
    const std::string name = dotted.substr(dotted.find('.') + 1);
    const std::regex line("(^|\n)[# ]*" + name + " *= ");
    EXPECT_TRUE(std::regex_search(example, line)) << dotted << " is not shown in conf/s3-acl-proxy.toml";
  }
}

// The smallest valid file, with a line per section where a documented default is put in.
std::string minimal_config(const std::string& section, const std::string& line) {
  auto in = [&](const std::string& s) { return section == s ? line + "\n" : std::string(); };
  return "[server]\nlisten = \"127.0.0.1:8080\"\n" + in("server") +
         "[upstream]\nendpoint = \"https://s3.example.com\"\naccess_key_id = \"AKIAUPSTREAM0000\"\n"
         "secret_access_key = \"upstream-secret\"\n" +
         in("upstream") +
         "[[clients]]\naccess_key_id = \"AKIACLIENT000000\"\nsecret_access_key = \"client-secret\"\n" +
         in("clients") + "[acl]\n" + in("acl") + "[canary]\nbucket = \"media\"\n" + in("canary") + "[audit]\n" +
         in("audit");
}

std::string described(const std::string& toml) {
  const auto parsed = parse_config(toml, [](std::string_view) { return std::optional<std::string>(); }, "/");
  if (const auto* error = std::get_if<ConfigError>(&parsed)) return "error: " + error->to_string();
  return describe(std::get<Config>(parsed));
}

TEST(ConfigReference, EveryDocumentedDefaultIsTheDefault) {
  const std::string baseline = described(minimal_config("", ""));
  ASSERT_EQ(baseline.rfind("error", 0), std::string::npos) << baseline;
  int checked = 0;
  for (const auto& row : reference_rows()) {
    // Only defaults written as a TOML value ("`60s`"); "required", "none" and the like say
    // there is no single default value.
    if (row.default_.size() < 2 || row.default_.front() != '`' || row.default_.back() != '`') continue;
    const std::string value = row.default_.substr(1, row.default_.size() - 2);
    const std::string section = row.key.substr(0, row.key.find('.'));
    const std::string name = row.key.substr(row.key.find('.') + 1);
    EXPECT_EQ(described(minimal_config(section, name + " = " + value)), baseline)
        << row.key << " = " << value << " is documented as the default but changes the configuration";
    ++checked;
  }
  EXPECT_GE(checked, 20) << "too few documented defaults were checked; is the table still parsed?";
}

}  // namespace
}  // namespace s3proxy
