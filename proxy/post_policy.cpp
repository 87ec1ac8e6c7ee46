#include "s3proxy/post_policy.hpp"

#include "s3proxy/crypto.hpp"
#include "s3proxy/s3_request.hpp"
#include "s3proxy/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace s3proxy::post {

namespace json = boost::json;

namespace {

constexpr std::string_view kFilenameVariable = "${filename}";

Failure invalid_policy(std::string_view why) {
  return Failure{S3Error::InvalidPolicyDocument, fmt::format("Invalid Policy: {}", why)};
}

Failure missing_field(std::string_view name) {
  return Failure{S3Error::InvalidArgument,
                 fmt::format("Bucket POST must contain a field named '{}'.  If it is specified, please check the "
                             "order of the fields.",
                             name)};
}

Failure policy_refusal(std::string_view why) {
  return Failure{S3Error::AccessDenied, fmt::format("Invalid according to Policy: {}", why)};
}

std::string_view value_of(const FormHead& form, std::string_view name) {
  const Field* f = find_field(form.fields, name);
  return f ? std::string_view(f->value) : std::string_view{};
}

// The S3 name of an ACL field in headers and in the audit line.
std::string acl_header_name(std::string_view lower_field) {
  return lower_field == kAclField ? std::string("x-amz-acl") : std::string(lower_field);
}

Result<sigv4::Credential> parse_credential(std::string_view text) {
  const auto parts = text::split(text, '/');
  const auto bad = [&](std::string_view why) {
    return Failure{S3Error::InvalidArgument, fmt::format("Invalid credential \"{}\": {}", text::bounded(text), why)};
  };
  if (parts.size() != 5) return bad("expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  sigv4::Credential c{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]), std::string(parts[3]),
                      std::string(parts[4])};
  if (c.access_key_id.empty()) return bad("no access key id.");
  if (c.date.size() != 8 || !text::is_digits(c.date)) return bad("the date is not YYYYMMDD.");
  if (c.region.empty()) return bad("no region.");
  if (c.service != sigv4::kService) return bad("the service is not s3.");
  if (c.terminator != sigv4::kTerminator) return bad("the terminal is not aws4_request.");
  return c;
}

// The fields whose conditions the proxy checks itself, because the upstream will not see
// the client's value: replaced by the proxy's own, or removed.
enum class Handling { pass, replaced, removed };

Handling handling_of(std::string_view name, AclMode mode) {
  if (name == kCredentialField || name == kDateField || name == kAlgorithmField) return Handling::replaced;
  if (name == kSecurityTokenField) return Handling::removed;
  if (mode == AclMode::strip && is_acl_field(name)) return Handling::removed;
  return Handling::pass;
}

bool satisfies(const FieldCondition& c, std::string_view value) {
  return c.starts_with ? value.starts_with(c.value) : value == c.value;
}

std::string describe(const FieldCondition& c) {
  return json::serialize(json::array{c.starts_with ? "starts-with" : "eq", "$" + c.name, c.value});
}

}  // namespace

bool is_acl_field(std::string_view lower_name) {
  constexpr std::string_view kGrant = "x-amz-grant-";
  return lower_name == kAclField || (lower_name.size() > kGrant.size() && lower_name.starts_with(kGrant));
}

std::optional<std::chrono::system_clock::time_point> parse_expiration(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...]Z
  if (s.size() < 20 || s.back() != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    const auto d = s.substr(at, n);
    if (!text::is_digits(d)) return std::nullopt;
    return std::stoi(std::string(d));
  };
  const auto year = num(0, 4), month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2),
             second = num(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  const std::string_view frac = s.substr(19, s.size() - 20);
  if (!frac.empty() && (frac.front() != '.' || frac.size() < 2 || !text::is_digits(frac.substr(1)))) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

Result<Policy> decode_policy(std::string_view base64_policy) {
  auto raw = crypto::base64_decode(base64_policy);
  if (!raw) return invalid_policy("the policy is not base64.");
  boost::system::error_code ec;
  json::value doc = json::parse(*raw, ec);
  if (ec || !doc.is_object()) return invalid_policy("the policy is not a JSON object.");
  const auto& obj = doc.as_object();
  const auto* exp = obj.if_contains("expiration");
  if (!exp || !exp->is_string()) return invalid_policy("Policy missing expiration.");
  const auto* conds = obj.if_contains("conditions");
  if (!conds || !conds->is_array()) return invalid_policy("Policy missing conditions.");
  Policy p;
  p.expiration = std::string(exp->as_string());
  auto t = parse_expiration(p.expiration);
  if (!t) return invalid_policy("Invalid 'expiration' value.");
  p.expires = *t;
  p.conditions = conds->as_array();
  // An exact-match condition is an object with one string value: one the proxy could not
  // read would pass to the upstream unchecked, or be dropped from the rewritten policy.
  for (const auto& c : p.conditions) {
    if (c.is_object() && (c.as_object().size() != 1 || !c.as_object().begin()->value().is_string())) {
      return invalid_policy("each condition object must name one field with a string value.");
    }
  }
  return p;
}

std::vector<FieldCondition> field_conditions(const json::value& condition) {
  std::vector<FieldCondition> out;
  if (condition.is_object()) {
    for (const auto& [name, value] : condition.as_object()) {
      if (!value.is_string()) continue;
      out.push_back(FieldCondition{text::lower(std::string_view(name)), false, std::string(value.as_string())});
    }
    return out;
  }
  if (!condition.is_array()) return out;
  const auto& a = condition.as_array();
  if (a.size() != 3 || !a[0].is_string() || !a[1].is_string() || !a[2].is_string()) return out;
  const std::string op = text::lower(std::string_view(a[0].as_string()));
  const std::string_view name = a[1].as_string();
  if ((op != "eq" && op != "starts-with") || !name.starts_with('$')) return out;
  out.push_back(FieldCondition{text::lower(name.substr(1)), op == "starts-with", std::string(a[2].as_string())});
  return out;
}

Result<std::string> object_key(const FormHead& form) {
  const Field* key_field = find_field(form.fields, "key");
  if (!key_field) return missing_field("key");
  std::string object_key = key_field->value;
  if (object_key.find(kFilenameVariable) != std::string::npos) {
    if (!form.file.filename) {
      return Failure{S3Error::InvalidArgument, "The key uses ${filename} but the file part has no filename."};
    }
    std::string replaced;
    std::string_view rest = object_key;
    for (auto at = rest.find(kFilenameVariable); at != std::string_view::npos; at = rest.find(kFilenameVariable)) {
      replaced.append(rest.substr(0, at)).append(*form.file.filename);
      rest.remove_prefix(at + kFilenameVariable.size());
    }
    replaced.append(rest);
    // The upstream would replace a ${filename} brought in by the file's name once more.
    if (replaced.find(kFilenameVariable) != std::string::npos) {
      return Failure{S3Error::InvalidArgument, "The file's name holds ${filename}."};
    }
    object_key = std::move(replaced);
  }
  if (object_key.empty()) return Failure{S3Error::InvalidArgument, "The key must not be empty."};
  if (object_key.size() > kMaxKeyBytes) return Failure{S3Error::KeyTooLongError, "Your key is too long"};
  return object_key;
}

Result<Verified> verify(const FormHead& form, const sigv4::KeyLookup& lookup, std::chrono::system_clock::time_point now) {
  const bool v4 = find_field(form.fields, kPolicyField) || find_field(form.fields, kSignatureField) ||
                  find_field(form.fields, kCredentialField);
  if (!v4) {
    if (find_field(form.fields, "awsaccesskeyid") || find_field(form.fields, "signature")) {
      return Failure{S3Error::InvalidRequest,
                     "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."};
    }
    return Failure{S3Error::AccessDenied, "Access Denied"};
  }
  for (auto name : {kAlgorithmField, kCredentialField, kDateField, kSignatureField, kPolicyField}) {
    if (!find_field(form.fields, name)) return missing_field(name);
  }
  if (value_of(form, kAlgorithmField) != sigv4::kAlgorithm) {
    return Failure{S3Error::InvalidArgument, "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm."};
  }
  auto cred = parse_credential(value_of(form, kCredentialField));
  if (!cred) return cred.failure();
  const Secret* secret = lookup ? lookup(cred->access_key_id) : nullptr;
  if (secret == nullptr) {
    return Failure{S3Error::InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."};
  }
  // The string to sign is the policy field exactly as sent.
  const auto key = sigv4::signing_key(*secret, cred->date, cred->region, cred->service);
  const std::string expected = sigv4::signature_hex(key, value_of(form, kPolicyField));
  if (!crypto::constant_time_equal(expected, text::lower(value_of(form, kSignatureField)))) {
    return Failure{S3Error::SignatureDoesNotMatch,
                   "The request signature we calculated does not match the signature you provided. Check your key and "
                   "signing method."};
  }
  auto policy = decode_policy(value_of(form, kPolicyField));
  if (!policy) return policy.failure();
  if (now > policy->expires) return policy_refusal("Policy expired.");

  Verified v;
  v.access_key_id = cred->access_key_id;
  v.policy = std::move(policy.value());
  auto object = object_key(form);
  if (!object) return object.failure();
  v.key = std::move(object.value());
  for (const auto& f : form.fields) {
    if (is_acl_field(f.name)) v.acl.emplace_back(acl_header_name(f.name), f.value);
  }
  return v;
}

Result<std::vector<Field>> rewrite(const FormHead& form, const Verified& verified, AclMode mode,
                                   const UpstreamSigner& signer) {
  const std::string amz_date = sigv4::amz_date(signer.now);
  const std::string date = amz_date.substr(0, 8);
  const std::string credential = fmt::format("{}/{}", signer.access_key_id,
                                             sigv4::credential_scope(date, signer.region, sigv4::kService));
  const auto replacement = [&](std::string_view name) -> std::string_view {
    if (name == kCredentialField) return credential;
    if (name == kDateField) return amz_date;
    return sigv4::kAlgorithm;
  };

  std::vector<std::string> covered;  // the checked fields some condition allowed
  json::array conditions;
  for (const auto& cond : verified.policy.conditions) {
    const auto fcs = field_conditions(cond);
    if (fcs.empty()) {
      conditions.push_back(cond);  // content-length-range and others: the upstream's to enforce
      continue;
    }
    json::object kept;
    for (const auto& fc : fcs) {
      const Handling h = handling_of(fc.name, mode);
      if (h == Handling::pass) {
        if (cond.is_array()) {
          conditions.push_back(json::array{cond.as_array()[0], "$" + fc.name, fc.value});
        } else {
          kept[fc.name] = fc.value;
        }
        continue;
      }
      const Field* f = find_field(form.fields, fc.name);
      if (!f || !satisfies(fc, f->value)) {
        return policy_refusal(fmt::format("Policy Condition failed: {}", describe(fc)));
      }
      covered.push_back(fc.name);
      if (h == Handling::replaced) conditions.push_back(json::object{{fc.name, replacement(fc.name)}});
    }
    if (!kept.empty()) conditions.push_back(std::move(kept));
  }

  std::vector<Field> out;
  for (const auto& f : form.fields) {
    const Handling h = handling_of(f.name, mode);
    if (h != Handling::pass && std::find(covered.begin(), covered.end(), f.name) == covered.end()) {
      return policy_refusal(fmt::format("Extra input fields: {}", text::bounded(f.name)));
    }
    if (h != Handling::pass || f.name == kPolicyField || f.name == kSignatureField) continue;
    out.push_back(f.name == "key" ? Field{f.name, verified.key} : f);
  }

  json::object doc;
  doc["expiration"] = verified.policy.expiration;
  doc["conditions"] = std::move(conditions);
  const std::string policy = crypto::base64(json::serialize(doc));
  const auto key = sigv4::signing_key(signer.secret, date, signer.region, sigv4::kService);
  out.push_back(Field{std::string(kAlgorithmField), std::string(sigv4::kAlgorithm)});
  out.push_back(Field{std::string(kCredentialField), credential});
  out.push_back(Field{std::string(kDateField), amz_date});
  out.push_back(Field{std::string(kPolicyField), policy});
  out.push_back(Field{std::string(kSignatureField), sigv4::signature_hex(key, policy)});
  return out;
}

}  // namespace s3proxy::post
