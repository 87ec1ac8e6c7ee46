#pragma once
// The proxy's own small S3 client: signed requests with the [upstream] identity over the
// keep-alive pool, for the synthetic write check, the readiness probe and `check`.
// Bodies are small in both directions and held in memory; responses beyond
// kMaxClientResponseBody are refused rather than read.
#include "s3proxy/config.hpp"
#include "s3proxy/net.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3proxy {

class UpstreamPool;

// The largest response body the client reads back: canary objects are a few bytes and a
// bucket policy is at most 20 KiB on AWS; a megabyte bounds a hostile or confused upstream.
inline constexpr std::size_t kMaxClientResponseBody = 1024 * 1024;
// Upper bound on the upstream's response header section.
inline constexpr std::uint32_t kMaxClientResponseHeader = 64 * 1024;

using Fields = std::vector<std::pair<std::string, std::string>>;

// One request the client sends, before addressing and signing.
struct S3ClientRequest {
  http::verb method = http::verb::get;
  std::string bucket;  // empty: the service (ListBuckets)
  std::string key;     // unencoded; empty: the bucket itself
  Fields query;        // unencoded name/value pairs; an empty value gives "name="
  Fields headers;      // extra headers, sent and signed (e.g. x-amz-acl)
  std::string body;
  // Signed as this identity instead of the upstream settings' (a client's own upstream
  // identity); both null: the settings'. Must outlive the request.
  const std::string* access_key_id = nullptr;
  const Secret* secret_access_key = nullptr;
  bool anonymous = false;  // sent unsigned, as a browser would (what the public may read)
};

// The request on the wire: Host, request-target and every header including Authorization.
struct PreparedRequest {
  std::string host;    // Host header and pool key
  std::string target;  // canonical path and query
  Fields headers;      // lower-case names, Authorization last
};

// Addresses (path or virtual-hosted style per cfg.addressing) and signs the request with
// cfg's identity at `now`, the payload hash being the hex SHA-256 of the body.
PreparedRequest prepare_request(const S3ClientRequest& req, const UpstreamConfig& cfg,
                                std::chrono::system_clock::time_point now);

struct S3Response {
  unsigned status = 0;  // 0: no HTTP answer at all (see transport)
  std::string etag;     // as sent, quotes included
  std::optional<std::uint64_t> content_length;
  std::string request_id;  // x-amz-request-id
  std::string body;        // empty for HEAD
  std::string s3_code, s3_message;  // parsed from an XML error body; empty on success
  error_code transport;             // the exchange failed (no answer, cut off, body too large)

  [[nodiscard]] bool answered() const { return status != 0; }
  [[nodiscard]] bool ok() const { return !transport && status >= 200 && status < 300; }
};

// "AccessDenied (403)", "HTTP 404" for an error without a code, "transport: Connection refused".
std::string describe_failure(const S3Response& r);

class S3Client {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // The pool must outlive the client and belong to the executor it runs on. Each request is
  // signed with the settings `upstream` gives when it starts (they may change on reload).
  S3Client(UpstreamPool& pool, UpstreamSource upstream, Clock now = {});
  // Always these settings (a copy).
  S3Client(UpstreamPool& pool, const UpstreamConfig& cfg, Clock now = {});

  asio::awaitable<S3Response> send(S3ClientRequest req);

  // Arguments are taken by reference so that callers pass named objects: GCC 12 destroys a
  // temporary inside a co_await expression twice.
  asio::awaitable<S3Response> put_object(const std::string& bucket, const std::string& key, const std::string& body);
  asio::awaitable<S3Response> put_object(const std::string& bucket, const std::string& key, const std::string& body,
                                         const Fields& extra);
  asio::awaitable<S3Response> head_object(const std::string& bucket, const std::string& key);
  asio::awaitable<S3Response> get_object(const std::string& bucket, const std::string& key);
  asio::awaitable<S3Response> list_objects_v2(const std::string& bucket, const std::string& prefix);
  asio::awaitable<S3Response> delete_object(const std::string& bucket, const std::string& key);
  asio::awaitable<S3Response> head_bucket(const std::string& bucket);
  asio::awaitable<S3Response> list_buckets();
  asio::awaitable<S3Response> get_bucket_policy(const std::string& bucket);
  asio::awaitable<S3Response> get_bucket_policy_status(const std::string& bucket);
  asio::awaitable<S3Response> get_bucket_ownership_controls(const std::string& bucket);

  // Called after every exchange in which the upstream gave an HTTP answer (any status):
  // feeds the readiness tracker.
  void on_answer(std::function<void()> observer) { on_answer_ = std::move(observer); }

 private:
  asio::awaitable<S3Response> attempt(const S3ClientRequest& req, bool fresh, bool& retryable);

  UpstreamPool& pool_;
  UpstreamSource upstream_;
  Clock now_;
  std::function<void()> on_answer_;
};

// --- Reading answers (pure) -----------------------------------------------------------

// Text of the first <name>...</name> element (no attributes on it), XML entities decoded.
std::optional<std::string> xml_element(std::string_view xml, std::string_view name);
// True when a ListObjectsV2 answer names this exact key in one of its <Key> elements.
bool listing_contains_key(std::string_view list_xml, std::string_view key);

}  // namespace s3proxy
