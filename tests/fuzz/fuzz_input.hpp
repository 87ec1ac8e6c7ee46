#pragma once
// Splits a fuzz input into an HTTP-like request: line 1 "METHOD TARGET", then "Name: value"
// lines. Shared by the request-level harnesses so their corpora are interchangeable.
#include "s3proxy/sigv4.hpp"

#include <string_view>
#include <vector>

namespace s3proxy::fuzz {

struct FuzzRequest {
  std::string_view method, path, query;
  std::vector<sigv4::Header> headers;
};

inline FuzzRequest split_request(std::string_view in) {
  FuzzRequest r;
  auto next_line = [&in]() {
    auto nl = in.find('\n');
    auto line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    return line;
  };
  auto first = next_line();
  auto sp = first.find(' ');
  r.method = first.substr(0, sp);
  auto target = sp == std::string_view::npos ? std::string_view{} : first.substr(sp + 1);
  auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  while (!in.empty()) {
    auto line = next_line();
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    r.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  return r;
}

}  // namespace s3proxy::fuzz
