#pragma once
// What an S3 request is: its operation (as AWS names it), bucket, key and addressing
// style, worked out from the method, raw path, raw query and Host header alone.
#include <span>
#include <string>
#include <string_view>

#include "s3proxy/s3_error.hpp"

namespace s3proxy {

enum class Op {
  ListBuckets,
  CreateBucket,
  DeleteBucket,
  HeadBucket,
  ListObjects,
  ListObjectsV2,
  ListObjectVersions,
  GetBucketAcl,
  PutBucketAcl,
  GetBucketPolicy,
  PutBucketPolicy,
  DeleteBucketPolicy,
  GetBucketPolicyStatus,
  GetBucketOwnershipControls,
  PutBucketOwnershipControls,
  GetBucketLocation,
  GetBucketVersioning,
  PutBucketVersioning,
  GetBucketCors,
  PutBucketCors,
  DeleteBucketCors,
  GetBucketLifecycleConfiguration,
  PutBucketLifecycleConfiguration,
  DeleteBucketLifecycle,
  GetBucketTagging,
  PutBucketTagging,
  DeleteBucketTagging,
  ListMultipartUploads,
  DeleteObjects,
  GetObject,
  HeadObject,
  PutObject,
  CopyObject,
  DeleteObject,
  GetObjectAcl,
  PutObjectAcl,
  GetObjectTagging,
  PutObjectTagging,
  DeleteObjectTagging,
  CreateMultipartUpload,
  UploadPart,
  UploadPartCopy,
  CompleteMultipartUpload,
  AbortMultipartUpload,
  ListParts,
  PostObject,
  PreflightRequest,  // OPTIONS: a CORS preflight (or what the upstream refuses as not one)
  Unknown,
};

// The operation name as AWS spells it ("PutObject"); "Unknown" for Op::Unknown.
std::string_view op_name(Op op);

// True when the operation creates, changes or deletes stored data, bucket configuration
// or an ACL. Op::Unknown is not counted as a write: the caller knows only the method.
bool is_write(Op op);
// A request is a write when its operation is one, or when the proxy cannot name its
// operation and its method can change something (PUT, POST, DELETE): such a request is
// audited and confirmed like any write.
bool is_write_request(Op op, std::string_view method);
bool is_write_method(std::string_view method);

// S3's longest object key, in bytes of its UTF-8 form.
inline constexpr std::size_t kMaxKeyBytes = 1024;

// Bucket names by S3's rules for general purpose buckets: 3-63 characters of a-z, 0-9, '.'
// and '-', starting and ending with a letter or digit, no "..", not an IPv4 address, none of
// the reserved prefixes and suffixes. legacy also admits what S3 allowed before March 2018 in
// us-east-1 and what RGW and MinIO still accept: up to 255 characters, upper-case letters and
// '_'. A name that fails the rule for the request's addressing is refused as InvalidBucketName.
bool valid_bucket_name(std::string_view name, bool legacy);
// A bucket that can be the first label of a virtual-hosted Host: the strict rule, and no '.'
// next to '-' either (never legacy: upper case and '_' are not host name characters).
bool dns_compatible_bucket(std::string_view name);

struct S3Target {
  Op op = Op::Unknown;
  std::string bucket;           // percent-decoded and valid; empty for ListBuckets
  std::string key;              // percent-decoded; empty when none
  bool key_part = false;        // the path goes on after the bucket ("/bucket/", "/bucket/k",
                                // any virtual-hosted path): the upstream path keeps that '/'
  bool virtual_hosted = false;  // the bucket came from the Host header
  bool acl_subresource = false; // the query names "acl"
};

struct ClassifyInput {
  std::string_view method;     // upper-case HTTP method
  std::string_view raw_path;   // request-target before '?', exactly as received
  std::string_view raw_query;  // after '?', without it, exactly as received
  std::string_view host;       // Host header as received (may carry :port)
  bool has_copy_source = false;                       // x-amz-copy-source present
  std::span<const std::string> virtual_host_domains;  // {"s3.local"}: Host "b.s3.local" -> bucket "b"
  bool legacy_bucket_names = false;                   // see valid_bucket_name
};

// Names the request's operation, bucket and key, every name decoded by uri::decode (the one
// decoder of the program). Refuses with InvalidURI a path or query that does not decode, with
// InvalidBucketName an invalid or empty bucket segment ("//key"), with KeyTooLongError a key
// over kMaxKeyBytes.
Result<S3Target> classify(const ClassifyInput& in);

// Where the upstream finds a bucket and key: the Host to address and the path to send,
// already in canonical (AWS UriEncode) form, built from the decoded names so that the
// upstream sees exactly the bucket and key that were verified and audited.
struct UpstreamLocation {
  std::string host;
  std::string path;
};
UpstreamLocation upstream_location(std::string_view bucket, std::string_view key, bool key_part, bool virtual_host,
                                   std::string_view upstream_host_header);

}  // namespace s3proxy
