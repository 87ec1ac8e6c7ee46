#include "s3proxy/framing.hpp"

#include "s3proxy/forward.hpp"
#include "s3proxy/text.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace s3proxy {

namespace {

Failure bad_request(std::string message) { return Failure{S3Error::InvalidRequest, std::move(message)}; }

bool allowed_method(std::string_view m) {
  static constexpr std::array kMethods = {std::string_view("GET"),  std::string_view("HEAD"),
                                          std::string_view("PUT"),  std::string_view("POST"),
                                          std::string_view("DELETE"), std::string_view("OPTIONS")};
  return std::find(kMethods.begin(), kMethods.end(), m) != kMethods.end();
}

bool end_to_end_field(std::string_view lower_name) {
  return lower_name.starts_with("x-amz-") || lower_name.starts_with("content-") || lower_name == "authorization" ||
         lower_name == "host" || lower_name == "expect";
}

}  // namespace

std::optional<Failure> check_request_head(const RequestHead& head) {
  if (!allowed_method(head.method)) {
    return Failure{S3Error::MethodNotAllowed,
                   fmt::format("The specified method is not allowed against this resource: {}", text::bounded(head.method))};
  }
  if (head.target.empty() || head.target.front() != '/') {
    return bad_request("The request target must be an origin-form path.");
  }
  if (head.headers.size() > kMaxHeaderFields) {
    return Failure{S3Error::RequestHeaderSectionTooLarge,
                   fmt::format("Your request has more than {} header fields.", kMaxHeaderFields)};
  }
  std::size_t hosts = 0, lengths = 0, encodings = 0;
  std::string_view length, encoding;
  for (const auto& h : head.headers) {
    if (text::iequals(h.name, "host")) ++hosts;
    if (text::iequals(h.name, "content-length")) {
      ++lengths;
      length = text::trim(h.value);
    }
    if (text::iequals(h.name, "transfer-encoding")) {
      ++encodings;
      encoding = h.value;
    }
    if (text::iequals(h.name, "connection")) {
      for (const auto& token : text::list_tokens(h.value)) {
        if (end_to_end_field(token)) {
          return bad_request(fmt::format("The Connection header names the end-to-end field {}.", text::bounded(token)));
        }
      }
    }
  }
  if (hosts != 1) return bad_request(hosts == 0 ? "The request has no Host header." : "The request has more than one Host header.");
  if (lengths > 1) return bad_request("The request has more than one Content-Length header.");
  if (encodings > 1) return bad_request("The request has more than one Transfer-Encoding header.");
  if (encodings == 1) {
    if (lengths == 1) return bad_request("The request has both Content-Length and Transfer-Encoding.");
    const auto codings = text::list_tokens(encoding);
    const auto chunked = std::count(codings.begin(), codings.end(), "chunked");
    if (codings.empty() || codings.back() != "chunked" || chunked != 1) {
      return bad_request("Transfer-Encoding must end in chunked: the length of the request body cannot be determined.");
    }
  }
  if (lengths == 1) {
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    const bool digits = text::is_digits(length);
    if (digits && (ec == std::errc::result_out_of_range || n > kMaxObjectSize + kMaxFramingOverhead)) {
      return Failure{S3Error::EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size."};
    }
    if (!digits || ec != std::errc{} || p != length.data() + length.size()) {
      return bad_request("The Content-Length header is not a number.");
    }
  }
  return std::nullopt;
}

}  // namespace s3proxy
