#include "s3proxy/response_head.hpp"

namespace s3proxy {

std::string serialize_response_head(const http::response_header<>& head) {
  const unsigned version = head.version();
  const unsigned status = head.result_int();
  const std::string_view reason = head.reason();
  std::size_t size = 13 + reason.size() + 2 + 2;  // "HTTP/1.1 200 " reason CRLF ... CRLF
  for (const auto& f : head) size += f.name_string().size() + 2 + f.value().size() + 2;
  std::string out;
  out.reserve(size);
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += static_cast<char>('0' + status / 100 % 10);
  out += static_cast<char>('0' + status / 10 % 10);
  out += static_cast<char>('0' + status % 10);
  out += ' ';
  out += reason;
  out += "\r\n";
  for (const auto& f : head) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace s3proxy
