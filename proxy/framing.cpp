#include "s3proxy/framing.hpp"

#include "s3proxy/forward.hpp"
#include "s3proxy/text.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace s3proxy {

namespace {

Failure bad_request(std::string message) { return Failure{S3Error::InvalidRequest, std::move(message)}; }

// User metadata: the one header family whose names may hold an underscore (framing.hpp).
constexpr std::string_view kUserMetadataPrefix = "x-amz-meta-";

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
  std::size_t hosts = 0, lengths = 0, encodings = 0, payload_hashes = 0;
  std::string_view length, encoding;
  bool aws_chunked = false;  // a STREAMING-* payload: its Content-Length includes the chunk framing
  for (const auto& h : head.headers) {
    if (h.name.find('_') != std::string_view::npos && !text::istarts_with(h.name, kUserMetadataPrefix)) {
      return bad_request(fmt::format("The header name {} holds an underscore, which servers read as a hyphen.",
                                     text::bounded(h.name)));
    }
    if (text::iequals(h.name, "x-amz-content-sha256")) {
      ++payload_hashes;
      aws_chunked = text::trim(h.value).starts_with("STREAMING-");
    }
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
  // One payload mode for every reader: verification, this size limit and the body's framing.
  if (payload_hashes > 1) return bad_request("The request has more than one x-amz-content-sha256 header.");
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
    const std::uint64_t limit = aws_chunked ? kMaxObjectSize + kMaxFramingOverhead : kMaxObjectSize;
    if (digits && (ec == std::errc::result_out_of_range || n > limit)) {
      return Failure{S3Error::EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size."};
    }
    if (!digits || ec != std::errc{} || p != length.data() + length.size()) {
      return bad_request("The Content-Length header is not a number.");
    }
  }
  return std::nullopt;
}

bool has_obs_fold(std::string_view raw) {
  const auto end = raw.find("\r\n\r\n");
  const std::string_view head = end == std::string_view::npos ? raw : raw.substr(0, end + 2);
  for (auto pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
    if (pos + 2 < head.size() && (head[pos + 2] == ' ' || head[pos + 2] == '\t')) return true;
  }
  return false;
}

std::string_view leading_method(std::string_view raw) {
  // Longer than any method S3 knows; a guard against echoing a whole garbage line.
  constexpr std::size_t kMaxMethod = 16;
  const auto space = raw.find(' ');
  if (space == std::string_view::npos || space == 0 || space > kMaxMethod) return {};
  const auto method = raw.substr(0, space);
  const bool token = std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  return token ? method : std::string_view{};
}

}  // namespace s3proxy
