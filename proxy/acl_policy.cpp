#include "s3proxy/acl_policy.hpp"

#include "s3proxy/text.hpp"

namespace s3proxy {

bool is_acl_header(std::string_view name) {
  constexpr std::string_view kAcl = "x-amz-acl";
  constexpr std::string_view kGrantPrefix = "x-amz-grant-";
  return (name.size() == kAcl.size() && text::istarts_with(name, kAcl)) ||
         (name.size() > kGrantPrefix.size() && text::istarts_with(name, kGrantPrefix));
}

std::string_view action_name(AclAction action) {
  switch (action) {
    case AclAction::none: return "none";
    case AclAction::stripped: return "stripped";
    case AclAction::kept: return "kept";
    case AclAction::rejected: return "rejected";
    case AclAction::accepted_locally: return "accepted_locally";
    case AclAction::tagged: return "tagged";
    case AclAction::untagged: return "untagged";
  }
  return "none";
}

AclDecision decide(AclMode mode, AclRequests acl_requests, const S3Target& target, std::string_view method,
                   std::span<const std::pair<std::string_view, std::string_view>> headers) {
  AclDecision d;
  for (const auto& [name, value] : headers) {
    if (is_acl_header(name)) d.headers.emplace_back(text::lower(name), std::string(text::trim(value)));
  }

  // PUT ?acl carries its ACL in headers or in an XML body: the whole request is the ACL
  // change, so it is answered or forwarded as a unit rather than stripped. Decided on the
  // sub-resource and the method alone: whatever else the query holds ("?acl&versions"), S3
  // may still apply the ACL.
  if (target.acl_subresource && method == "PUT") {
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
      case AclRequests::tag:
        if (target.key.empty()) {
          // A bucket has no tag that could stand for its ACL.
          d.action = AclAction::rejected;
          d.answer = LocalAnswer::not_implemented;
          d.warn = true;
        } else {
          // "tagged" until the request's ACL turns out public ("untagged").
          d.action = AclAction::tagged;
          d.answer = LocalAnswer::visibility_tag;
        }
        break;
    }
    return d;
  }

  // A request the proxy cannot name may do anything with the ACL it carries: in strip mode
  // it is refused rather than forwarded with an ACL the proxy cannot vouch for.
  if (mode == AclMode::strip && target.op == Op::Unknown && (target.acl_subresource || !d.headers.empty())) {
    d.action = AclAction::rejected;
    d.answer = LocalAnswer::invalid_request;
    d.warn = true;
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
