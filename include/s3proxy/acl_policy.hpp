#pragma once
// The ACL decision for one request: keep the ACL headers, strip them before re-signing,
// or answer a PUT ?acl locally.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3proxy/acl_types.hpp"
#include "s3proxy/s3_request.hpp"

namespace s3proxy {

// x-amz-acl or any x-amz-grant-* header, compared case-insensitively.
bool is_acl_header(std::string_view name);

// tagged / untagged: a PUT ?acl turned into the object's visibility tag (acl_requests = "tag").
enum class AclAction { none, stripped, kept, rejected, accepted_locally, tagged, untagged };
// "none", "stripped", "kept", "rejected", "accepted_locally", "tagged", "untagged" (the audit
// line's acl.action).
std::string_view action_name(AclAction action);

// An answer the proxy gives without contacting the upstream.
enum class LocalAnswer {
  none,             // forward the request
  not_implemented,  // 501 NotImplemented
  ok,               // 200 with an empty body
  invalid_request,  // 400 InvalidRequest: an ACL on a request the proxy cannot classify
  visibility_tag,   // read the ACL asked for, set or remove the object's tag upstream, answer as S3
};

struct AclDecision {
  AclAction action = AclAction::none;
  bool strip_headers = false;          // remove every ACL header before re-signing
  LocalAnswer answer = LocalAnswer::none;
  bool warn = false;                   // log at warn: the client's ACL request was refused or faked
  std::vector<std::pair<std::string, std::string>> headers;  // ACL headers found: lower-case name, value
};

// method: the request's method, upper-case; headers: every request header, name as received
// and value (and the ACL parameters of a presigned query).
AclDecision decide(AclMode mode, AclRequests acl_requests, const S3Target& target, std::string_view method,
                   std::span<const std::pair<std::string_view, std::string_view>> headers);

}  // namespace s3proxy
