#pragma once
// Asio/Beast aliases and the non-throwing completion token used by every coroutine.
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace s3proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Completion token: errors are returned as values, never thrown, on the request path.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

inline beast::tcp_stream& lowest(plain_stream& s) { return s; }
inline beast::tcp_stream& lowest(tls_stream& s) { return beast::get_lowest_layer(s); }

}  // namespace s3proxy
