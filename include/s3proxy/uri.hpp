#pragma once
// Percent-encoding as S3 and SigV4 use it. The single decoder of the program: request
// classification, signature verification, ACL decisions and the audit log all see a name
// through it, so what is verified, audited and forwarded cannot differ.
#include <optional>
#include <string>
#include <string_view>

namespace s3proxy::uri {

// AWS UriEncode: A-Za-z0-9-_.~ kept, every other byte as %XX with upper-case hex;
// '/' kept only when keep_slash.
std::string encode(std::string_view s, bool keep_slash);

// %XX decoding ('+' stays '+'). Strict: nullopt on a truncated or non-hex escape, which
// the request path refuses as InvalidURI rather than guessing what the client meant.
std::optional<std::string> decode(std::string_view s);

// The same decoding without a copy where there is nothing to decode: the result views `s`
// itself when it holds no escape, else `scratch`, which it overwrites. For the loops that
// read every query parameter of every request.
std::optional<std::string_view> decode(std::string_view s, std::string& scratch);

}  // namespace s3proxy::uri
