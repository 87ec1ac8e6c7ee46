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

// One '&'-separated component of a query string: "name=value", "name=", "name" or "".
struct QueryComponent {
  std::string_view raw;        // the component as sent
  std::string_view raw_name;   // before its first '=' (all of it when there is none)
  std::string_view raw_value;  // after that '='; empty when there is none
};

// The single splitter of query strings. Every reader of a query (classification, access,
// verification, ACL decisions, checksums, tagging, forwarding) walks it with this and
// decodes names with `decode`, so none can see a parameter the others do not. Empty
// components ("a&&b", "a&") are yielded too (a reader that forwards or canonicalises the
// query leaves them out); an empty query has none.
class QueryComponents {
 public:
  explicit QueryComponents(std::string_view raw_query) : rest_(raw_query), done_(raw_query.empty()) {}
  // The next component into `out`; false when none is left.
  bool next(QueryComponent& out);

 private:
  std::string_view rest_;
  bool done_;
};

}  // namespace s3proxy::uri
