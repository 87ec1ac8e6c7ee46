#include "s3proxy/s3_request.hpp"

#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

namespace s3proxy {
namespace {

constexpr std::array<std::pair<Op, std::string_view>, static_cast<std::size_t>(Op::Unknown) + 1> kOpNames{{
    {Op::ListBuckets, "ListBuckets"},
    {Op::CreateBucket, "CreateBucket"},
    {Op::DeleteBucket, "DeleteBucket"},
    {Op::HeadBucket, "HeadBucket"},
    {Op::ListObjects, "ListObjects"},
    {Op::ListObjectsV2, "ListObjectsV2"},
    {Op::ListObjectVersions, "ListObjectVersions"},
    {Op::GetBucketAcl, "GetBucketAcl"},
    {Op::PutBucketAcl, "PutBucketAcl"},
    {Op::GetBucketPolicy, "GetBucketPolicy"},
    {Op::PutBucketPolicy, "PutBucketPolicy"},
    {Op::DeleteBucketPolicy, "DeleteBucketPolicy"},
    {Op::GetBucketPolicyStatus, "GetBucketPolicyStatus"},
    {Op::GetBucketOwnershipControls, "GetBucketOwnershipControls"},
    {Op::PutBucketOwnershipControls, "PutBucketOwnershipControls"},
    {Op::GetBucketLocation, "GetBucketLocation"},
    {Op::GetBucketVersioning, "GetBucketVersioning"},
    {Op::PutBucketVersioning, "PutBucketVersioning"},
    {Op::GetBucketCors, "GetBucketCors"},
    {Op::PutBucketCors, "PutBucketCors"},
    {Op::DeleteBucketCors, "DeleteBucketCors"},
    {Op::GetBucketLifecycleConfiguration, "GetBucketLifecycleConfiguration"},
    {Op::PutBucketLifecycleConfiguration, "PutBucketLifecycleConfiguration"},
    {Op::DeleteBucketLifecycle, "DeleteBucketLifecycle"},
    {Op::GetBucketTagging, "GetBucketTagging"},
    {Op::PutBucketTagging, "PutBucketTagging"},
    {Op::DeleteBucketTagging, "DeleteBucketTagging"},
    {Op::ListMultipartUploads, "ListMultipartUploads"},
    {Op::DeleteObjects, "DeleteObjects"},
    {Op::GetObject, "GetObject"},
    {Op::HeadObject, "HeadObject"},
    {Op::PutObject, "PutObject"},
    {Op::CopyObject, "CopyObject"},
    {Op::DeleteObject, "DeleteObject"},
    {Op::GetObjectAcl, "GetObjectAcl"},
    {Op::PutObjectAcl, "PutObjectAcl"},
    {Op::GetObjectTagging, "GetObjectTagging"},
    {Op::PutObjectTagging, "PutObjectTagging"},
    {Op::DeleteObjectTagging, "DeleteObjectTagging"},
    {Op::CreateMultipartUpload, "CreateMultipartUpload"},
    {Op::UploadPart, "UploadPart"},
    {Op::UploadPartCopy, "UploadPartCopy"},
    {Op::CompleteMultipartUpload, "CompleteMultipartUpload"},
    {Op::AbortMultipartUpload, "AbortMultipartUpload"},
    {Op::ListParts, "ListParts"},
    {Op::PostObject, "PostObject"},
    {Op::PreflightRequest, "PreflightRequest"},
    {Op::Unknown, "Unknown"},
}};

constexpr bool names_in_enum_order() {
  for (std::size_t i = 0; i < kOpNames.size(); ++i) {
    if (kOpNames[i].first != static_cast<Op>(i)) return false;
  }
  return true;
}
static_assert(names_in_enum_order(), "kOpNames must list every Op in declaration order");

using text::ascii_lower;
using text::iequals;

// The subresources that select an operation. Other parameters (x-id, which the JS SDK
// adds; presigned X-Amz-*; versionId; response-*; list parameters) do not.
struct Subresources {
  bool acl = false, uploads = false, upload_id = false, part_number = false, del = false, tagging = false,
       policy = false, policy_status = false, ownership_controls = false, location = false, versioning = false,
       cors = false, lifecycle = false, versions = false, list_v2 = false;

  [[nodiscard]] bool any_bucket_only() const {
    return del || policy || policy_status || ownership_controls || location || versioning || cors || lifecycle ||
           versions || list_v2;
  }
};

// nullopt when a name or value does not decode.
std::optional<Subresources> parse_subresources(std::string_view raw_query) {
  Subresources s;
  std::string name_scratch, value_scratch;
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);) {
    const auto decoded_name = uri::decode(c.raw_name, name_scratch);
    const auto decoded_value = uri::decode(c.raw_value, value_scratch);
    if (!decoded_name || !decoded_value) return std::nullopt;
    const std::string_view name = *decoded_name;
    const std::string_view value = *decoded_value;
    if (name == "acl") s.acl = true;
    else if (name == "uploads") s.uploads = true;
    else if (name == "uploadId") s.upload_id = true;
    else if (name == "partNumber") s.part_number = true;
    else if (name == "delete") s.del = true;
    else if (name == "tagging") s.tagging = true;
    else if (name == "policy") s.policy = true;
    else if (name == "policyStatus") s.policy_status = true;
    else if (name == "ownershipControls") s.ownership_controls = true;
    else if (name == "location") s.location = true;
    else if (name == "versioning") s.versioning = true;
    else if (name == "cors") s.cors = true;
    else if (name == "lifecycle") s.lifecycle = true;
    else if (name == "versions") s.versions = true;
    else if (name == "list-type" && value == "2") s.list_v2 = true;
  }
  return s;
}

// No bucket: only "GET /" means something.
Op service_op(std::string_view method) { return method == "GET" ? Op::ListBuckets : Op::Unknown; }

Op bucket_op(std::string_view method, const Subresources& s) {
  if (method == "GET") {
    if (s.acl) return Op::GetBucketAcl;
    if (s.policy) return Op::GetBucketPolicy;
    if (s.policy_status) return Op::GetBucketPolicyStatus;
    if (s.ownership_controls) return Op::GetBucketOwnershipControls;
    if (s.location) return Op::GetBucketLocation;
    if (s.versioning) return Op::GetBucketVersioning;
    if (s.cors) return Op::GetBucketCors;
    if (s.lifecycle) return Op::GetBucketLifecycleConfiguration;
    if (s.tagging) return Op::GetBucketTagging;
    if (s.uploads) return Op::ListMultipartUploads;
    if (s.versions) return Op::ListObjectVersions;
    if (s.del || s.upload_id || s.part_number) return Op::Unknown;
    if (s.list_v2) return Op::ListObjectsV2;
    return Op::ListObjects;
  }
  if (method == "PUT") {
    if (s.acl) return Op::PutBucketAcl;
    if (s.policy) return Op::PutBucketPolicy;
    if (s.ownership_controls) return Op::PutBucketOwnershipControls;
    if (s.versioning) return Op::PutBucketVersioning;
    if (s.cors) return Op::PutBucketCors;
    if (s.lifecycle) return Op::PutBucketLifecycleConfiguration;
    if (s.tagging) return Op::PutBucketTagging;
    if (s.any_bucket_only() || s.uploads || s.upload_id || s.part_number) return Op::Unknown;
    return Op::CreateBucket;
  }
  if (method == "DELETE") {
    if (s.policy) return Op::DeleteBucketPolicy;
    if (s.cors) return Op::DeleteBucketCors;
    if (s.lifecycle) return Op::DeleteBucketLifecycle;
    if (s.tagging) return Op::DeleteBucketTagging;
    if (s.any_bucket_only() || s.acl || s.uploads || s.upload_id || s.part_number) return Op::Unknown;
    return Op::DeleteBucket;
  }
  if (method == "POST") {
    if (s.del) return Op::DeleteObjects;
    if (s.any_bucket_only() || s.acl || s.tagging || s.uploads || s.upload_id || s.part_number) return Op::Unknown;
    return Op::PostObject;  // browser-form upload: the key is in the form body
  }
  if (method == "HEAD") return Op::HeadBucket;
  return Op::Unknown;
}

Op object_op(std::string_view method, const Subresources& s, bool has_copy_source) {
  // Bucket-level subresources on an object path name no S3 operation.
  if (s.any_bucket_only()) return Op::Unknown;
  if (method == "GET") {
    if (s.acl) return Op::GetObjectAcl;
    if (s.tagging) return Op::GetObjectTagging;
    if (s.uploads) return Op::Unknown;
    if (s.upload_id) return Op::ListParts;
    return Op::GetObject;
  }
  if (method == "HEAD") return Op::HeadObject;
  if (method == "PUT") {
    if (s.acl) return Op::PutObjectAcl;
    if (s.tagging) return Op::PutObjectTagging;
    if (s.uploads) return Op::Unknown;
    if (s.upload_id && s.part_number) return has_copy_source ? Op::UploadPartCopy : Op::UploadPart;
    if (s.upload_id || s.part_number) return Op::Unknown;
    return has_copy_source ? Op::CopyObject : Op::PutObject;
  }
  if (method == "POST") {
    if (s.uploads) return Op::CreateMultipartUpload;
    if (s.upload_id) return Op::CompleteMultipartUpload;
    return Op::Unknown;
  }
  if (method == "DELETE") {
    if (s.tagging) return Op::DeleteObjectTagging;
    if (s.upload_id) return Op::AbortMultipartUpload;
    if (s.acl || s.uploads) return Op::Unknown;
    return Op::DeleteObject;
  }
  return Op::Unknown;
}

// Host without its port. A bracketed IPv6 literal keeps its brackets (it never names a bucket).
std::string_view host_without_port(std::string_view host) {
  const auto colon = host.rfind(':');
  if (colon == std::string_view::npos) return host;
  if (host.find(']', colon) != std::string_view::npos) return host;
  const std::string_view port = host.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return host;
  return host.substr(0, colon);
}

// "<bucket>.<domain>" for a configured domain, compared case-insensitively as DNS does.
std::optional<std::string> bucket_from_host(std::string_view host, std::span<const std::string> domains) {
  const std::string_view name = host_without_port(host);
  for (const std::string& domain : domains) {
    if (domain.empty() || name.size() < domain.size() + 2) continue;
    const std::string_view suffix = name.substr(name.size() - domain.size());
    if (name[name.size() - domain.size() - 1] != '.' || !iequals(suffix, domain)) continue;
    std::string bucket(name.substr(0, name.size() - domain.size() - 1));
    std::transform(bucket.begin(), bucket.end(), bucket.begin(), ascii_lower);
    return bucket;
  }
  return std::nullopt;
}

}  // namespace

std::string_view op_name(Op op) {
  const auto i = static_cast<std::size_t>(op);
  return i < kOpNames.size() ? kOpNames[i].second : std::string_view{"Unknown"};
}

bool is_write(Op op) {
  switch (op) {
    case Op::CreateBucket:
    case Op::DeleteBucket:
    case Op::PutBucketAcl:
    case Op::PutBucketPolicy:
    case Op::DeleteBucketPolicy:
    case Op::PutBucketOwnershipControls:
    case Op::PutBucketVersioning:
    case Op::PutBucketCors:
    case Op::DeleteBucketCors:
    case Op::PutBucketLifecycleConfiguration:
    case Op::DeleteBucketLifecycle:
    case Op::PutBucketTagging:
    case Op::DeleteBucketTagging:
    case Op::DeleteObjects:
    case Op::PutObject:
    case Op::CopyObject:
    case Op::DeleteObject:
    case Op::PutObjectAcl:
    case Op::PutObjectTagging:
    case Op::DeleteObjectTagging:
    case Op::CreateMultipartUpload:
    case Op::UploadPart:
    case Op::UploadPartCopy:
    case Op::CompleteMultipartUpload:
    case Op::AbortMultipartUpload:
    case Op::PostObject:
      return true;
    default:
      return false;
  }
}

bool is_write_method(std::string_view method) { return method == "PUT" || method == "POST" || method == "DELETE"; }

bool is_write_request(Op op, std::string_view method) {
  return is_write(op) || (op == Op::Unknown && is_write_method(method));
}

bool valid_bucket_name(std::string_view name, bool legacy) {
  // S3's limits: 3-63 characters; before 2018 (and on RGW and MinIO) up to 255.
  constexpr std::size_t kMinLength = 3, kMaxLength = 63, kMaxLegacyLength = 255;
  if (name.size() < kMinLength || name.size() > (legacy ? kMaxLegacyLength : kMaxLength)) return false;
  const auto is_lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  const auto allowed = [&](char c) {
    if (is_lower_or_digit(c) || c == '.' || c == '-') return true;
    return legacy && ((c >= 'A' && c <= 'Z') || c == '_');
  };
  if (!std::all_of(name.begin(), name.end(), allowed)) return false;
  const auto alnum = [&](char c) { return is_lower_or_digit(c) || (legacy && c >= 'A' && c <= 'Z'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  if (name.find("..") != std::string_view::npos) return false;
  // Not formatted as an IPv4 address ("192.168.5.4").
  const auto labels = text::split(name, '.');
  if (labels.size() == 4 && std::all_of(labels.begin(), labels.end(), [](std::string_view l) {
        return text::is_digits(l) && l.size() <= 3;
      })) {
    return false;
  }
  if (legacy) return true;
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (name.starts_with(prefix)) return false;
  }
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (name.ends_with(suffix)) return false;
  }
  return true;
}

bool dns_compatible_bucket(std::string_view name) {
  return valid_bucket_name(name, false) && name.find(".-") == std::string_view::npos &&
         name.find("-.") == std::string_view::npos;
}

Result<S3Target> classify(const ClassifyInput& in) {
  S3Target t;
  const auto sub = parse_subresources(in.raw_query);
  if (!sub) return Failure{S3Error::InvalidURI, "Couldn't parse the specified URI: the query holds an invalid escape."};
  t.acl_subresource = sub->acl;

  std::string_view key_part;
  if (auto bucket = bucket_from_host(in.host, in.virtual_host_domains)) {
    t.virtual_hosted = true;
    t.bucket = std::move(*bucket);
    key_part = in.raw_path;
  } else {
    std::string_view path = in.raw_path;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    auto decoded = uri::decode(segment);
    if (!decoded) return Failure{S3Error::InvalidURI, "Couldn't parse the specified URI: the bucket holds an invalid escape."};
    t.bucket = std::move(*decoded);
    if (slash != std::string_view::npos) key_part = path.substr(slash);
    // "//key" names no bucket; it must not become a request for the root ("/").
    if (t.bucket.empty() && !key_part.empty()) {
      return Failure{S3Error::InvalidBucketName, "The specified bucket is not valid: the path has an empty bucket segment."};
    }
  }
  if (!t.bucket.empty() && !valid_bucket_name(t.bucket, in.legacy_bucket_names)) {
    return Failure{S3Error::InvalidBucketName,
                   fmt::format("The specified bucket is not valid: {}", text::bounded(t.bucket))};
  }
  t.key_part = !key_part.empty();
  if (key_part.size() > 1) {
    auto key = uri::decode(key_part.substr(1));
    if (!key) return Failure{S3Error::InvalidURI, "Couldn't parse the specified URI: the key holds an invalid escape."};
    if (key->size() > kMaxKeyBytes) return Failure{S3Error::KeyTooLongError, "Your key is too long."};
    t.key = std::move(*key);
  }

  // S3 answers OPTIONS from the bucket's CORS configuration, whatever the path and query.
  if (in.method == "OPTIONS") t.op = Op::PreflightRequest;
  else if (t.bucket.empty()) t.op = service_op(in.method);
  else if (t.key.empty()) t.op = bucket_op(in.method, *sub);
  else t.op = object_op(in.method, *sub, in.has_copy_source);
  return t;
}

UpstreamLocation upstream_location(std::string_view bucket, std::string_view key, bool key_part, bool virtual_host,
                                   std::string_view upstream_host_header) {
  const std::string key_path = key_part ? fmt::format("/{}", uri::encode(key, true)) : std::string();
  if (bucket.empty()) return {std::string(upstream_host_header), std::string(1, '/')};
  if (virtual_host) {
    return {fmt::format("{}.{}", bucket, upstream_host_header), key_path.empty() ? std::string(1, '/') : key_path};
  }
  return {std::string(upstream_host_header), fmt::format("/{}{}", uri::encode(bucket, false), key_path)};
}

}  // namespace s3proxy
