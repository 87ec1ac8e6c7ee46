#include "s3proxy/acl_policy.hpp"

#include <algorithm>

namespace s3proxy {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool istarts_with(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() &&
         std::equal(lower_prefix.begin(), lower_prefix.end(), s.begin(),
                    [](char p, char c) { return p == ascii_lower(c); });
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool is_put_acl(Op op) { return op == Op::PutObjectAcl || op == Op::PutBucketAcl; }

}  // namespace

bool is_acl_header(std::string_view name) {
  constexpr std::string_view kAcl = "x-amz-acl";
  constexpr std::string_view kGrantPrefix = "x-amz-grant-";
  return (name.size() == kAcl.size() && istarts_with(name, kAcl)) ||
         (name.size() > kGrantPrefix.size() && istarts_with(name, kGrantPrefix));
}

std::string_view action_name(AclAction action) {
  switch (action) {
    case AclAction::none: return "none";
    case AclAction::stripped: return "stripped";
    case AclAction::kept: return "kept";
    case AclAction::rejected: return "rejected";
    case AclAction::accepted_locally: return "accepted_locally";
  }
  return "none";
}

AclDecision decide(AclMode mode, AclRequests acl_requests, const S3Target& target,
                   std::span<const std::pair<std::string_view, std::string_view>> headers) {
  AclDecision d;
  for (const auto& [name, value] : headers) {
    if (is_acl_header(name)) d.headers.emplace_back(lower(name), std::string(trim_ows(value)));
  }

  // PUT ?acl carries its ACL in headers or in an XML body: the whole request is the ACL
  // change, so it is answered or forwarded as a unit rather than stripped.
  if (is_put_acl(target.op)) {
    switch (acl_requests) {
      case AclRequests::reject:
        d.action = AclAction::rejected;
        d.answer = LocalAnswer::not_implemented;
        d.warn = true;
        break;
      case AclRequests::accept:
        d.action = AclAction::accepted_locally;
        d.answer = LocalAnswer::ok;
        d.warn = true;
        break;
      case AclRequests::forward:
        d.action = AclAction::kept;
        break;
    }
    return d;
  }

  if (d.headers.empty()) return d;
  if (mode == AclMode::strip) {
    d.action = AclAction::stripped;
    d.strip_headers = true;
  } else {
    d.action = AclAction::kept;
  }
  return d;
}

}  // namespace s3proxy
