#include "s3proxy/s3_client.hpp"

#include "s3proxy/text.hpp"

#include "s3proxy/crypto.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/s3_request.hpp"
#include "s3proxy/sigv4.hpp"
#include "s3proxy/upstream.hpp"
#include "s3proxy/uri.hpp"
#include "s3proxy/version.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace s3proxy {

namespace {

// A request that fails on a kept-alive connection before any answer arrived is sent
// again, once, on a new connection: the server may have closed it just as it was taken
// from the pool. A new connection is never stale, so one retry is all there can be. Every
// request this client makes is idempotent, so sending it twice is harmless.
constexpr int kMaxStaleConnectionRetries = 1;

std::string raw_query(const Fields& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out += '&';
    out += uri::encode(name, false);
    out += '=';
    out += uri::encode(value, false);
  }
  return out;
}

bool is_stale_connection_error(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == http::error::partial_message;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const http::request<http::string_body>& request,
                               std::chrono::milliseconds timeout, S3Response& out, bool& header_received,
                               bool& reusable) {
  auto& tcp = lowest(stream);
  tcp.expires_after(timeout);
  if (auto [ec, n] = co_await http::async_write(stream, request, use_nothrow); ec) {
    out.transport = ec;
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxClientResponseHeader);
  parser.body_limit(kMaxClientResponseBody);
  if (request.method() == http::verb::head) parser.skip(true);
  tcp.expires_after(timeout);
  if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow); ec) {
    out.transport = ec;
    co_return;
  }
  header_received = true;
  const auto& res = parser.get();
  out.status = res.result_int();
  out.etag = std::string(res[http::field::etag]);
  out.request_id = std::string(res["x-amz-request-id"]);
  if (auto len = res[http::field::content_length]; !len.empty()) out.content_length = parse_u64(len);
  if (!parser.is_done()) {
    tcp.expires_after(timeout);
    if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow); ec) {
      out.transport = ec;
      co_return;
    }
  }
  out.body = std::move(parser.get().body());
  reusable = parser.get().keep_alive() && buffer.size() == 0;
}

}  // namespace

PreparedRequest prepare_request(const S3ClientRequest& req, const UpstreamConfig& cfg,
                                std::chrono::system_clock::time_point now) {
  PreparedRequest out;
  // The same addressing as for forwarded requests, from the same function.
  auto location = upstream_location(req.bucket, req.key, !req.key.empty(), cfg.addressing == Addressing::virtual_host,
                                    cfg.host_header);
  out.host = std::move(location.host);
  const std::string& uri = location.path;
  const std::string query = sigv4::canonical_query(raw_query(req.query), false);
  out.target = query.empty() ? uri : uri + "?" + query;

  if (req.anonymous) {
    out.headers.emplace_back("host", out.host);
    out.headers.emplace_back("user-agent", fmt::format("s3-acl-proxy/{}", kVersion));
    return out;
  }
  const std::string amz_date = sigv4::amz_date(now);
  const std::string payload_hash = crypto::sha256_hex(req.body);
  std::vector<std::pair<std::string, std::string>> signed_headers;
  signed_headers.emplace_back("host", out.host);
  signed_headers.emplace_back("x-amz-date", amz_date);
  signed_headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (!req.body.empty() || req.method == http::verb::put || req.method == http::verb::post) {
    signed_headers.emplace_back("content-length", std::to_string(req.body.size()));
  }
  for (const auto& [name, value] : req.headers) {
    signed_headers.emplace_back(text::lower(name), value);
  }
  const std::string method(http::to_string(req.method));
  const sigv4::SigningInput input{method, uri, query, signed_headers, payload_hash};
  const bool own_identity = req.access_key_id != nullptr && req.secret_access_key != nullptr;
  auto signature = sigv4::sign(input, own_identity ? *req.access_key_id : cfg.access_key_id,
                               own_identity ? *req.secret_access_key : cfg.secret_access_key, cfg.region, amz_date);
  out.headers = std::move(signed_headers);
  out.headers.emplace_back("user-agent", fmt::format("s3-acl-proxy/{}", kVersion));
  out.headers.emplace_back("authorization", std::move(signature.authorization));
  return out;
}

std::string describe_failure(const S3Response& r) {
  std::string out;
  if (!r.answered()) return fmt::format("no answer from the upstream: {}", r.transport.message());
  if (!r.s3_code.empty()) out = fmt::format("{} ({})", r.s3_code, r.status);
  else out = fmt::format("HTTP {}", r.status);
  if (r.transport) out += fmt::format(", then the response failed: {}", r.transport.message());
  return out;
}

S3Client::S3Client(UpstreamPool& pool, UpstreamSource upstream, Clock now)
    : pool_(pool),
      upstream_(std::move(upstream)),
      now_(now ? std::move(now) : Clock([] { return std::chrono::system_clock::now(); })) {}

S3Client::S3Client(UpstreamPool& pool, const UpstreamConfig& cfg, Clock now)
    : S3Client(pool, fixed_upstream(cfg), std::move(now)) {}

asio::awaitable<S3Response> S3Client::send(S3ClientRequest req) {
  for (int attempt_no = 0;; ++attempt_no) {
    bool retryable = false;
    // A retry opens a new connection: after an upstream restart every pooled one may be dead.
    S3Response r = co_await attempt(req, attempt_no > 0, retryable);
    if (!retryable || attempt_no >= kMaxStaleConnectionRetries) co_return r;
  }
}

asio::awaitable<S3Response> S3Client::attempt(const S3ClientRequest& req, bool fresh, bool& retryable) {
  S3Response out;
  const std::shared_ptr<const UpstreamConfig> cfg = upstream_();  // held to the end of the exchange
  const PreparedRequest prepared = prepare_request(req, *cfg, now_());
  auto [aec, conn] = co_await pool_.acquire(prepared.host, fresh);
  if (aec) {
    out.transport = aec;
    co_return out;
  }

  http::request<http::string_body> request{req.method, prepared.target, 11};
  for (const auto& [name, value] : prepared.headers) request.set(name, value);
  request.body() = req.body;
  request.keep_alive(true);

  bool header_received = false;
  bool reusable = false;
  // Named, not a temporary inside co_await: GCC 12 destroys such temporaries twice.
  const auto run = [&](auto& stream) {
    return exchange(stream, request, cfg->read_timeout, out, header_received, reusable);
  };
  co_await std::visit(run, conn->stream);
  retryable = !header_received && conn->reused && is_stale_connection_error(out.transport);
  if (out.answered() && on_answer_) on_answer_();
  if (!out.transport && reusable) pool_.release(std::move(conn));
  else pool_.discard(std::move(conn));

  if (out.status >= 300 && !out.body.empty()) {
    if (auto parsed = parse_error_xml(out.body)) {
      out.s3_code = std::move(parsed->code);
      out.s3_message = std::move(parsed->message);
    }
  }
  co_return out;
}

// The operations are plain functions handing a complete request to send(): the request
// moves into send's coroutine frame, so nothing outlives what it refers to.
asio::awaitable<S3Response> S3Client::put_object(const std::string& bucket, const std::string& key,
                                                 const std::string& body) {
  return send(S3ClientRequest{http::verb::put, bucket, key, {}, {}, body});
}

asio::awaitable<S3Response> S3Client::put_object(const std::string& bucket, const std::string& key,
                                                 const std::string& body, const Fields& extra) {
  return send(S3ClientRequest{http::verb::put, bucket, key, {}, extra, body});
}

asio::awaitable<S3Response> S3Client::head_object(const std::string& bucket, const std::string& key) {
  return send(S3ClientRequest{http::verb::head, bucket, key, {}, {}, {}});
}

asio::awaitable<S3Response> S3Client::get_object(const std::string& bucket, const std::string& key) {
  return send(S3ClientRequest{http::verb::get, bucket, key, {}, {}, {}});
}

asio::awaitable<S3Response> S3Client::list_objects_v2(const std::string& bucket, const std::string& prefix) {
  return send(S3ClientRequest{http::verb::get, bucket, {}, {{"list-type", "2"}, {"prefix", prefix}}, {}, {}});
}

asio::awaitable<S3Response> S3Client::delete_object(const std::string& bucket, const std::string& key) {
  return send(S3ClientRequest{http::verb::delete_, bucket, key, {}, {}, {}});
}

asio::awaitable<S3Response> S3Client::head_bucket(const std::string& bucket) {
  return send(S3ClientRequest{http::verb::head, bucket, {}, {}, {}, {}});
}

asio::awaitable<S3Response> S3Client::list_buckets() { return send(S3ClientRequest{http::verb::get, {}, {}, {}, {}, {}}); }

asio::awaitable<S3Response> S3Client::get_bucket_policy(const std::string& bucket) {
  return send(S3ClientRequest{http::verb::get, bucket, {}, {{"policy", ""}}, {}, {}});
}

asio::awaitable<S3Response> S3Client::get_bucket_policy_status(const std::string& bucket) {
  return send(S3ClientRequest{http::verb::get, bucket, {}, {{"policyStatus", ""}}, {}, {}});
}

asio::awaitable<S3Response> S3Client::get_bucket_ownership_controls(const std::string& bucket) {
  return send(S3ClientRequest{http::verb::get, bucket, {}, {{"ownershipControls", ""}}, {}, {}});
}

std::optional<std::string> xml_element(std::string_view xml, std::string_view name) {
  const std::string open = fmt::format("<{}>", name);
  const std::string close = fmt::format("</{}>", name);
  auto b = xml.find(open);
  if (b == std::string_view::npos) return std::nullopt;
  b += open.size();
  const auto e = xml.find(close, b);
  if (e == std::string_view::npos) return std::nullopt;
  return xml_unescape(xml.substr(b, e - b));
}

bool listing_contains_key(std::string_view list_xml, std::string_view key) {
  constexpr std::string_view kOpen = "<Key>";
  constexpr std::string_view kClose = "</Key>";
  for (auto pos = list_xml.find(kOpen); pos != std::string_view::npos; pos = list_xml.find(kOpen, pos)) {
    pos += kOpen.size();
    const auto end = list_xml.find(kClose, pos);
    if (end == std::string_view::npos) return false;
    if (xml_unescape(list_xml.substr(pos, end - pos)) == key) return true;
    pos = end + kClose.size();
  }
  return false;
}

}  // namespace s3proxy
