// Bucket-policy lint: which Deny statements refuse uploads, and why.
//
// IAM semantics followed here (AWS "IAM JSON policy elements" reference):
// action names are case-insensitive, resource ARNs case-sensitive, both take the
// wildcards * and ?; a Principal naming an account covers every identity in it; a
// condition key absent from the request makes a positive operator false and a negated
// one (StringNotEquals...) true, ...IfExists true, ForAllValues true, ForAnyValue false.
// Ceph RGW deviates in places (it treats StringLike "*" on an absent s3:x-amz-acl as a
// match and ignores Null); the lint reports what AWS does.
#include "s3proxy/policy_lint.hpp"

#include "s3proxy/text.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>

#include <boost/json.hpp>

namespace s3proxy {
namespace json = boost::json;
namespace {

constexpr std::string_view kPutObject = "s3:PutObject";
constexpr std::string_view kAclKey = "s3:x-amz-acl";
constexpr std::string_view kSecureTransportKey = "aws:SecureTransport";
// AWS partitions an object ARN may be written in; RGW uses "aws".
constexpr std::array<std::string_view, 3> kPartitions{"aws", "aws-cn", "aws-us-gov"};
constexpr std::string_view kUseConditionInstead =
    "deny with Principal \"*\" and a Condition ArnNotEquals on aws:PrincipalArn instead";

// ---- text -----------------------------------------------------------------------------

using text::ascii_lower;
using text::iequals;
using text::lower;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string bracketed(const std::vector<std::string>& items) { return "[" + join(items) + "]"; }

// ---- IAM wildcards --------------------------------------------------------------------
// A pattern is run as an automaton over its positions, so the same code answers "does
// this text match" and "can some text starting with this prefix match".

using Positions = std::vector<bool>;  // index i: pattern[0..i) has consumed the text so far

void skip_stars(std::string_view pattern, Positions& at) {
  for (std::size_t i = 0; i < pattern.size(); ++i)
    if (at[i] && pattern[i] == '*') at[i + 1] = true;
}

Positions positions_after(std::string_view pattern, std::string_view text, bool ignore_case) {
  Positions at(pattern.size() + 1, false);
  at[0] = true;
  skip_stars(pattern, at);
  for (const char c : text) {
    Positions next(pattern.size() + 1, false);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (!at[i]) continue;
      const char p = pattern[i];
      if (p == '*') next[i] = true;
      else if (p == '?' || p == c || (ignore_case && ascii_lower(p) == ascii_lower(c))) next[i + 1] = true;
    }
    skip_stars(pattern, next);
    at = std::move(next);
  }
  return at;
}

bool glob_match(std::string_view pattern, std::string_view text, bool ignore_case) {
  return positions_after(pattern, text, ignore_case).back();
}

bool any_glob_match(const std::vector<std::string>& patterns, std::string_view text, bool ignore_case) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_match(p, text, ignore_case); });
}

// Positions reachable after `prefix` whose rest of the pattern satisfies `rest_ok`.
template <class Pred>
bool some_position_after(std::string_view pattern, std::string_view prefix, Pred rest_ok) {
  const Positions at = positions_after(pattern, prefix, false);
  for (std::size_t i = 0; i < at.size(); ++i)
    if (at[i] && rest_ok(pattern.substr(i))) return true;
  return false;
}

std::string object_arn_prefix(std::string_view partition, std::string_view bucket) {
  std::string prefix = "arn:" + std::string(partition) + ":s3:::";
  if (!bucket.empty()) prefix += std::string(bucket) + "/";
  return prefix;
}

// Could the resource pattern name some object of the bucket (any bucket when unknown)?
bool may_name_an_object(std::string_view pattern, std::string_view bucket) {
  const auto rest_ok = [&](std::string_view rest) {
    // Known bucket: any rest can match some key. Unknown: the rest must still be able to
    // produce "/key", or the pattern names a bucket, not objects.
    return !bucket.empty() || rest.find_first_of("*?/") != std::string_view::npos;
  };
  return std::any_of(kPartitions.begin(), kPartitions.end(), [&](std::string_view partition) {
    return some_position_after(pattern, object_arn_prefix(partition, bucket), rest_ok);
  });
}

// Does the resource pattern name every object of the bucket (every object when unknown)?
bool names_every_object(std::string_view pattern, std::string_view bucket) {
  const auto only_stars = [](std::string_view rest) {
    return !rest.empty() && rest.find_first_not_of('*') == std::string_view::npos;
  };
  return std::any_of(kPartitions.begin(), kPartitions.end(), [&](std::string_view partition) {
    return some_position_after(pattern, object_arn_prefix(partition, bucket), only_stars);
  });
}

// ---- principals -----------------------------------------------------------------------

struct Arn {
  std::string partition, service, account, resource;
};

std::optional<Arn> parse_arn(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const auto colon = text.find(':', start);
    if (colon == std::string_view::npos) return std::nullopt;
    parts.emplace_back(text.substr(start, colon - start));
    start = colon + 1;
  }
  if (parts[0] != "arn") return std::nullopt;
  return Arn{parts[1], parts[2], parts[4], std::string(text.substr(start))};
}

// The Principal entries that name this identity: its ARN, its account (as an id or a
// root ARN), and for an assumed-role session the role it came from.
std::vector<std::string> identity_aliases(std::string_view identity) {
  std::vector<std::string> aliases{std::string(identity)};
  const auto arn = parse_arn(identity);
  if (!arn) return aliases;
  if (!arn->account.empty()) {
    aliases.push_back(arn->account);
    aliases.push_back("arn:" + arn->partition + ":iam::" + arn->account + ":root");
  }
  constexpr std::string_view kAssumedRole = "assumed-role/";
  if (arn->service == "sts" && arn->resource.starts_with(kAssumedRole)) {
    const std::string rest = arn->resource.substr(kAssumedRole.size());
    aliases.push_back("arn:" + arn->partition + ":iam::" + arn->account + ":role/" + rest.substr(0, rest.find('/')));
  }
  return aliases;
}

struct PrincipalSpec {
  enum class Kind { absent, principal, not_principal } kind = Kind::absent;
  bool everyone = false;                // "*" or {"AWS": "*"}
  std::vector<std::string> aws;         // ARNs and account ids
  std::vector<std::string> canonical;   // CanonicalUser ids: may be the identity when it is unknown
  std::vector<std::string> services;    // Service, Federated: never an upstream access key
};

bool names_identity(const PrincipalSpec& spec, std::string_view identity) {
  if (spec.everyone) return true;
  if (identity.empty()) return !spec.aws.empty() || !spec.canonical.empty();
  const auto aliases = identity_aliases(identity);
  return std::any_of(spec.aws.begin(), spec.aws.end(), [&](const std::string& entry) {
    return std::find(aliases.begin(), aliases.end(), entry) != aliases.end();
  });
}

enum class PrincipalScope {
  applies,             // the Deny covers the identity
  may_apply,           // identity unknown, the Deny names particular principals
  exempt_by_exact_arn, // NotPrincipal lists the identity: exempt, but fragile
  elsewhere,           // the Deny is for someone else
};

PrincipalScope principal_scope(const PrincipalSpec& spec, std::string_view identity) {
  switch (spec.kind) {
    case PrincipalSpec::Kind::absent: return PrincipalScope::applies;
    case PrincipalSpec::Kind::principal:
      if (identity.empty() && !spec.everyone && names_identity(spec, identity)) return PrincipalScope::may_apply;
      return names_identity(spec, identity) ? PrincipalScope::applies : PrincipalScope::elsewhere;
    case PrincipalSpec::Kind::not_principal:
      if (spec.everyone) return PrincipalScope::elsewhere;
      if (identity.empty()) return PrincipalScope::applies;  // unknown: assume it is not listed
      return std::find(spec.aws.begin(), spec.aws.end(), identity) != spec.aws.end()
                 ? PrincipalScope::exempt_by_exact_arn
                 : PrincipalScope::applies;
  }
  return PrincipalScope::applies;
}

std::string listed_principals(const PrincipalSpec& spec) {
  std::vector<std::string> all = spec.aws;
  all.insert(all.end(), spec.canonical.begin(), spec.canonical.end());
  all.insert(all.end(), spec.services.begin(), spec.services.end());
  return bracketed(all);
}

// ---- conditions -----------------------------------------------------------------------

struct ConditionClause {
  std::string op;   // as written, e.g. "ForAnyValue:StringEquals"
  std::string key;  // as written, e.g. "s3:x-amz-acl"
  std::vector<std::string> values;
};

// What the lint knows about one request reaching the storage.
struct RequestFacts {
  std::optional<std::string> acl;  // x-amz-acl, absent when the app sends none or the proxy strips it
  bool secure_transport = true;
};

enum class Truth { no, yes, unknown };

struct Operator {
  enum class Set { none, any_value, all_values } set = Set::none;
  std::string base;  // lower-case, without set prefix and IfExists suffix
  bool if_exists = false;
  bool negated = false;
};

Operator split_operator(std::string_view name) {
  Operator op;
  std::string text = lower(name);
  constexpr std::string_view kAny = "foranyvalue:", kAll = "forallvalues:", kIfExists = "ifexists";
  if (text.starts_with(kAny)) {
    op.set = Operator::Set::any_value;
    text.erase(0, kAny.size());
  } else if (text.starts_with(kAll)) {
    op.set = Operator::Set::all_values;
    text.erase(0, kAll.size());
  }
  if (text.ends_with(kIfExists)) {
    op.if_exists = true;
    text.erase(text.size() - kIfExists.size());
  }
  op.negated = text.find("not") != std::string::npos;
  op.base = std::move(text);
  return op;
}

// The value of a key the lint models; nullopt in `known` when the key is something else.
std::optional<std::string> fact_for(std::string_view key, const RequestFacts& facts, bool& known) {
  known = true;
  if (iequals(key, kAclKey)) return facts.acl;
  if (iequals(key, kSecureTransportKey)) return std::string(facts.secure_transport ? "true" : "false");
  known = false;
  return std::nullopt;
}

// The operators the lint evaluates; others (IpAddress, ArnLike, Numeric..., Date...) never
// apply to the two keys it models, so they leave the result unknown.
constexpr std::array<std::string_view, 8> kModelledOperators{
    "stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase",
    "stringlike",   "stringnotlike",   "bool",                   "null"};

bool modelled(const Operator& op) {
  return std::find(kModelledOperators.begin(), kModelledOperators.end(), op.base) != kModelledOperators.end();
}

// Does a present value satisfy the operator, before negation?
bool positive_match(const std::string& base, const std::string& value, const std::vector<std::string>& wanted) {
  auto any = [&](auto&& eq) { return std::any_of(wanted.begin(), wanted.end(), eq); };
  if (base == "stringlike" || base == "stringnotlike")
    return any([&](const std::string& w) { return glob_match(w, value, false); });
  if (base == "stringequals" || base == "stringnotequals")
    return any([&](const std::string& w) { return w == value; });
  return any([&](const std::string& w) { return iequals(w, value); });  // ...IgnoreCase, Bool
}

Truth evaluate_null(const ConditionClause& clause, const std::optional<std::string>& value) {
  const bool wants_absent = std::any_of(clause.values.begin(), clause.values.end(),
                                        [](const std::string& v) { return iequals(v, "true"); });
  return (value.has_value() != wants_absent) ? Truth::yes : Truth::no;
}

Truth evaluate_absent(const Operator& op) {
  if (op.set == Operator::Set::all_values) return Truth::yes;
  if (op.set == Operator::Set::any_value) return Truth::no;
  return (op.if_exists || op.negated) ? Truth::yes : Truth::no;
}

Truth evaluate_clause(const ConditionClause& clause, const RequestFacts& facts) {
  bool known = false;
  const auto value = fact_for(clause.key, facts, known);
  if (!known) return Truth::unknown;
  const Operator op = split_operator(clause.op);
  if (!modelled(op)) return Truth::unknown;
  if (op.base == "null") return evaluate_null(clause, value);
  if (!value) return evaluate_absent(op);
  return (positive_match(op.base, *value, clause.values) != op.negated) ? Truth::yes : Truth::no;
}

// Every clause must hold: a definite "no" wins over "unknown".
Truth evaluate_condition(const std::vector<ConditionClause>& clauses, const RequestFacts& facts) {
  Truth result = Truth::yes;
  for (const auto& clause : clauses) {
    const Truth t = evaluate_clause(clause, facts);
    if (t == Truth::no) return Truth::no;
    if (t == Truth::unknown) result = Truth::unknown;
  }
  return result;
}

bool mentions_key(const std::vector<ConditionClause>& clauses, std::string_view key) {
  return std::any_of(clauses.begin(), clauses.end(), [&](const ConditionClause& c) { return iequals(c.key, key); });
}

std::vector<std::string> other_keys(const std::vector<ConditionClause>& clauses) {
  std::vector<std::string> keys;
  for (const auto& c : clauses)
    if (!iequals(c.key, kAclKey) && !iequals(c.key, kSecureTransportKey)) keys.push_back(c.key);
  return keys;
}

std::string describe_clauses(const std::vector<ConditionClause>& clauses, std::string_view key) {
  std::string out;
  for (const auto& c : clauses)
    if (iequals(c.key, key)) out += (out.empty() ? "" : " and ") + c.op + " " + c.key + " " + bracketed(c.values);
  return out;
}

// The Deny's condition over the requests the storage may see.
struct ConditionOutcome {
  std::vector<std::string> denied_acls;  // ACLs the app sends whose uploads are refused
  bool denies_without_acl = false;       // uploads without x-amz-acl (mode strip) are refused
  bool uncertain = false;                // depends on keys the lint cannot know

  [[nodiscard]] bool denies_some() const { return denies_without_acl || !denied_acls.empty(); }
};

ConditionOutcome condition_outcome(const std::vector<ConditionClause>& clauses, const LintContext& ctx) {
  ConditionOutcome out;
  auto record = [&](Truth t, const std::optional<std::string>& acl) {
    if (t == Truth::unknown) out.uncertain = true;
    if (t != Truth::yes) return;
    if (acl) out.denied_acls.push_back(*acl);
    else out.denies_without_acl = true;
  };
  for (const auto& acl : ctx.acl_values_sent)
    record(evaluate_condition(clauses, {acl, ctx.upstream_is_https}), acl);
  record(evaluate_condition(clauses, {std::nullopt, ctx.upstream_is_https}), std::nullopt);
  return out;
}

// ---- statements -----------------------------------------------------------------------

struct Statement {
  std::string name;  // Sid or Statement[i]
  bool deny = false;
  std::vector<std::string> actions;
  bool not_action = false;
  std::vector<std::string> resources;
  bool not_resource = false;
  bool has_resource = false;
  PrincipalSpec principal;
  std::vector<ConditionClause> condition;
};

Failure invalid(std::string_view where, std::string_view what) {
  return Failure{S3Error::InvalidArgument, "not a valid bucket policy: " + std::string(where) + ": " + std::string(what)};
}

// Condition values may be strings, booleans or numbers; IAM compares them as text.
std::optional<std::string> scalar_text(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  if (const auto* b = v.if_bool()) return std::string(*b ? "true" : "false");
  if (v.is_number()) return json::serialize(v);
  return std::nullopt;
}

// A string or an array of strings (Action, Resource, Principal entries, condition values).
Result<std::vector<std::string>> text_list(const json::value& v, std::string_view where, bool scalars) {
  std::vector<std::string> out;
  auto take = [&](const json::value& item) {
    auto text = scalars ? scalar_text(item) : (item.is_string() ? std::optional<std::string>(item.get_string()) : std::nullopt);
    if (text) out.push_back(std::move(*text));
    return text.has_value();
  };
  if (const auto* arr = v.if_array()) {
    for (const auto& item : *arr)
      if (!take(item)) return invalid(where, scalars ? "expected strings" : "expected a string or a list of strings");
    return out;
  }
  if (!take(v)) return invalid(where, scalars ? "expected a value or a list" : "expected a string or a list of strings");
  return out;
}

Result<PrincipalSpec> parse_principal(const json::value& v, PrincipalSpec::Kind kind, const std::string& where) {
  PrincipalSpec spec;
  spec.kind = kind;
  if (const auto* s = v.if_string()) {
    if (*s == "*") spec.everyone = true;
    else spec.aws.emplace_back(*s);
    return spec;
  }
  const auto* obj = v.if_object();
  if (!obj) return invalid(where, "expected \"*\" or an object such as {\"AWS\": ...}");
  for (const auto& [type, value] : *obj) {
    auto entries = text_list(value, where + "." + std::string(type), false);
    if (!entries) return entries.failure();
    for (auto& entry : entries.value()) {
      if (iequals(type, "AWS") && entry == "*") spec.everyone = true;
      else if (iequals(type, "AWS")) spec.aws.push_back(std::move(entry));
      else if (iequals(type, "CanonicalUser")) spec.canonical.push_back(std::move(entry));
      else spec.services.push_back(std::move(entry));
    }
  }
  return spec;
}

Result<std::vector<ConditionClause>> parse_condition(const json::value& v, const std::string& where) {
  const auto* ops = v.if_object();
  if (!ops) return invalid(where, "expected an object of operators");
  std::vector<ConditionClause> clauses;
  for (const auto& [op, keys_value] : *ops) {
    const auto* keys = keys_value.if_object();
    if (!keys) return invalid(where + "." + std::string(op), "expected an object of condition keys");
    for (const auto& [key, values] : *keys) {
      auto list = text_list(values, where + "." + std::string(op) + "." + std::string(key), true);
      if (!list) return list.failure();
      clauses.push_back({std::string(op), std::string(key), std::move(list.value())});
    }
  }
  return clauses;
}

// Exactly one of Name / NotName (IAM refuses both); absent is allowed when !required.
Result<const json::value*> one_of(const json::object& stmt, std::string_view name, std::string_view not_name,
                                  const std::string& where, bool required, bool& is_not) {
  const auto* plain = stmt.if_contains(name);
  const auto* inverted = stmt.if_contains(not_name);
  if (plain && inverted) return invalid(where, "has both " + std::string(name) + " and " + std::string(not_name));
  if (!plain && !inverted && required) return invalid(where, "needs " + std::string(name) + " or " + std::string(not_name));
  is_not = inverted != nullptr;
  return plain ? plain : inverted;
}

std::string statement_name(const json::object& stmt, std::size_t index) {
  if (const auto* sid = stmt.if_contains("Sid"); sid && sid->is_string() && !sid->get_string().empty())
    return std::string(sid->get_string());
  return "Statement[" + std::to_string(index) + "]";
}

Result<bool> parse_effect(const json::object& stmt, const std::string& where) {
  const auto* effect = stmt.if_contains("Effect");
  if (effect && effect->is_string() && effect->get_string() == "Deny") return true;
  if (effect && effect->is_string() && effect->get_string() == "Allow") return false;
  return invalid(where, "Effect must be \"Allow\" or \"Deny\"");
}

Result<bool> parse_scope(const json::object& stmt, Statement& s) {
  auto action = one_of(stmt, "Action", "NotAction", s.name, true, s.not_action);
  if (!action) return action.failure();
  auto actions = text_list(*action.value(), s.name + (s.not_action ? ".NotAction" : ".Action"), false);
  if (!actions) return actions.failure();
  s.actions = std::move(actions.value());

  auto resource = one_of(stmt, "Resource", "NotResource", s.name, false, s.not_resource);
  if (!resource) return resource.failure();
  s.has_resource = resource.value() != nullptr;
  if (s.has_resource) {
    auto resources = text_list(*resource.value(), s.name + (s.not_resource ? ".NotResource" : ".Resource"), false);
    if (!resources) return resources.failure();
    s.resources = std::move(resources.value());
  }
  return true;
}

Result<bool> parse_who_and_when(const json::object& stmt, Statement& s) {
  bool not_principal = false;
  auto principal = one_of(stmt, "Principal", "NotPrincipal", s.name, false, not_principal);
  if (!principal) return principal.failure();
  if (principal.value()) {
    const auto kind = not_principal ? PrincipalSpec::Kind::not_principal : PrincipalSpec::Kind::principal;
    auto spec = parse_principal(*principal.value(), kind, s.name + (not_principal ? ".NotPrincipal" : ".Principal"));
    if (!spec) return spec.failure();
    s.principal = std::move(spec.value());
  }
  if (const auto* condition = stmt.if_contains("Condition")) {
    auto clauses = parse_condition(*condition, s.name + ".Condition");
    if (!clauses) return clauses.failure();
    s.condition = std::move(clauses.value());
  }
  return true;
}

Result<Statement> parse_statement(const json::value& v, std::size_t index) {
  const auto* stmt = v.if_object();
  if (!stmt) return invalid("Statement[" + std::to_string(index) + "]", "expected an object");
  Statement s;
  s.name = statement_name(*stmt, index);
  auto effect = parse_effect(*stmt, s.name);
  if (!effect) return effect.failure();
  s.deny = effect.value();
  if (auto scope = parse_scope(*stmt, s); !scope) return scope.failure();
  if (auto rest = parse_who_and_when(*stmt, s); !rest) return rest.failure();
  return s;
}

Result<std::vector<Statement>> parse_policy(std::string_view text) {
  boost::system::error_code ec;
  const json::value doc = json::parse(text, ec);
  if (ec) return Failure{S3Error::InvalidArgument, "not valid JSON: " + ec.message()};
  const auto* policy = doc.if_object();
  if (!policy) return invalid("policy", "expected a JSON object");
  const auto* statement = policy->if_contains("Statement");
  if (!statement) return invalid("policy", "has no Statement");
  std::vector<Statement> out;
  if (const auto* list = statement->if_array()) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto s = parse_statement((*list)[i], i);
      if (!s) return s.failure();
      out.push_back(std::move(s.value()));
    }
    return out;
  }
  auto s = parse_statement(*statement, 0);
  if (!s) return s.failure();
  out.push_back(std::move(s.value()));
  return out;
}

// ---- analysis -------------------------------------------------------------------------

bool covers_put_object(const Statement& s) {
  const bool listed = any_glob_match(s.actions, kPutObject, true);
  return s.not_action ? !listed : listed;
}

bool covers_bucket_objects(const Statement& s, std::string_view bucket) {
  if (!s.has_resource) return true;
  if (s.not_resource)
    return std::none_of(s.resources.begin(), s.resources.end(),
                        [&](const std::string& r) { return names_every_object(r, bucket); });
  return std::any_of(s.resources.begin(), s.resources.end(),
                     [&](const std::string& r) { return may_name_an_object(r, bucket); });
}

std::string action_phrase(const Statement& s) {
  return s.not_action ? "every action except " + bracketed(s.actions) : bracketed(s.actions);
}

// The actions, saying that s3:PutObject is among them when only a wildcard shows it.
std::string covered_actions(const Statement& s) {
  const bool literal = !s.not_action && std::any_of(s.actions.begin(), s.actions.end(),
                                                    [](const std::string& a) { return iequals(a, kPutObject); });
  return action_phrase(s) + (literal ? "" : " (s3:PutObject included)");
}

std::string who_phrase(const Statement& s, const LintContext& ctx) {
  if (s.principal.everyone || s.principal.kind == PrincipalSpec::Kind::absent) return "every principal";
  if (!ctx.principal_arn.empty()) return ctx.principal_arn;
  return listed_principals(s.principal) + " (if that is the upstream identity)";
}

std::string not_principal_message(const Statement& s, const LintContext& ctx) {
  std::string text = "Deny with NotPrincipal " + listed_principals(s.principal) + " refuses " + covered_actions(s) +
                     " to every principal not listed, ";
  text += ctx.principal_arn.empty() ? std::string("so uploads get 403 AccessDenied unless the upstream identity is "
                                                  "exactly one of those ARNs; ")
                                    : "and " + ctx.principal_arn + " is not listed, so every upload gets 403 "
                                      "AccessDenied; ";
  return text + std::string(kUseConditionInstead) + ".";
}

std::string exempt_message(const Statement& s, const LintContext& ctx) {
  std::string account_note;
  const auto arn = parse_arn(ctx.principal_arn);
  if (arn && !arn->account.empty()) {
    const std::string root = "arn:" + arn->partition + ":iam::" + arn->account + ":root";
    if (std::find(s.principal.aws.begin(), s.principal.aws.end(), root) == s.principal.aws.end())
      account_note = " (" + root + ", not listed)";
  }
  return "Deny with NotPrincipal " + listed_principals(s.principal) + " exempts " + ctx.principal_arn +
         " from s3:PutObject only by its exact ARN, but AWS also evaluates the account ARN" + account_note +
         " and, for a role, the assumed-role session ARN, so uploads may still get 403 AccessDenied; " +
         std::string(kUseConditionInstead) + ".";
}

std::string not_action_message(const Statement& s, const LintContext& ctx) {
  return "Deny with NotAction " + bracketed(s.actions) + " refuses every other action, s3:PutObject included, for " +
         who_phrase(s, ctx) +
         ", so every upload gets 403 AccessDenied; add s3:PutObject to NotAction or list the denied actions in "
         "Action instead.";
}

std::string put_object_message(const Statement& s, const LintContext& ctx) {
  return "Deny on " + covered_actions(s) + " for " + who_phrase(s, ctx) +
         " refuses every upload with 403 AccessDenied, even where an Allow grants it (an explicit Deny wins); remove "
         "the statement or narrow its Action, Principal or Resource.";
}

std::string acl_message(const Statement& s, const LintContext& ctx, const ConditionOutcome& when) {
  const std::string head = "Deny on " + action_phrase(s) + " when " + describe_clauses(s.condition, kAclKey);
  if (when.denies_without_acl && !when.denied_acls.empty())
    return head + " refuses uploads with and without an ACL header, so every upload gets 403 AccessDenied in "
                  "either proxy mode; remove the statement or make the app send an ACL it accepts and use mode audit.";
  if (when.denies_without_acl)
    return head + " refuses uploads without an ACL header (what mode strip sends) with 403 AccessDenied; use mode "
                  "audit with an ACL the statement accepts, or remove the statement.";
  if (!when.denied_acls.empty())
    return head + " refuses uploads sent with x-amz-acl " + bracketed(when.denied_acls) +
           " with 403 AccessDenied; run s3-acl-proxy in mode strip, or set S3_PERMISSION to the empty string.";
  return head + " matches neither the ACL the app sends " + bracketed(ctx.acl_values_sent) +
         " nor uploads without an ACL, so it blocks nothing now; it would if S3_PERMISSION changed.";
}

std::string transport_message(const Statement& s, const ConditionOutcome& when) {
  const std::string head = "Deny on " + action_phrase(s) + " when " + describe_clauses(s.condition, kSecureTransportKey);
  if (when.denies_some())
    return head + " refuses every upload the proxy sends to its plain-http upstream with 403 AccessDenied; use an "
                  "https upstream endpoint.";
  return head + " only refuses plain-http requests and the proxy's upstream is https, so it blocks nothing; keep "
                "the upstream endpoint on https.";
}

std::string conditional_message(const Statement& s) {
  std::vector<std::string> keys;
  for (const auto& c : s.condition) keys.push_back(c.key);
  return "Deny on " + action_phrase(s) + " with a Condition on " + bracketed(keys) +
         " may refuse uploads with 403 AccessDenied depending on the request; check that no upload the app makes "
         "(through the proxy, with or without an ACL) satisfies it.";
}

Severity condition_severity(const ConditionOutcome& when) {
  if (when.denies_some()) return Severity::blocking;
  return when.uncertain ? Severity::warning : Severity::info;
}

// A Deny with a Condition: the condition decides whether and how it blocks.
PolicyFinding conditional_finding(const Statement& s, const LintContext& ctx, const ConditionOutcome& when) {
  PolicyFinding f{condition_severity(when), s.name, "deny-conditional", conditional_message(s)};
  if (when.uncertain && !when.denies_some()) return f;
  if (mentions_key(s.condition, kAclKey)) {
    f.rule = "deny-acl-condition";
    f.message = acl_message(s, ctx, when);
  } else if (mentions_key(s.condition, kSecureTransportKey) && other_keys(s.condition).empty()) {
    f.rule = "deny-insecure-transport";
    f.message = transport_message(s, when);
  }
  return f;
}

// An unconditional Deny that covers the identity's uploads.
PolicyFinding unconditional_finding(const Statement& s, const LintContext& ctx) {
  if (s.principal.kind == PrincipalSpec::Kind::not_principal)
    return {Severity::blocking, s.name, "deny-not-principal", not_principal_message(s, ctx)};
  if (s.not_action) return {Severity::blocking, s.name, "deny-not-action", not_action_message(s, ctx)};
  return {Severity::blocking, s.name, "deny-put-object", put_object_message(s, ctx)};
}

std::optional<PolicyFinding> analyse_deny(const Statement& s, const LintContext& ctx) {
  if (!covers_put_object(s) || !covers_bucket_objects(s, ctx.bucket)) return std::nullopt;
  const PrincipalScope who = principal_scope(s.principal, ctx.principal_arn);
  if (who == PrincipalScope::elsewhere) return std::nullopt;
  const ConditionOutcome when = condition_outcome(s.condition, ctx);
  const bool never = !when.denies_some() && !when.uncertain;
  if (who == PrincipalScope::exempt_by_exact_arn && !never)
    return PolicyFinding{Severity::warning, s.name, "deny-not-principal", exempt_message(s, ctx)};
  if (who == PrincipalScope::exempt_by_exact_arn) return std::nullopt;
  PolicyFinding f = s.condition.empty() ? unconditional_finding(s, ctx) : conditional_finding(s, ctx, when);
  if (who == PrincipalScope::may_apply) f.severity = std::min(f.severity, Severity::warning);
  return f;
}

// ---- suspension privacy ----------------------------------------------------------------

constexpr std::string_view kGetObject = "s3:GetObject";
constexpr std::string_view kExistingObjectTag = "s3:ExistingObjectTag/";

bool covers_get_object(const Statement& s) {
  const bool listed = any_glob_match(s.actions, kGetObject, true);
  return s.not_action ? !listed : listed;
}

// A Deny the public is subject to: Principal "*", no Principal, or NotPrincipal.
bool applies_to_everyone(const PrincipalSpec& p) {
  return p.kind == PrincipalSpec::Kind::absent || p.kind == PrincipalSpec::Kind::not_principal || p.everyone;
}

// The tag clauses of a condition: positive comparisons of s3:ExistingObjectTag/KEY.
std::vector<const ConditionClause*> tag_clauses(const Statement& s) {
  std::vector<const ConditionClause*> out;
  for (const auto& c : s.condition) {
    if (!text::istarts_with(c.key, kExistingObjectTag)) continue;
    if (split_operator(c.op).negated) continue;
    out.push_back(&c);
  }
  return out;
}

std::string tag_key_of(const ConditionClause& c) { return c.key.substr(kExistingObjectTag.size()); }

bool clause_matches_tag(const ConditionClause& c, std::string_view key, std::string_view value) {
  if (tag_key_of(c) != key) return false;
  const Operator op = split_operator(c.op);
  return positive_match(op.base, std::string(value), c.values);
}

// The user name in a user ARN ("arn:aws:iam::123:user/path/name" -> "name").
std::optional<std::string> arn_user_name(std::string_view identity) {
  const auto arn = parse_arn(identity);
  if (!arn || !arn->resource.starts_with("user/")) return std::nullopt;
  return arn->resource.substr(arn->resource.rfind('/') + 1);
}

// How the statement exempts the identity from its Deny; empty when it does not.
std::string exemption_of(const Statement& s, const LintContext& ctx) {
  if (s.principal.kind == PrincipalSpec::Kind::not_principal) {
    if (ctx.principal_arn.empty() || names_identity(PrincipalSpec{PrincipalSpec::Kind::principal, false, s.principal.aws, {}, {}},
                                                    ctx.principal_arn))
      return "NotPrincipal " + listed_principals(s.principal);
    return {};
  }
  for (const auto& c : s.condition) {
    const Operator op = split_operator(c.op);
    if (!op.negated || op.set != Operator::Set::none) continue;
    const bool by_name = iequals(c.key, "aws:username");
    const bool by_arn = iequals(c.key, "aws:PrincipalArn") || iequals(c.key, "aws:userid");
    if (!by_name && !by_arn) continue;
    if (!ctx.principal_arn.empty()) {
      const auto name = arn_user_name(ctx.principal_arn);
      const std::string wanted = by_name ? name.value_or("") : ctx.principal_arn;
      if (iequals(c.key, "aws:userid") || wanted.empty()) continue;
      if (!any_glob_match(c.values, wanted, false)) continue;
    }
    return c.op + " " + c.key + " " + bracketed(c.values);
  }
  return {};
}

// A Deny of s3:GetObject on tagged objects of the bucket, for everyone.
bool is_tag_deny(const Statement& s, const LintContext& ctx) {
  return s.deny && covers_get_object(s) && covers_bucket_objects(s, ctx.bucket) && applies_to_everyone(s.principal) &&
         !tag_clauses(s).empty();
}

std::optional<PolicyFinding> analyse_tag_deny(const Statement& s, const LintContext& ctx) {
  if (!is_tag_deny(s, ctx)) return std::nullopt;
  std::vector<std::string> tags;
  for (const auto* c : tag_clauses(s)) tags.push_back(tag_key_of(*c) + "=" + join(c->values));
  const std::string exemption = exemption_of(s, ctx);
  const std::string what = "Deny on s3:GetObject of objects tagged " + bracketed(tags);
  if (!exemption.empty()) {
    const std::string lowered = lower(exemption);
    const std::string note = lowered.find("aws:principalarn") != std::string::npos ||
                                     lowered.find("aws:userid") != std::string::npos
                                 ? " (Ceph RGW 16 does not evaluate aws:PrincipalArn or aws:userid: there, exempt it with "
                             "StringNotEquals aws:username)"
                           : "";
    return PolicyFinding{Severity::info, s.name, "suspension-privacy",
                         what + " keeps those objects private and exempts the upstream identity by " + exemption +
                             note + "; s3-acl-proxy's acl_requests = \"tag\" relies on it."};
  }
  return PolicyFinding{Severity::warning, s.name, "suspension-locks-out-proxy",
                       what + " refuses them to every principal, the upstream identity included: the proxy's own GET "
                              "and HEAD (verify_writes, the canary, the application's reads of suspended media) get "
                              "403; exempt it with ArnNotEquals aws:PrincipalArn (AWS) or StringNotEquals aws:username "
                              "(Ceph RGW, MinIO), as `s3-acl-proxy policy` prints."};
}

}  // namespace

std::string_view suspension_state_name(SuspensionDeny::State s) {
  switch (s) {
    case SuspensionDeny::State::absent: return "absent";
    case SuspensionDeny::State::in_force: return "in_force";
    case SuspensionDeny::State::locks_out_proxy: return "locks_out_proxy";
  }
  return "absent";
}

Result<SuspensionDeny> find_suspension_deny(std::string_view policy_json, const LintContext& context,
                                            std::string_view tag_key, std::string_view tag_value) {
  auto statements = parse_policy(policy_json);
  if (!statements) return statements.failure();
  SuspensionDeny found;
  for (const auto& s : statements.value()) {
    if (!is_tag_deny(s, context)) continue;
    const auto clauses = tag_clauses(s);
    if (std::none_of(clauses.begin(), clauses.end(),
                     [&](const ConditionClause* c) { return clause_matches_tag(*c, tag_key, tag_value); }))
      continue;
    const std::string exemption = exemption_of(s, context);
    if (!exemption.empty()) return SuspensionDeny{SuspensionDeny::State::in_force, s.name, exemption};
    if (found.state == SuspensionDeny::State::absent) found = {SuspensionDeny::State::locks_out_proxy, s.name, {}};
  }
  return found;
}

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::blocking: return "blocking";
  }
  return "info";
}

bool PolicyLintResult::blocks_uploads() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const PolicyFinding& f) { return f.severity == Severity::blocking; });
}

bool PolicyLintResult::needs_attention() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const PolicyFinding& f) { return f.severity != Severity::info; });
}

Result<PolicyLintResult> lint_policy(std::string_view policy_json, const LintContext& context) {
  auto statements = parse_policy(policy_json);
  if (!statements) return statements.failure();
  PolicyLintResult result;
  for (const auto& s : statements.value()) {
    if (!s.deny) continue;
    if (auto finding = analyse_deny(s, context)) result.findings.push_back(std::move(*finding));
    if (auto finding = analyse_tag_deny(s, context)) result.findings.push_back(std::move(*finding));
  }
  return result;
}

namespace {

std::size_t count(const PolicyLintResult& r, Severity s) {
  return static_cast<std::size_t>(
      std::count_if(r.findings.begin(), r.findings.end(), [&](const PolicyFinding& f) { return f.severity == s; }));
}

std::string verdict(const PolicyLintResult& r) {
  const std::size_t blocking = count(r, Severity::blocking), warnings = count(r, Severity::warning);
  if (blocking > 0)
    return "verdict: BLOCKED: " + std::to_string(blocking) + " statement(s) refuse uploads";
  if (warnings > 0)
    return "verdict: REVIEW: " + std::to_string(warnings) + " statement(s) may refuse uploads";
  return "verdict: OK: no statement refuses uploads";
}

}  // namespace

std::string render_report(const PolicyLintResult& result) {
  std::ostringstream out;
  for (const auto& f : result.findings) {
    std::string severity(severity_name(f.severity));
    severity.resize(8, ' ');
    out << severity << "  " << f.statement << "  " << f.rule << ": " << f.message << "\n";
  }
  out << verdict(result) << "\n";
  return out.str();
}

std::string render_json(const PolicyLintResult& result) {
  json::array findings;
  for (const auto& f : result.findings)
    findings.push_back(json::object{{"severity", severity_name(f.severity)},
                                    {"statement", f.statement},
                                    {"rule", f.rule},
                                    {"message", f.message}});
  return json::serialize(json::object{{"findings", std::move(findings)}, {"blocks_uploads", result.blocks_uploads()}});
}

namespace {

constexpr int kLintClean = 0;
constexpr int kLintFinding = 1;
constexpr int kLintUnreadable = 2;

Result<std::string> read_policy_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Failure{S3Error::InvalidArgument, "is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Failure{S3Error::InvalidArgument, "cannot open the file"};
  std::string text(kMaxPolicyFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Failure{S3Error::InvalidArgument, "cannot read the file"};
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxPolicyFileBytes)
    return Failure{S3Error::InvalidArgument,
                   "larger than " + std::to_string(kMaxPolicyFileBytes) + " bytes, not a bucket policy"};
  return text;
}

}  // namespace

int run_lint_policy_command(const std::string& path, bool json, const LintContext& context, std::ostream& out,
                            std::ostream& err) {
  auto text = read_policy_file(path);
  if (!text) {
    err << "s3-acl-proxy: lint-policy: " << path << ": " << text.failure().message << "\n";
    return kLintUnreadable;
  }
  auto result = lint_policy(text.value(), context);
  if (!result) {
    err << "s3-acl-proxy: lint-policy: " << path << ": " << result.failure().message << "\n";
    return kLintUnreadable;
  }
  out << (json ? render_json(result.value()) + "\n" : render_report(result.value()));
  return result->needs_attention() ? kLintFinding : kLintClean;
}

int run_lint_policy_command(const std::string& path, bool json, std::ostream& out, std::ostream& err) {
  return run_lint_policy_command(path, json, LintContext{}, out, err);
}

}  // namespace s3proxy
