#pragma once
// What an S3 request is: its operation (as AWS names it), bucket, key and addressing
// style, worked out from the method, raw path, raw query and Host header alone.
#include <span>
#include <string>
#include <string_view>

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
  Unknown,
};

// The operation name as AWS spells it ("PutObject"); "Unknown" for Op::Unknown.
std::string_view op_name(Op op);

// True when the operation creates, changes or deletes stored data, bucket configuration
// or an ACL. Op::Unknown is not counted as a write: the caller knows only the method.
bool is_write(Op op);

struct S3Target {
  Op op = Op::Unknown;
  std::string bucket;           // empty for ListBuckets
  std::string key;              // percent-decoded, for logs; empty when none
  std::string raw_key_path;     // key part of the path exactly as received, with its leading '/'
                                // ("/a%20b/c.jpg"); "" when the path has no key part;
                                // "/" for path-style "/bucket/" and virtual-hosted "/"
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
};

S3Target classify(const ClassifyInput& in);

}  // namespace s3proxy
