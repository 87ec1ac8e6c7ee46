#pragma once
// Suspension privacy by tags ([acl] acl_requests = "tag"): a canned ACL that makes an object
// non-public becomes a tag on the object, and a bucket-policy Deny on s3:GetObject for that
// tag gives it its effect. The pure steps: what a PUT ?acl asks for (canned ACL from a header
// or from an XML body), the tag-set read-merge-write, the x-amz-tagging header merge of
// uploads, and the policy document that makes the tag count.
#include "s3proxy/s3_error.hpp"

#include <cstddef>
#include <mutex>
#include <unordered_set>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace s3proxy::suspension {

// S3's limits on object tags (AWS "Categorizing your storage using tags"): at most 10 per
// object, keys up to 128 and values up to 256 Unicode characters.
inline constexpr std::size_t kMaxObjectTags = 10;
inline constexpr std::size_t kMaxTagKeyChars = 128;
inline constexpr std::size_t kMaxTagValueChars = 256;
// A PUT ?acl body is an AccessControlPolicy of at most 100 grants, a few KiB; a body larger
// than this is refused unread rather than held.
inline constexpr std::size_t kMaxAclBody = 64 * 1024;
// A GetObjectTagging answer holds at most 10 tags of bounded size, well under this.
inline constexpr std::size_t kMaxTaggingBody = 64 * 1024;

// The proxy's tag, "key=value" in the config ([acl] private_tag).
struct VisibilityTag {
  std::string key;
  std::string value;
};
inline constexpr std::string_view kDefaultPrivateTag = "s3-acl-proxy-visibility=private";
// "key=value": key 1-128 characters, value 0-256, neither holding control characters; the
// key must not start with "aws:" (reserved by AWS). The message says what is wrong.
std::variant<VisibilityTag, std::string> parse_private_tag(std::string_view text);
std::string to_string(const VisibilityTag& tag);  // "key=value"

// What an ACL request amounts to: a canned ACL name (for the audit line) and whether it
// makes the object readable by everyone.
struct RequestedAcl {
  std::string canned;  // "private", "public-read", ..., or what an XML body amounts to
  bool is_public = false;
};

// A canned ACL name as S3 accepts it for an object; nullopt for anything else.
std::optional<bool> canned_acl_is_public(std::string_view canned);

// An AccessControlPolicy document: public when a grant gives READ or FULL_CONTROL to the
// AllUsers group ("public-read", "public-read-write" when WRITE too); "authenticated-read"
// when AuthenticatedUsers may read; else "private". MalformedACLError-style failure
// (InvalidArgument) when it is not such a document.
Result<RequestedAcl> acl_from_xml(std::string_view xml);

// The ACL a PUT ?acl asks for: from x-amz-acl, the x-amz-grant-* headers (lower-case names,
// as AclDecision::headers holds them) or the XML body. Both a canned ACL and grant headers, or
// headers and a body, are refused as S3 refuses them.
Result<RequestedAcl> requested_acl(const std::vector<std::pair<std::string, std::string>>& acl_headers,
                                   std::string_view body);

using TagSet = std::vector<std::pair<std::string, std::string>>;

// A GetObjectTagging answer (<Tagging><TagSet><Tag><Key>..</Key><Value>..</Value></Tag>...).
Result<TagSet> parse_tagging_xml(std::string_view xml);
// The PutObjectTagging body for a tag set.
std::string tagging_xml(const TagSet& tags);

// The tag set with the visibility tag set (make_private) or removed; `changed` when it differs.
// More than kMaxObjectTags tags after the change is an InvalidTag failure naming the limit.
struct TagChange {
  TagSet tags;
  bool changed = false;
};
Result<TagChange> apply_visibility(TagSet current, const VisibilityTag& tag, bool make_private);

// x-amz-tagging ("k1=v1&k2=v2", URL-encoded as a query string; '+' is a space).
Result<TagSet> parse_tagging_header(std::string_view value);
std::string encode_tagging_header(const TagSet& tags);
// The x-amz-tagging value an upload carries upstream: the client's tags (from its header or
// a presigned URL's parameter, nullopt when it sent none) with the visibility tag added.
Result<std::string> merge_tagging_header(const std::optional<std::string>& client_value, const VisibilityTag& tag);

// The proxy's read-merge-write of one object's tags is not atomic upstream (S3 has no
// conditional tagging call): two ACL changes of the same object through one proxy process
// take turns here, so neither undoes the other's merge. Thread-safe; shared by the workers.
class TagGate {
 public:
  // False while another update of the same object (bucket, key and version) is in progress.
  bool try_enter(const std::string& object);
  void leave(const std::string& object);

 private:
  std::mutex mutex_;
  std::unordered_set<std::string> busy_;
};

// --- The bucket policy that gives the tag its effect ------------------------------------

enum class PolicyFlavor { aws, ceph, minio };
std::optional<PolicyFlavor> parse_flavor(std::string_view name);  // "aws", "ceph", "minio"
std::string_view flavor_name(PolicyFlavor flavor);

// The Sid of the Deny statement the proxy prints and `check` looks for first.
inline constexpr std::string_view kDenySid = "S3AclProxyPrivateByTag";
inline constexpr std::string_view kPublicReadSid = "PublicRead";

struct PolicyInput {
  std::string bucket;
  std::string principal_arn;  // the identity the proxy signs with, e.g. arn:aws:iam:::user/tester
  VisibilityTag tag;
  PolicyFlavor flavor = PolicyFlavor::aws;
};

// The user name a Ceph RGW or MinIO policy compares aws:username with: the part of a user
// ARN after "user/" (without a path). nullopt when the ARN is not a user's.
std::optional<std::string> user_name_of(std::string_view principal_arn);

// A complete policy: the public-read Allow Mastodon's media needs and the Deny of s3:GetObject
// on objects carrying the tag for every principal but the proxy's own identity. On AWS the
// exemption is ArnNotEquals aws:PrincipalArn; Ceph RGW 16 does not evaluate that key (nor
// aws:userid) and MinIO's bucket policies know users by name, so there it is StringNotEquals
// aws:username. InvalidArgument when the identity cannot be expressed for the flavor.
Result<std::string> suspension_policy(const PolicyInput& in);

}  // namespace s3proxy::suspension
