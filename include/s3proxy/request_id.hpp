#pragma once
// Identifiers for the answers the proxy gives itself (verification failures, limits,
// upstream trouble), shaped like S3's own so that SDKs log them and an operator can find the
// audit line a client reported: x-amz-request-id is 16 upper-case hex digits, x-amz-id-2
// (S3's "host id") base64 text. They identify, they do not protect: not secret, not
// unguessable, only unlikely to repeat.
#include <string>

namespace s3proxy {

// 16 upper-case hex digits, e.g. "4442587FB7D0A2F9".
std::string new_request_id();
// Base64 of 36 random bytes (48 characters).
std::string new_host_id();

}  // namespace s3proxy
