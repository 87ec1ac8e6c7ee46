#pragma once
// The two ACL settings of [acl], shared by the config module and the ACL decision.

namespace s3proxy {

// "strip": remove ACL headers and re-sign; "audit": forward them and log them.
enum class AclMode { strip, audit };

// What to do with PUT ?acl (PutObjectAcl/PutBucketAcl): answer 501 NotImplemented,
// answer 200 locally, send it on to the upstream, or turn it into the object's visibility
// tag ([acl] private_tag) with the upstream identity.
enum class AclRequests { reject, accept, forward, tag };

}  // namespace s3proxy
