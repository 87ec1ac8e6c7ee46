#include "s3proxy/suspension.hpp"

#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace s3proxy::suspension {

namespace {

constexpr std::string_view kAllUsers = "http://acs.amazonaws.com/groups/global/AllUsers";
constexpr std::string_view kAuthenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

// Unicode characters in UTF-8 text: every byte that does not continue a sequence.
std::size_t utf8_chars(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Every <name>...</name> block of the document, in order (no attributes on the open tag).
std::vector<std::string_view> blocks(std::string_view xml, std::string_view name) {
  const std::string open = fmt::format("<{}>", name);
  const std::string close = fmt::format("</{}>", name);
  std::vector<std::string_view> out;
  for (auto pos = xml.find(open); pos != std::string_view::npos; pos = xml.find(open, pos)) {
    pos += open.size();
    const auto end = xml.find(close, pos);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(pos, end - pos));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string> element(std::string_view xml, std::string_view name) {
  const auto found = blocks(xml, name);
  if (found.empty()) return std::nullopt;
  return xml_unescape(found.front());
}

Failure malformed_acl() {
  return Failure{S3Error::MalformedACLError,
                 "The XML you provided was not well-formed or did not validate against our published schema."};
}

Failure bad_tagging_header() {
  return Failure{S3Error::InvalidArgument,
                 "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without "
                 "tag name duplicates."};
}

// x-amz-grant-* value: comma-separated grantees such as uri="http://acs.../AllUsers".
bool grants_group(std::string_view value, std::string_view group) { return value.find(group) != std::string_view::npos; }

Result<bool> check_tag(const std::string& key, const std::string& value) {
  if (key.empty() || utf8_chars(key) > kMaxTagKeyChars || utf8_chars(value) > kMaxTagValueChars) {
    return Failure{S3Error::InvalidTag, "The TagKey you have provided is invalid or a TagValue is too long."};
  }
  return true;
}

// A query-string component: '+' is a space (HTML form encoding, what urlencode produces),
// every other escape strict.
std::optional<std::string> form_decode(std::string_view s) {
  std::string plus_as_space(s);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  return uri::decode(plus_as_space);
}

// A policy for people to read and paste: two-space indentation, keys in insertion order.
void pretty(const boost::json::value& v, std::string& out, int depth) {
  const std::string pad(static_cast<std::size_t>(depth + 1) * 2, ' ');
  const std::string close_pad(static_cast<std::size_t>(depth) * 2, ' ');
  if (const auto* o = v.if_object()) {
    out += "{\n";
    bool first = true;
    for (const auto& [k, item] : *o) {
      if (!first) out += ",\n";
      first = false;
      out += pad + boost::json::serialize(boost::json::value(k)) + ": ";
      pretty(item, out, depth + 1);
    }
    out += "\n" + close_pad + "}";
  } else if (const auto* a = v.if_array()) {
    out += "[\n";
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i > 0) out += ",\n";
      out += pad;
      pretty((*a)[i], out, depth + 1);
    }
    out += "\n" + close_pad + "]";
  } else {
    out += boost::json::serialize(v);
  }
}

}  // namespace

std::variant<VisibilityTag, std::string> parse_private_tag(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) return std::string("must be \"key=value\", e.g. \"") + std::string(kDefaultPrivateTag) + "\"";
  VisibilityTag tag{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (tag.key.empty()) return std::string("the tag key must not be empty");
  if (utf8_chars(tag.key) > kMaxTagKeyChars) return std::string("the tag key must be at most 128 characters");
  if (utf8_chars(tag.value) > kMaxTagValueChars) return std::string("the tag value must be at most 256 characters");
  if (has_control(tag.key) || has_control(tag.value)) return std::string("the tag must not contain control characters");
  if (text::istarts_with(tag.key, "aws:")) return std::string("tag keys starting with \"aws:\" are reserved by AWS");
  return tag;
}

std::string to_string(const VisibilityTag& tag) { return tag.key + "=" + tag.value; }

std::optional<bool> canned_acl_is_public(std::string_view canned) {
  static constexpr std::array kPrivate = {std::string_view("private"), std::string_view("authenticated-read"),
                                          std::string_view("bucket-owner-read"),
                                          std::string_view("bucket-owner-full-control"),
                                          std::string_view("aws-exec-read")};
  static constexpr std::array kPublic = {std::string_view("public-read"), std::string_view("public-read-write")};
  if (std::find(kPrivate.begin(), kPrivate.end(), canned) != kPrivate.end()) return false;
  if (std::find(kPublic.begin(), kPublic.end(), canned) != kPublic.end()) return true;
  return std::nullopt;
}

Result<RequestedAcl> acl_from_xml(std::string_view xml) {
  if (xml.find("<AccessControlPolicy") == std::string_view::npos ||
      xml.find("</AccessControlPolicy>") == std::string_view::npos ||
      xml.find("<AccessControlList>") == std::string_view::npos) {
    return malformed_acl();
  }
  bool all_read = false, all_write = false, authenticated_read = false;
  for (const auto grant : blocks(xml, "Grant")) {
    const auto permission = element(grant, "Permission");
    if (!permission) return malformed_acl();
    const bool reads = *permission == "READ" || *permission == "FULL_CONTROL";
    const bool writes = *permission == "WRITE" || *permission == "FULL_CONTROL";
    const auto group = element(grant, "URI");
    if (group == kAllUsers) {
      all_read = all_read || reads;
      all_write = all_write || writes;
    } else if (group == kAuthenticatedUsers) {
      authenticated_read = authenticated_read || reads;
    }
  }
  if (all_read) return RequestedAcl{all_write ? "public-read-write" : "public-read", true};
  if (authenticated_read) return RequestedAcl{"authenticated-read", false};
  return RequestedAcl{"private", false};
}

Result<RequestedAcl> requested_acl(const std::vector<std::pair<std::string, std::string>>& acl_headers,
                                   std::string_view body) {
  std::optional<std::string> canned;
  bool grants = false, public_grant = false, authenticated_grant = false;
  for (const auto& [name, value] : acl_headers) {
    if (name == "x-amz-acl") {
      canned = value;
      continue;
    }
    grants = true;
    const bool reads = name == "x-amz-grant-read" || name == "x-amz-grant-full-control";
    public_grant = public_grant || (reads && grants_group(value, kAllUsers));
    authenticated_grant = authenticated_grant || (reads && grants_group(value, kAuthenticatedUsers));
  }
  if (canned && grants) {
    return Failure{S3Error::InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed"};
  }
  if ((canned || grants) && !body.empty()) {
    return Failure{S3Error::UnexpectedContent, "This request does not support content"};
  }
  if (canned) {
    const auto is_public = canned_acl_is_public(*canned);
    if (!is_public) return Failure{S3Error::InvalidArgument, fmt::format("Invalid canned ACL: {}", text::bounded(*canned))};
    return RequestedAcl{*canned, *is_public};
  }
  if (grants) {
    if (public_grant) return RequestedAcl{"public-read", true};
    return RequestedAcl{authenticated_grant ? "authenticated-read" : "private", false};
  }
  if (body.empty()) {
    return Failure{S3Error::MissingSecurityHeader, "Your request was missing a required header: x-amz-acl"};
  }
  return acl_from_xml(body);
}

Result<TagSet> parse_tagging_xml(std::string_view xml) {
  if (xml.find("<Tagging") == std::string_view::npos) {
    return Failure{S3Error::UpstreamResponseInvalid, "The upstream's GetObjectTagging answer is not a Tagging document."};
  }
  TagSet tags;
  for (const auto tag : blocks(xml, "Tag")) {
    auto key = element(tag, "Key");
    if (!key) return Failure{S3Error::UpstreamResponseInvalid, "The upstream's tag set has a tag without a Key."};
    tags.emplace_back(std::move(*key), element(tag, "Value").value_or(""));
  }
  return tags;
}

std::string tagging_xml(const TagSet& tags) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>";
  for (const auto& [key, value] : tags) {
    fmt::format_to(std::back_inserter(out), "<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_escape(key),
                   xml_escape(value));
  }
  out += "</TagSet></Tagging>";
  return out;
}

Result<TagChange> apply_visibility(TagSet current, const VisibilityTag& tag, bool make_private) {
  TagChange out;
  const auto ours = [&](const auto& t) { return t.first == tag.key; };
  if (!make_private) {
    const auto before = current.size();
    current.erase(std::remove_if(current.begin(), current.end(), ours), current.end());
    out.changed = current.size() != before;
    out.tags = std::move(current);
    return out;
  }
  auto it = std::find_if(current.begin(), current.end(), ours);
  if (it != current.end()) {
    out.changed = it->second != tag.value;
    it->second = tag.value;
    out.tags = std::move(current);
    return out;
  }
  if (current.size() >= kMaxObjectTags) {
    return Failure{S3Error::InvalidTag,
                   fmt::format("Object tags cannot be greater than {}: the object already has {} tags, and the "
                               "proxy's tag {} would be one more.",
                               kMaxObjectTags, current.size(), text::bounded(tag.key))};
  }
  current.emplace_back(tag.key, tag.value);
  out.changed = true;
  out.tags = std::move(current);
  return out;
}

Result<TagSet> parse_tagging_header(std::string_view value) {
  TagSet tags;
  if (value.empty()) return tags;
  for (const auto pair : text::split(value, '&')) {
    if (pair.empty()) return bad_tagging_header();
    const auto eq = pair.find('=');
    auto key = form_decode(pair.substr(0, eq));
    auto val = eq == std::string_view::npos ? std::optional<std::string>("") : form_decode(pair.substr(eq + 1));
    if (!key || !val || key->empty()) return bad_tagging_header();
    if (std::any_of(tags.begin(), tags.end(), [&](const auto& t) { return t.first == *key; })) {
      return bad_tagging_header();
    }
    if (auto ok = check_tag(*key, *val); !ok) return ok.failure();
    tags.emplace_back(std::move(*key), std::move(*val));
  }
  if (tags.size() > kMaxObjectTags) {
    return Failure{S3Error::InvalidTag, fmt::format("Object tags cannot be greater than {}", kMaxObjectTags)};
  }
  return tags;
}

std::string encode_tagging_header(const TagSet& tags) {
  std::string out;
  for (const auto& [key, value] : tags) {
    if (!out.empty()) out += '&';
    out += uri::encode(key, false);
    out += '=';
    out += uri::encode(value, false);
  }
  return out;
}

Result<std::string> merge_tagging_header(const std::optional<std::string>& client_value, const VisibilityTag& tag) {
  TagSet tags;
  if (client_value) {
    auto parsed = parse_tagging_header(*client_value);
    if (!parsed) return parsed.failure();
    tags = std::move(parsed.value());
  }
  auto merged = apply_visibility(std::move(tags), tag, true);
  if (!merged) return merged.failure();
  return encode_tagging_header(merged->tags);
}

bool TagGate::try_enter(const std::string& object) {
  const std::lock_guard lock(mutex_);
  return busy_.insert(object).second;
}

void TagGate::leave(const std::string& object) {
  const std::lock_guard lock(mutex_);
  busy_.erase(object);
}

std::optional<PolicyFlavor> parse_flavor(std::string_view name) {
  if (name == "aws") return PolicyFlavor::aws;
  if (name == "ceph") return PolicyFlavor::ceph;
  if (name == "minio") return PolicyFlavor::minio;
  return std::nullopt;
}

std::string_view flavor_name(PolicyFlavor flavor) {
  switch (flavor) {
    case PolicyFlavor::aws: return "aws";
    case PolicyFlavor::ceph: return "ceph";
    case PolicyFlavor::minio: return "minio";
  }
  return "aws";
}

std::optional<std::string> user_name_of(std::string_view arn) {
  // arn:PARTITION:iam::ACCOUNT:user/[PATH/]NAME
  if (!arn.starts_with("arn:")) return std::nullopt;
  std::size_t colons = 0, pos = 0;
  for (; pos < arn.size() && colons < 5; ++pos)
    if (arn[pos] == ':') ++colons;
  if (colons < 5) return std::nullopt;
  const auto resource = arn.substr(pos);
  if (!resource.starts_with("user/")) return std::nullopt;
  const auto name = resource.substr(resource.rfind('/') + 1);
  if (name.empty()) return std::nullopt;
  return std::string(name);
}

Result<std::string> suspension_policy(const PolicyInput& in) {
  namespace json = boost::json;
  if (in.bucket.empty()) return Failure{S3Error::InvalidArgument, "canary.bucket: the bucket is unknown"};
  if (in.principal_arn.empty()) {
    return Failure{S3Error::InvalidArgument,
                   "upstream.principal_arn: the identity the proxy signs with is needed to exempt it from the Deny"};
  }
  const std::string objects = fmt::format("arn:aws:s3:::{}/*", in.bucket);
  json::object tag_condition{{fmt::format("s3:ExistingObjectTag/{}", in.tag.key), in.tag.value}};
  json::object condition{{"StringEquals", std::move(tag_condition)}};
  if (in.flavor == PolicyFlavor::aws) {
    condition["ArnNotEquals"] = json::object{{"aws:PrincipalArn", in.principal_arn}};
  } else {
    const auto user = user_name_of(in.principal_arn);
    if (!user) {
      return Failure{S3Error::InvalidArgument,
                     fmt::format("upstream.principal_arn: {} is not a user ARN (arn:aws:iam::ACCOUNT:user/NAME); "
                                 "the {} policy exempts the proxy by aws:username",
                                 in.principal_arn, flavor_name(in.flavor))};
    }
    condition["StringNotEquals"] = json::object{{"aws:username", *user}};
  }
  json::array statements;
  statements.push_back(json::object{{"Sid", kPublicReadSid},
                                    {"Effect", "Allow"},
                                    {"Principal", "*"},
                                    {"Action", "s3:GetObject"},
                                    {"Resource", objects}});
  statements.push_back(json::object{{"Sid", kDenySid},
                                    {"Effect", "Deny"},
                                    {"Principal", "*"},
                                    {"Action", "s3:GetObject"},
                                    {"Resource", objects},
                                    {"Condition", std::move(condition)}});
  const json::object policy{{"Version", "2012-10-17"}, {"Statement", std::move(statements)}};
  std::string out;
  pretty(policy, out, 0);
  return out + "\n";
}

}  // namespace s3proxy::suspension
