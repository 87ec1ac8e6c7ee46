#include "s3proxy/response_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace s3proxy {
namespace {

// What Beast's own serializer writes for the head of this response.
std::string beast_head(const http::response_header<>& head) {
  http::response<http::empty_body> res{head};
  http::response_serializer<http::empty_body> sr{res};
  std::string out;
  error_code ec;
  sr.split(true);
  while (!sr.is_header_done()) {
    sr.next(ec, [&](error_code&, const auto& buffers) {
      for (const auto b : beast::buffers_range_ref(buffers)) out.append(static_cast<const char*>(b.data()), b.size());
      sr.consume(beast::buffer_bytes(buffers));
    });
    if (ec) return "error: " + ec.message();
  }
  return out;
}

http::response_header<> parsed(std::string_view wire) {
  http::response_parser<http::empty_body> p;
  p.skip(true);
  error_code ec;
  p.put(asio::buffer(wire.data(), wire.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  return p.release().base();
}

TEST(ResponseHead, MatchesBeastsSerializerForAnUpstreamAnswer) {
  auto head = parsed(
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 11:42:36 GMT\r\n"
      "Content-Type: application/octet-stream\r\nContent-Length: 1024\r\nETag: \"6b0eb20d-400\"\r\n"
      "x-amz-request-id: tx000-1\r\nx-amz-meta-Odd:  spaced value\r\n\r\n");
  EXPECT_EQ(serialize_response_head(head), beast_head(head));
  http::response<http::empty_body> relayed{head};
  relayed.keep_alive(false);  // the proxy's own change before relaying
  head = relayed.base();
  EXPECT_EQ(serialize_response_head(head), beast_head(head));
  EXPECT_NE(serialize_response_head(head).find("\r\nConnection: close\r\n"), std::string::npos);
}

TEST(ResponseHead, KeepsAReceivedReasonPhraseAndSuppliesTheStandardOneWhenEmpty) {
  const auto custom = parsed("HTTP/1.1 206 Partial Bits\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(serialize_response_head(custom).substr(0, 26), "HTTP/1.1 206 Partial Bits\r");
  EXPECT_EQ(serialize_response_head(custom), beast_head(custom));
  const auto bare = parsed("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(serialize_response_head(bare), beast_head(bare));
  http::response_header<> made;
  made.result(http::status::no_content);
  made.version(10);
  EXPECT_EQ(serialize_response_head(made), "HTTP/1.0 204 No Content\r\n\r\n");
  EXPECT_EQ(serialize_response_head(made), beast_head(made));
}

}  // namespace
}  // namespace s3proxy
