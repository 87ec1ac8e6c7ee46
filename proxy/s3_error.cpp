#include "s3proxy/s3_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace s3proxy {

S3ErrorInfo info(S3Error e) {
  switch (e) {
    case S3Error::AccessDenied: return {403, "AccessDenied"};
    case S3Error::AuthorizationHeaderMalformed: return {400, "AuthorizationHeaderMalformed"};
    case S3Error::AuthorizationQueryParametersError: return {400, "AuthorizationQueryParametersError"};
    case S3Error::BadDigest: return {400, "BadDigest"};
    case S3Error::EntityTooLarge: return {400, "EntityTooLarge"};
    case S3Error::IncompleteBody: return {400, "IncompleteBody"};
    case S3Error::InternalError: return {500, "InternalError"};
    case S3Error::InvalidAccessKeyId: return {403, "InvalidAccessKeyId"};
    case S3Error::InvalidArgument: return {400, "InvalidArgument"};
    case S3Error::InvalidBucketName: return {400, "InvalidBucketName"};
    case S3Error::InvalidDigest: return {400, "InvalidDigest"};
    case S3Error::IncorrectNumberOfFilesInPostRequest: return {400, "IncorrectNumberOfFilesInPostRequest"};
    case S3Error::InvalidPolicyDocument: return {400, "InvalidPolicyDocument"};
    case S3Error::InvalidRequest: return {400, "InvalidRequest"};
    case S3Error::InvalidTag: return {400, "InvalidTag"};
    case S3Error::InvalidURI: return {400, "InvalidURI"};
    case S3Error::KeyTooLongError: return {400, "KeyTooLongError"};
    case S3Error::MalformedPOSTRequest: return {400, "MalformedPOSTRequest"};
    case S3Error::MaxPostPreDataLengthExceeded: return {400, "MaxPostPreDataLengthExceededError"};
    case S3Error::MalformedACLError: return {400, "MalformedACLError"};
    case S3Error::MalformedTrailerError: return {400, "MalformedTrailerError"};
    case S3Error::MissingSecurityHeader: return {400, "MissingSecurityHeader"};
    case S3Error::MethodNotAllowed: return {405, "MethodNotAllowed"};
    case S3Error::MissingContentLength: return {411, "MissingContentLength"};
    case S3Error::NotImplemented: return {501, "NotImplemented"};
    case S3Error::RequestHeaderSectionTooLarge: return {400, "RequestHeaderSectionTooLarge"};
    case S3Error::RequestTimeTooSkewed: return {403, "RequestTimeTooSkewed"};
    case S3Error::RequestTimeout: return {400, "RequestTimeout"};
    case S3Error::SlowDown: return {503, "SlowDown"};
    case S3Error::SignatureDoesNotMatch: return {403, "SignatureDoesNotMatch"};
    case S3Error::UnexpectedContent: return {400, "UnexpectedContent"};
    case S3Error::XAmzContentSHA256Mismatch: return {400, "XAmzContentSHA256Mismatch"};
    case S3Error::UpstreamUnreachable: return {502, "UpstreamUnreachable"};
    case S3Error::UpstreamTimeout: return {504, "UpstreamTimeout"};
    case S3Error::UpstreamResponseInvalid: return {502, "UpstreamResponseInvalid"};
    case S3Error::PhantomWrite: return {502, "PhantomWrite"};
  }
  return {500, "InternalError"};
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string error_xml(std::string_view code, std::string_view message, std::string_view resource,
                      std::string_view request_id) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>"
      "<Resource>{}</Resource><RequestId>{}</RequestId></Error>",
      xml_escape(code), xml_escape(message), xml_escape(resource), xml_escape(request_id));
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    auto end = s.find(';', i);
    if (end == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    auto ent = s.substr(i + 1, end - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else out += s.substr(i, end - i + 1);
    i = end;
  }
  return out;
}

namespace {

std::optional<std::string> element_text(std::string_view body, std::string_view name) {
  const std::string open = fmt::format("<{}>", name);
  const std::string close = fmt::format("</{}>", name);
  auto b = body.find(open);
  if (b == std::string_view::npos) return std::nullopt;
  b += open.size();
  auto e = body.find(close, b);
  if (e == std::string_view::npos) return std::nullopt;
  return xml_unescape(body.substr(b, e - b));
}

}  // namespace

std::optional<ParsedS3Error> parse_error_xml(std::string_view body) {
  // Only <Error> documents carry an S3 error; the Code must be a plain token.
  if (body.find("<Error>") == std::string_view::npos) return std::nullopt;
  auto code = element_text(body, "Code");
  if (!code || code->empty() || code->size() > 64) return std::nullopt;
  auto message = element_text(body, "Message");
  return ParsedS3Error{std::move(*code), message.value_or("")};
}

std::optional<std::string> sanitize_error_xml(std::string_view body) {
  // The fields a client may see. Everything else is dropped: an upstream SignatureDoesNotMatch
  // carries the proxy's own StringToSign, CanonicalRequest (and their bytes) and the upstream
  // access key id, which describe the proxy's identity and not the client's request.
  static constexpr std::array kKept = {
      std::string_view("Code"),      std::string_view("Message"),    std::string_view("Resource"),
      std::string_view("RequestId"), std::string_view("HostId"),     std::string_view("BucketName"),
      std::string_view("Key"),       std::string_view("VersionId"),  std::string_view("UploadId"),
      std::string_view("PartNumber"), std::string_view("ETag"),      std::string_view("Condition"),
      std::string_view("Region"),    std::string_view("Endpoint"),   std::string_view("Bucket"),
      std::string_view("ArgumentName"), std::string_view("MinSizeAllowed"), std::string_view("MaxSizeAllowed"),
      std::string_view("ProposedSize"), std::string_view("Method"),  std::string_view("ResourceType"),
  };
  const auto open = body.find("<Error>");
  const auto close = body.rfind("</Error>");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  const std::string_view inner = body.substr(open + 7, close - open - 7);
  const auto is_kept = [](std::string_view name) { return std::find(kKept.begin(), kKept.end(), name) != kKept.end(); };
  // A document holding nothing but kept fields goes on byte for byte (the client cannot tell
  // it was read); only one that carries something else is rebuilt.
  bool only_kept = true;
  for (auto lt = inner.find('<'); lt != std::string_view::npos && only_kept; lt = inner.find('<', lt + 1)) {
    if (lt + 1 < inner.size() && inner[lt + 1] == '/') continue;
    const auto name_end = inner.find_first_of("> /", lt + 1);
    only_kept = name_end != std::string_view::npos && is_kept(inner.substr(lt + 1, name_end - lt - 1));
  }
  // Around the element: at most the XML declaration before it, whitespace after it.
  const std::string_view before = body.substr(0, open);
  const std::string_view after = body.substr(close + 8);
  const auto decl_end = before.find("?>");
  const bool plain_prolog = before.find_first_not_of(" \t\r\n") == std::string_view::npos ||
                            (before.starts_with("<?xml") && decl_end != std::string_view::npos &&
                             before.find('<', 1) == std::string_view::npos &&
                             before.find_first_not_of(" \t\r\n", decl_end + 2) == std::string_view::npos);
  const bool plain_epilog = after.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (only_kept && plain_prolog && plain_epilog && inner.find("<Code>") != std::string_view::npos) {
    return std::string(body);
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>";
  bool has_code = false;
  for (const auto name : kKept) {
    const std::string start = fmt::format("<{}>", name);
    const std::string end = fmt::format("</{}>", name);
    const auto b = inner.find(start);
    if (b == std::string_view::npos) continue;
    const auto e = inner.find(end, b + start.size());
    if (e == std::string_view::npos) continue;
    const std::string_view value = inner.substr(b + start.size(), e - b - start.size());
    if (value.find('<') != std::string_view::npos) continue;  // not a plain text field
    out.append(start).append(value).append(end);
    has_code = has_code || name == "Code";
  }
  if (!has_code) return std::nullopt;
  out += "</Error>";
  return out;
}

}  // namespace s3proxy
