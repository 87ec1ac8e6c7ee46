#include "s3proxy/relay.hpp"

#include "s3proxy/request_id.hpp"
#include "s3proxy/access.hpp"
#include "s3proxy/acl_policy.hpp"
#include "s3proxy/audit.hpp"
#include "s3proxy/buffer_pool.hpp"
#include "s3proxy/chunked.hpp"
#include "s3proxy/conditional.hpp"
#include "s3proxy/config_store.hpp"
#include "s3proxy/forward.hpp"
#include "s3proxy/framing.hpp"
#include "s3proxy/http_read.hpp"
#include "s3proxy/lifecycle.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/overload.hpp"
#include "s3proxy/post_form.hpp"
#include "s3proxy/post_policy.hpp"
#include "s3proxy/response_head.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/s3_error.hpp"
#include "s3proxy/s3_request.hpp"
#include "s3proxy/sigv4.hpp"
#include "s3proxy/splice.hpp"
#include "s3proxy/suspension.hpp"
#include "s3proxy/crypto.hpp"
#include "s3proxy/text.hpp"
#include "s3proxy/upstream.hpp"
#include "s3proxy/upstream_health.hpp"
#include "s3proxy/write_all.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace s3proxy {

namespace {

using namespace std::chrono_literals;

// Request and response bodies move in pieces of this size: memory per request stays
// bounded (two such buffers from the worker's BufferPool plus the client's read buffer)
// whatever the object size.
constexpr std::size_t kBodyPiece = BufferPool::kBufferSize;
// Between requests a connection keeps a read buffer no larger than this (a small request's
// whole head fits): 1,000 idle keep-alive connections cost a few MiB, not 64 MiB.
constexpr std::size_t kIdleReadBuffer = 4 * 1024;
// How long to wait for the upstream's answer to Expect: 100-continue before sending the
// body anyway (RFC 9110 §10.1.1 lets a client proceed after a reasonable wait; curl and
// botocore wait one second too).
constexpr auto kContinueWait = 1s;
// Upper bound on a response header from the upstream.
constexpr std::uint32_t kMaxUpstreamHeader = 64 * 1024;
// The answer to PutObject is empty and those to CompleteMultipartUpload and CopyObject are a
// few hundred bytes of XML (RGW pads long completions with whitespace): read whole, bounded.
constexpr std::size_t kMaxConfirmedBody = 256 * 1024;
// An S3 error document is a few hundred bytes (an upstream SignatureDoesNotMatch with its
// canonical request in hex a few KiB): read whole, to pass it on without the upstream's
// signing details.
constexpr std::size_t kMaxErrorBody = 64 * 1024;
// A plain-HTTP download at least this large moves through a kernel pipe (splice) instead
// of user-space buffers; below it the pipe's set-up costs more than the copies it saves.
constexpr std::uint64_t kSpliceMinBytes = 256 * 1024;
// Upstream error messages are audited up to this length.
constexpr std::size_t kMaxAuditedMessage = 512;
// How often an ACL change waiting for another one on the same object looks again (the other
// takes two upstream round trips, a few milliseconds).
constexpr auto kTagTurnPoll = 5ms;

using RequestParser = http::request_parser<http::buffer_body>;
// The upstream's response is read into a pooled block (kMaxUpstreamHeader fits in it).
using UpBuffer = beast::flat_static_buffer_base;
static_assert(kMaxUpstreamHeader <= BufferPool::kBufferSize);
using ResponseParser = http::response_parser<http::buffer_body>;

// What the client has been told so far; decides how a late failure can still be reported.
enum class ClientState { nothing_sent, continue_sent, response_started };

struct Exchange {
  AuditRecord rec;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // The whole request body must have arrived by then (server.body_timeout).
  std::chrono::steady_clock::time_point body_deadline;
  bool is_write = false;
  bool auth_failed = false;
  bool keep_alive = true;
  unsigned client_version = 11;  // the HTTP version of the client's request (10 or 11)
  ClientState client = ClientState::nothing_sent;
  bool embedded_error = false;  // a 2xx whose body is an S3 <Error>
  bool phantom = false;         // acknowledged upstream, missing on verification
  bool truncated = false;       // the upstream's response was cut off mid-body
};

// How one attempt on an upstream connection ended.
enum class Attempt {
  done,                       // the client has its answer (or the connection is cut)
  retry_on_fresh_connection,  // a pooled connection turned out closed before any byte mattered
};

// The end-to-end Expect: 100-continue step.
enum class ContinueStep {
  send_body,  // the upstream said 100 (or nothing in time): the body goes
  answered,   // the upstream gave its final answer first; it has been relayed
  failed,     // the upstream failed; the client has its error
  stale,      // a pooled connection turned out closed: retry on a fresh one
};

// Writes whose acknowledgement is read whole before the client sees it: S3 reports some
// failures as a 200 carrying an <Error> document. A write the proxy cannot name is confirmed
// the same way, since it may be any of these.
bool confirms_write(Op op, std::string_view method) {
  return op == Op::PutObject || op == Op::CompleteMultipartUpload || op == Op::CopyObject ||
         op == Op::UploadPartCopy || (op == Op::Unknown && is_write_method(method));
}

// The audit field names the client's payload mode, not the body hash itself.
std::string payload_mode_label(std::optional<std::string_view> value) {
  if (!value) return "";
  auto mode = sigv4::parse_payload_mode(*value);
  if (!mode) return "invalid";
  return *mode == sigv4::PayloadMode::hex_sha256 ? "SHA256" : std::string(*value);
}

// True once the upstream has sent something, false after `wait`. Nothing is read, so giving
// up leaves the connection and the parser untouched (a timed-out Beast read would close it).
asio::awaitable<bool> upstream_speaks_within(beast::tcp_stream& up, std::chrono::steady_clock::duration wait) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(up.get_executor(), wait);
  auto first = co_await (up.socket().async_wait(tcp::socket::wait_read, use_nothrow) || timer.async_wait(use_nothrow));
  co_return first.index() == 0;
}

// The cause the operator must act on: a timeout is the upstream being slow (504), anything
// else is the upstream being unreachable or failing (502).
Failure upstream_failure(const error_code& ec) {
  if (ec == beast::error::timeout) {
    return Failure{S3Error::UpstreamTimeout, "The upstream did not answer in time."};
  }
  return Failure{S3Error::UpstreamUnreachable, fmt::format("The upstream connection failed: {}", ec.message())};
}

// S3's <Resource>: "/bucket/key" for an object, "/bucket" for a bucket, "/" for the service.
std::string error_resource(std::string_view bucket, std::string_view key) {
  if (bucket.empty()) return "/";
  if (key.empty()) return fmt::format("/{}", bucket);
  return fmt::format("/{}/{}", bucket, key);
}

// An interim answer (RFC 9110 §15.2) the client is not given: 102 Processing, 103 Early Hints,
// and a 100 Continue unless it is the one being waited for. Taken for the final answer, it
// would leave the real one unread on the upstream connection, for the next request there.
// 101 is none: nothing asked for a change of protocol.
bool skipped_interim(unsigned status, bool want_continue) {
  return status / 100 == 1 && status != 101 && !(want_continue && status == 100);
}

bool is_stale_connection_error(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

template <class ClientStream>
class Session {
 public:
  Session(ClientStream& client, WorkerState& worker, ConnectionSlot& slot)
      : client_(client), w_(worker), slot_(slot), cfg_(worker.services.config.current()), remote_(slot.remote) {}

  asio::awaitable<void> run() {
    beast::flat_buffer buffer(cfg_->server.max_header_bytes + kBodyPiece);
    for (;;) {
      // Nothing waiting from the client: give a large buffer (an upload's) back before idling.
      if (buffer.size() == 0 && buffer.capacity() > kIdleReadBuffer) buffer.shrink_to_fit();
      RequestParser parser;
      parser.header_limit(static_cast<std::uint32_t>(cfg_->server.max_header_bytes));
      parser.body_limit(boost::none);  // bodies are streamed, never held
      const HeadRead head = co_await read_request_head(buffer, parser);
      if (head.obs_fold || head.ec) {
        if (auto refusal = refusal_of_unreadable_head(head, buffer)) {
          Exchange x = new_exchange();
          x.rec.method = std::string(leading_method(as_view(buffer)));
          x.is_write = is_write_method(x.rec.method);
          co_await answer_error(x, *refusal);
          finish(x);
        }
        co_return;
      }
      RequestInFlight in_flight(slot_);
      cfg_ = w_.services.config.current();  // this request's settings, to its end, whatever a reload does
      Exchange x = new_exchange();
      co_await handle(x, buffer, parser);
      finish(x);
      piece_.release();
      pending_body_ = std::string();
      replay_.reset();
      if (!x.keep_alive || w_.stopping.load()) co_return;
    }
  }

 private:
  ClientStream& client_;
  WorkerState& w_;
  ConnectionSlot& slot_;
  std::shared_ptr<const Config> cfg_;
  std::string remote_;
  BufferPool::Lease piece_;  // taken when a body moves, given back when the request ends
  std::string pending_body_;  // a form upload's body bytes read together with its fields
  std::vector<asio::const_buffer> send_list_;  // what one upstream write of the body sends
  // The body's first piece, when the write that carried it with the request head failed on
  // a pooled connection the upstream had closed: it goes again on a fresh connection.
  std::optional<std::string_view> replay_;

  // The secret of a client key this request's configuration knows, or null.
  const Secret* client_secret(std::string_view access_key_id) const {
    const ClientKey* c = find_client(*cfg_, access_key_id);
    return c ? &c->secret_access_key : nullptr;
  }

  char* piece() {
    if (piece_.empty()) piece_ = w_.buffers.take();
    return piece_.data();
  }

  struct HeadRead {
    error_code ec;
    bool obs_fold = false;
  };

  static std::string_view as_view(const beast::flat_buffer& buffer) {
    return {static_cast<const char*>(buffer.data().data()), buffer.size()};
  }

  // The loop of http::async_read_header, with one more check on the raw bytes before the
  // parser sees them: a folded header line is refused, never joined.
  //
  // The parser applies its header limit to the bytes of one put() only, and takes complete
  // lines as they come: a head arriving in pieces would never reach it. The limit is kept
  // here, on the whole head.
  asio::awaitable<HeadRead> read_request_head(beast::flat_buffer& buffer, RequestParser& parser) {
    lowest(client_).expires_after(cfg_->server.idle_timeout);
    const std::size_t limit = cfg_->server.max_header_bytes;
    std::size_t taken = 0;  // head bytes the parser has consumed so far
    for (;;) {
      if (buffer.size() > 0) {
        if (has_obs_fold(as_view(buffer))) co_return HeadRead{{}, true};
        error_code ec;
        const std::size_t used = parser.put(buffer.data(), ec);
        if (ec && ec != http::error::need_more) co_return HeadRead{ec};
        buffer.consume(used);
        taken += used;
        if (taken > limit) co_return HeadRead{http::error::header_limit};
        if (parser.is_header_done()) co_return HeadRead{};
        // Not done although more than the allowance is at hand: the head's end lies beyond it.
        if (taken + buffer.size() > limit) co_return HeadRead{http::error::header_limit};
      }
      const std::size_t room = buffer.max_size() - buffer.size();
      if (room == 0) co_return HeadRead{http::error::header_limit};
      // An idle connection waits with a small buffer; once a request is arriving, pieces grow.
      const std::size_t want = buffer.size() == 0 ? kIdleReadBuffer : kBodyPiece;
      auto [ec, n] = co_await client_.async_read_some(buffer.prepare(std::min(room, want)), use_nothrow);
      buffer.commit(n);
      if (ec == asio::error::eof) co_return HeadRead{buffer.size() == 0 ? error_code(http::error::end_of_stream)
                                                                         : error_code(http::error::partial_message)};
      if (ec) co_return HeadRead{ec};
    }
  }

  // What a client whose request head could not be read is told; nullopt when it is gone
  // or simply closed an idle connection.
  static std::optional<Failure> refusal_of_unreadable_head(const HeadRead& head, const beast::flat_buffer& buffer) {
    if (head.obs_fold) {
      return Failure{S3Error::InvalidRequest, "A header line is folded onto the previous one (obs-fold)."};
    }
    if (head.ec == http::error::header_limit) {
      return Failure{S3Error::RequestHeaderSectionTooLarge, "Your request header section exceeds the maximum allowed size."};
    }
    const auto& ec = head.ec;
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset || buffer.size() == 0) {
      return std::nullopt;
    }
    return Failure{S3Error::InvalidRequest, fmt::format("The request could not be parsed as HTTP/1.1: {}", ec.message())};
  }

  Exchange new_exchange() {
    Exchange x;
    x.rec.ts = w_.services.now();
    x.rec.remote = remote_;
    x.body_deadline = x.started + cfg_->server.body_timeout;
    return x;
  }

  // The life of one request, top to bottom.
  asio::awaitable<void> handle(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser) {
    auto& req = parser.get();
    const std::string_view target = req.target();
    const auto qpos = target.find('?');
    std::vector<sigv4::Header> headers;
    headers.reserve(32);
    for (const auto& f : req) headers.push_back({f.name_string(), f.value()});
    const sigv4::RequestView view{req.method_string(), target.substr(0, qpos),
                                  qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1),
                                  headers};
    x.rec.method = text::bounded(view.method);
    x.keep_alive = req.keep_alive();
    x.client_version = req.version();
    x.rec.payload_mode = text::bounded(payload_mode_label(sigv4::header_value(headers, "x-amz-content-sha256")));
    x.is_write = is_write_method(view.method);

    // Framing: where this request ends must be beyond doubt before anything else.
    if (auto bad_framing = check_request_head(RequestHead{view.method, target, headers})) {
      co_return co_await answer_error(x, *bad_framing);
    }

    // Classify: every name decoded once, by the one decoder, for verification, policy,
    // audit and the upstream alike.
    const auto classified = classify(ClassifyInput{view.method, view.raw_path, view.raw_query,
                                                   sigv4::header_value(headers, "host").value_or(""),
                                                   sigv4::header_value(headers, "x-amz-copy-source").has_value(),
                                                   cfg_->server.domains, cfg_->server.legacy_bucket_names});
    if (!classified) co_return co_await answer_error(x, classified.failure());
    const S3Target& s3 = classified.value();
    x.rec.op = std::string(op_name(s3.op));
    x.rec.bucket = s3.bucket;
    x.rec.key = s3.key;
    x.is_write = is_write_request(s3.op, view.method);

    // A browser-form upload authenticates in its body: its own path from here (a form
    // without a valid policy signature is refused there, whatever [server] anonymous says).
    if (s3.op == Op::PostObject) co_return co_await handle_post_object(x, buffer, parser, view, s3);

    // Verify the client, unless it sent no credentials and may go on without (access.hpp).
    const Access access = classify_access(view, cfg_->server.anonymous);
    const bool without_credentials = access == Access::options || access == Access::anonymous;
    const auto lookup = [this](std::string_view id) { return client_secret(id); };
    auto verified = without_credentials ? unauthenticated(view) : sigv4::verify(view, lookup, w_.services.now());
    if (!verified) {
      if (without_credentials) {
        x.rec.access_key_id = std::string(kAnonymousKeyId);
      } else {
        x.auth_failed = true;
        if (auto claimed = sigv4::parse_auth(view)) x.rec.access_key_id = text::bounded(claimed->credential.access_key_id);
      }
      co_return co_await answer_error(x, verified.failure());
    }
    const ClientKey* client = without_credentials ? nullptr : find_client(*cfg_, verified->params.credential.access_key_id);
    x.rec.access_key_id = client ? client->access_key_id : std::string(kAnonymousKeyId);
    if (client) {
      if (auto slow = over_request_rate(w_.services, *cfg_, *client)) co_return co_await answer_error(x, *slow);
    }

    // Apply the ACL policy.
    const AclDecision acl = decide_acl(cfg_->acl.mode, cfg_->acl.acl_requests, s3, view.method, headers, view.raw_query);
    x.rec.acl_action = std::string(action_name(acl.action));
    x.rec.acl_headers = acl.headers;
    for (const auto& [name, value] : acl.headers) {
      w_.services.metrics.acl_header(acl.strip_headers ? "stripped" : "kept", name);
    }
    // Tagging reads and writes tags with a storage identity, which a request without
    // credentials is never lent.
    const Failure needs_identity{S3Error::AccessDenied,
                                 "Anonymous requests cannot change an object's visibility through this endpoint."};
    if (acl.answer == LocalAnswer::visibility_tag) {
      if (!client) co_return co_await answer_error(x, needs_identity);
      co_return co_await apply_acl_as_tag(x, buffer, parser, view, s3, verified.value(), acl, *client);
    }
    if (acl.answer != LocalAnswer::none) {
      w_.services.metrics.acl_request(action_name(acl.action));
      co_return co_await answer_acl_locally(x, acl);
    }
    if (s3.acl_subresource && req.method() == http::verb::put) w_.services.metrics.acl_request("forwarded");

    // An upload with a non-public ACL carries the visibility tag (modes strip and tag).
    auto tagging = upload_tagging(cfg_->acl, s3, acl, headers, view.raw_query);
    if (!tagging) co_return co_await answer_error(x, tagging.failure());
    std::optional<UploadTagging> upload_tags = std::move(tagging.value());
    // A copy that keeps its source's tags gets them with the tag added: read first. A public
    // copy is left alone (it inherits the source's tags as S3 defines), so the common copy
    // with public-read costs no extra call and needs no tagging support upstream.
    if (s3.op == Op::CopyObject && !replaces_tags(headers) && tags_private_uploads(cfg_->acl) &&
        upload_acl_is_public(acl) == false) {
      if (!client) co_return co_await answer_error(x, needs_identity);
      auto copied = co_await copy_source_tagging(x, headers, *client, true);
      if (!copied) co_return;  // the client has its error
      upload_tags = std::move(*copied);
    }
    if (upload_tags) x.rec.acl_tag = suspension::to_string(cfg_->acl.private_tag);

    // Plan the body and the upstream request.
    const auto length = parser.content_length();
    auto plan = plan_forward(ForwardInput{view, s3, verified.value(), acl,
                                          length ? std::optional<std::uint64_t>(*length) : std::nullopt, parser.chunked(),
                                          signs_upstream(access, view.method)
                                              ? std::optional<UpstreamIdentity>(upstream_identity(*cfg_, *client))
                                              : std::nullopt,
                                          cfg_->upstream, w_.services.now(), upload_tags ? &*upload_tags : nullptr});
    if (!plan) co_return co_await answer_error(x, plan.failure());

    co_await exchange_with_upstream(x, buffer, parser, verified.value(), plan.value());
  }

  // POST Object: the form's fields before the file are read (bounded) and the policy verified
  // with the client's key; the upstream gets the form rewritten and signed with its own
  // identity, then the rest of the client's body as it comes.
  asio::awaitable<void> handle_post_object(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser,
                                           const sigv4::RequestView& view, const S3Target& s3) {
    const auto boundary = post::form_boundary(sigv4::header_value(view.headers, "content-type").value_or(""));
    if (!boundary) {
      const Failure not_form{S3Error::InvalidArgument,
                             "Bucket POST must be of the enclosure-type multipart/form-data with a valid boundary."};
      co_return co_await answer_error(x, not_form);
    }
    const auto length = parser.content_length();
    if (!length || parser.chunked()) {
      const Failure no_length{S3Error::MissingContentLength, "You must provide the Content-Length HTTP header."};
      co_return co_await answer_error(x, no_length);
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) co_await send_continue(x);

    // The fields before the file: at most post::kMaxPreFileBytes are parsed, plus one piece.
    std::string head_bytes;
    std::optional<post::FormHead> form;
    for (;;) {
      auto parsed = post::parse_form_head(head_bytes, *boundary);
      if (!parsed) co_return co_await answer_error(x, parsed.failure());
      if (parsed.value()) {
        form = std::move(*parsed.value());
        break;
      }
      if (parser.is_done()) {
        const Failure short_form{S3Error::MalformedPOSTRequest,
                                 "The body of your POST request is not well-formed multipart/form-data: it ends "
                                 "before the file."};
        co_return co_await answer_error(x, short_form);
      }
      auto [ec, data] = co_await read_piece(x, buffer, parser);
      if (ec) {
        const Failure cut = body_read_failure(ec);
        co_return co_await answer_error(x, cut);
      }
      head_bytes.append(data);
    }

    const auto lookup = [this](std::string_view id) { return client_secret(id); };
    auto verified = post::verify(*form, lookup, w_.services.now());
    if (!verified) {
      const S3Error e = verified.failure().error;
      x.auth_failed = e == S3Error::SignatureDoesNotMatch || e == S3Error::InvalidAccessKeyId;
      // Audited under the key the form names, as a refused PUT is under its path's.
      if (auto key = post::object_key(*form)) x.rec.key = std::move(key.value());
      if (const auto* cred = post::find_field(form->fields, post::kCredentialField)) {
        x.rec.access_key_id = text::bounded(cred->value.substr(0, cred->value.find('/')));
      }
      co_return co_await answer_error(x, verified.failure());
    }
    x.rec.key = verified->key;
    const ClientKey& client = *find_client(*cfg_, verified->access_key_id);
    x.rec.access_key_id = client.access_key_id;
    if (auto slow = over_request_rate(w_.services, *cfg_, client)) co_return co_await answer_error(x, *slow);

    std::vector<std::pair<std::string_view, std::string_view>> acl_fields;
    for (const auto& [name, value] : verified->acl) acl_fields.emplace_back(name, value);
    const AclDecision acl = decide(cfg_->acl.mode, cfg_->acl.acl_requests, s3, view.method, acl_fields);
    x.rec.acl_action = std::string(action_name(acl.action));
    x.rec.acl_headers = acl.headers;
    for (const auto& [name, value] : acl.headers) {
      w_.services.metrics.acl_header(acl.strip_headers ? "stripped" : "kept", name);
    }

    const UpstreamIdentity identity = upstream_identity(*cfg_, client);
    auto fields = post::rewrite(*form, verified.value(), cfg_->acl.mode,
                                post::UpstreamSigner{identity.access_key_id, identity.secret_access_key,
                                                     cfg_->upstream.region, w_.services.now()});
    if (!fields) co_return co_await answer_error(x, fields.failure());
    auto plan = plan_post_forward(PostForwardInput{view, s3, *boundary,
                                                   post::serialize_form_head(fields.value(), form->file, *boundary),
                                                   *length, form->consumed, cfg_->upstream});
    if (!plan) co_return co_await answer_error(x, plan.failure());
    pending_body_.assign(head_bytes, form->consumed);
    const sigv4::Verified form_auth{};  // the form carries no header signature or payload mode
    co_await exchange_with_upstream(x, buffer, parser, form_auth, plan.value());
  }

  static Failure body_read_failure(const error_code& ec) {
    return ec == beast::error::timeout
               ? Failure{S3Error::RequestTimeout,
                         "Your socket connection to the server was not read from or written to within the timeout "
                         "period."}
               : Failure{S3Error::IncompleteBody,
                         "You did not provide the number of bytes specified by the Content-Length HTTP header."};
  }

  asio::awaitable<void> exchange_with_upstream(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser,
                                               const sigv4::Verified& verified, ForwardPlan& plan) {
    // A pooled connection the upstream closed while idle fails on first use; such a failure
    // before any body byte moved is retried once on a new connection, never on another
    // pooled one: that could be as dead, and a second stale failure would leave the client
    // without an answer.
    for (int tries = 0; tries < 2; ++tries) {
      const bool fresh = tries > 0;
      auto [cec, conn] = co_await w_.pool.acquire(plan.host, fresh);
      if (cec) {
        const Failure unreachable = upstream_failure(cec);
        co_return co_await answer_error(x, unreachable);
      }
      const bool reused = conn->reused;
      const Attempt outcome = co_await std::visit(
          [&](auto& up) { return attempt(x, buffer, parser, verified, plan, up, reused); }, conn->stream);
      if (plan.upstream_reusable) w_.pool.release(std::move(conn));
      else w_.pool.discard(std::move(conn));
      if (outcome == Attempt::done) co_return;
    }
  }

  // One try on one upstream connection: head, the Expect step, body, response.
  template <class UpStream>
  asio::awaitable<Attempt> attempt(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser,
                                   const sigv4::Verified& verified, ForwardPlan& plan, UpStream& up, bool reused) {
    plan.upstream_reusable = false;
    const auto stale = [reused](const error_code& ec) { return reused && is_stale_connection_error(ec); };
    // Forwarded even for an empty body: some clients (botocore) expect the interim 100 the
    // upstream sends then, and lose track of the connection without it.
    // Not when the client already has its 100 (a form upload, read before the upstream is asked).
    const bool client_expects =
        x.client == ClientState::nothing_sent && beast::iequals(parser.get()[http::field::expect], "100-continue");
    // An empty aws-chunked object is verified before the upstream hears of it: its upstream
    // request is complete as soon as its header is sent.
    const bool verify_first = plan.body == BodyMode::decode_empty;
    const bool expect_continue = client_expects && carries_object_data(plan.op) && !verify_first;
    if (verify_first && x.client == ClientState::nothing_sent) {
      if (client_expects) co_await send_continue(x);
      BodyResult body = co_await relay_body(x, buffer, parser, verified, plan, up);
      x.rec.bytes_in = body.decoded_bytes;
      if (body.failure) {
        co_await refuse_body(x, *body.failure);
        co_return Attempt::done;
      }
    }

    const std::string head = plan.serialize_head(expect_continue);
    auto& up_tcp = lowest(up);
    // Without an Expect step the head waits for the body's first piece and leaves with it in
    // one write: the upstream gets a small request whole, in one segment.
    const bool head_with_body = plan.has_body && !expect_continue && !verify_first;
    if (!head_with_body) {
      up_tcp.expires_after(cfg_->upstream.read_timeout);
      const asio::const_buffer head_buffer = asio::buffer(head);
      if (auto [ec, n] = co_await write_all(up, head_buffer); ec) {
        if (stale(ec)) co_return Attempt::retry_on_fresh_connection;
        const Failure failure = upstream_failure(ec);
        co_await answer_error(x, failure);
        co_return Attempt::done;
      }
    }

    const BufferPool::Lease up_block = w_.buffers.take();
    UpBuffer up_buffer(up_block.data(), up_block.size());
    std::optional<ResponseParser> response;
    response.emplace();
    prepare(*response, plan);

    if (client_expects && !expect_continue && !verify_first) co_await send_continue(x);
    if (expect_continue) {
      switch (co_await await_continue(x, up, up_buffer, response, plan, stale)) {
        case ContinueStep::send_body: break;
        case ContinueStep::answered:
        case ContinueStep::failed: co_return Attempt::done;
        case ContinueStep::stale: co_return Attempt::retry_on_fresh_connection;
      }
    }

    // Relay the body, verifying it on the way; the final bytes are held back until it verifies.
    BodyResult body;
    if (!verify_first) {
      const std::string_view unsent_head = head_with_body ? std::string_view(head) : std::string_view();
      body = co_await relay_body(x, buffer, parser, verified, plan, up, unsent_head);
    }
    // A pooled connection the upstream had closed failed the write carrying the head: the
    // request cannot complete on it, and it goes again, first piece included, on a new one.
    if (body.head_not_taken && stale(body.upstream_ec)) co_return Attempt::retry_on_fresh_connection;
    x.rec.bytes_in = body.decoded_bytes;
    if (body.failure) {
      // The upstream request is left incomplete and the connection dropped: nothing lands.
      co_await refuse_body(x, *body.failure);
      co_return Attempt::done;
    }
    if (body.upstream_ec) {
      // A stalled upstream: its answer will not come either.
      if (body.upstream_ec == beast::error::timeout) {
        const Failure failure = upstream_failure(body.upstream_ec);
        co_await answer_error(x, failure);
        co_return Attempt::done;
      }
      // The upstream stopped reading (often an early error answer): relay it if there is one.
      x.keep_alive = false;
    }

    if (auto ec = co_await read_response_head(up, up_buffer, response, plan); ec) {
      if (!plan.has_body && x.client == ClientState::nothing_sent && stale(ec)) {
        co_return Attempt::retry_on_fresh_connection;
      }
      // The first failure names the cause (a read after a failed write only sees a closed socket).
      const Failure failure = upstream_failure(body.upstream_ec ? body.upstream_ec : ec);
      co_await answer_error(x, failure);
      co_return Attempt::done;
    }
    co_await relay_response(x, up, up_buffer, *response, plan);
    co_return Attempt::done;
  }

  // Expect: 100-continue end to end: the upstream decides before the client sends a byte.
  // Some operations get no interim answer from some servers (RGW on POST ?delete): after
  // kContinueWait without a byte from the upstream, the body goes anyway.
  template <class UpStream, class Stale>
  asio::awaitable<ContinueStep> await_continue(Exchange& x, UpStream& up, UpBuffer& up_buffer,
                                               std::optional<ResponseParser>& response, ForwardPlan& plan,
                                               const Stale& stale) {
    auto& up_tcp = lowest(up);
    if (!co_await upstream_speaks_within(up_tcp, kContinueWait)) {
      co_await send_continue(x);
      co_return ContinueStep::send_body;
    }
    const error_code ec = co_await read_response_head(up, up_buffer, response, plan, true);
    if (ec) {
      if (stale(ec)) co_return ContinueStep::stale;
      const Failure failure = upstream_failure(ec);
      co_await answer_error(x, failure);
      co_return ContinueStep::failed;
    }
    if (response->get().result() != http::status::continue_) {
      // A final answer before the body: relay it; the client's body is never read.
      x.keep_alive = false;
      co_await relay_response(x, up, up_buffer, *response, plan);
      co_return ContinueStep::answered;
    }
    response.emplace();
    prepare(*response, plan);
    co_await send_continue(x);
    co_return ContinueStep::send_body;
  }

  // Reads the upstream's final response head (or, when `want_continue`, a 100 Continue),
  // skipping interim answers: a late 100 we did not wait for, one that crossed the body, a
  // 102 or 103. A 101 is an error.
  template <class UpStream>
  asio::awaitable<error_code> read_response_head(UpStream& up, UpBuffer& up_buffer,
                                                 std::optional<ResponseParser>& response, const ForwardPlan& plan,
                                                 bool want_continue = false) {
    lowest(up).expires_after(cfg_->upstream.read_timeout);
    auto ec = co_await read_http(up, up_buffer, *response, ReadUntil::header);
    while (!ec && skipped_interim(response->get().result_int(), want_continue)) {
      response.emplace();
      prepare(*response, plan);
      ec = co_await read_http(up, up_buffer, *response, ReadUntil::header);
    }
    if (!ec && response->get().result() == http::status::switching_protocols) ec = http::error::bad_status;
    co_return ec;
  }

  static void prepare(ResponseParser& response, const ForwardPlan& plan) {
    response.header_limit(kMaxUpstreamHeader);
    response.body_limit(boost::none);
    if (plan.method == http::verb::head) response.skip(true);
  }

  struct BodyResult {
    std::uint64_t decoded_bytes = 0;
    std::optional<Failure> failure;  // the client's body is bad: answer this, upstream aborted
    error_code upstream_ec;          // writing to the upstream failed with this
    bool head_not_taken = false;     // ... in the write that carried the request head: replay_ is set
  };

  // Reads the next piece of the client's body (HTTP framing already removed by the parser),
  // within the idle timeout and the request's body deadline.
  asio::awaitable<std::pair<error_code, std::string_view>> read_piece(Exchange& x, beast::flat_buffer& buffer,
                                                                      RequestParser& parser) {
    // Beast reads at most the buffer's spare capacity (512 bytes at least): without room for a
    // whole piece, a body arrives 512 bytes per system call.
    if (const auto want = std::min(buffer.max_size(), buffer.size() + kBodyPiece); buffer.capacity() < want) {
      buffer.reserve(want);
    }
    auto& body = parser.get().body();
    body.data = piece();
    body.size = kBodyPiece;
    const auto now = std::chrono::steady_clock::now();
    if (now >= x.body_deadline) co_return std::pair{error_code(beast::error::timeout), std::string_view{}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(x.body_deadline - now);
    lowest(client_).expires_after(std::min<std::chrono::milliseconds>(cfg_->server.idle_timeout, left));
    auto ec = co_await read_http(client_, buffer, parser, ReadUntil::message);
    if (ec == http::error::need_buffer) ec = {};
    co_return std::pair{ec, std::string_view(piece(), kBodyPiece - body.size)};
  }

  // `head`, when not empty, is the request head not yet sent: it leaves with the first
  // piece the transform releases.
  template <class UpStream>
  asio::awaitable<BodyResult> relay_body(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser,
                                         const sigv4::Verified& verified, ForwardPlan& plan, UpStream& up,
                                         std::string_view head = {}) {
    BodyResult result;
    if (!plan.has_body) co_return result;
    BodyTransform transform(plan, verified);
    // A form upload's body bytes read with its fields come first (all of it, for a small one);
    // so does a first piece to send again.
    bool pending = plan.body == BodyMode::post_form || replay_.has_value();
    while (pending || !parser.is_done()) {
      std::string_view data = replay_ ? *replay_ : std::string_view(pending_body_);
      replay_.reset();
      if (!pending) {
        auto [ec, piece_read] = co_await read_piece(x, buffer, parser);
        if (ec) {
          result.failure = body_read_failure(ec);
          result.decoded_bytes = transform.decoded_bytes();
          co_return result;
        }
        data = piece_read;
      }
      pending = false;
      if (auto f = transform.consume(data, parser.is_done())) {
        result.failure = std::move(f);
        result.decoded_bytes = transform.decoded_bytes();
        co_return result;
      }
      // Everything the transform releases is safe to send: the part that would let the
      // upstream complete the object is released only once the whole body verified, and
      // never a byte beyond the Content-Length the upstream was told.
      result.upstream_ec = co_await send_output(transform, up, head);
      if (result.upstream_ec) {
        if (!head.empty()) {
          result.head_not_taken = true;
          replay_ = data;
        }
        break;
      }
      head = {};
    }
    if (!head.empty() && !result.upstream_ec) {
      result.upstream_ec = co_await send_output(transform, up, head);
      result.head_not_taken = result.upstream_ec.failed();
    }
    result.decoded_bytes = transform.decoded_bytes();
    co_return result;
  }

  // What the transform released, after the request head if one is given: one gather write
  // on a plain connection (the head, a chunk's header, data and line end leave in one system
  // call); through TLS one write per buffer, as for responses (see write_head_and_piece).
  template <class UpStream>
  asio::awaitable<error_code> send_output(BodyTransform& transform, UpStream& up, std::string_view head) {
    error_code failed;
    const auto& released = transform.take_output();
    send_list_.clear();
    if (!head.empty()) send_list_.push_back(asio::buffer(head));
    send_list_.insert(send_list_.end(), released.begin(), released.end());
    if constexpr (std::is_same_v<UpStream, plain_stream>) {
      if (!send_list_.empty()) {
        lowest(up).expires_after(cfg_->upstream.read_timeout);
        auto [wec, wn] = co_await write_all(up, send_list_);
        failed = wec;
      }
    } else {
      for (const auto& out : send_list_) {
        lowest(up).expires_after(cfg_->upstream.read_timeout);
        auto [wec, wn] = co_await asio::async_write(up, out, use_nothrow);
        if (wec) {
          failed = wec;
          break;
        }
      }
    }
    transform.clear_output();
    co_return failed;
  }

  // Relays the upstream's response (header already read) to the client, body streamed.
  template <class UpStream>
  asio::awaitable<void> relay_response(Exchange& x, UpStream& up, UpBuffer& up_buffer,
                                       ResponseParser& response, ForwardPlan& plan) {
    auto& res = response.get();
    const unsigned status = res.result_int();
    x.rec.upstream_status = status;
    x.rec.status = status;
    if (w_.services.health) w_.services.health->answered(std::chrono::steady_clock::now());
    if (auto id = res["x-amz-request-id"]; !id.empty()) x.rec.request_id = text::bounded(id);
    const bool upstream_keep_alive = res.keep_alive();
    strip_hop_by_hop(res.base());
    res.keep_alive(x.keep_alive && !w_.stopping.load());

    if (status / 100 == 2 && confirms_write(plan.op, plan.method_string)) {
      co_return co_await confirm_write(x, up, up_buffer, response, plan, upstream_keep_alive);
    }
    if (status >= 400 && !response.is_done()) {
      co_return co_await relay_error_response(x, up, up_buffer, response, plan, upstream_keep_alive);
    }

    if constexpr (std::is_same_v<ClientStream, plain_stream> && std::is_same_v<UpStream, plain_stream>) {
      if (spliceable(plan, response)) {
        co_return co_await relay_spliced(x, up, up_buffer, response, plan, upstream_keep_alive);
      }
    }

    // A bodiless answer (to a HEAD, a 204, a 304) takes the path below whatever framing it
    // announces: a chunked serializer would add a last chunk the client reads as the next response.
    if (!response.is_done() && (response.chunked() || !response.content_length())) {
      co_return co_await relay_reframed(x, up, up_buffer, response, plan, upstream_keep_alive);
    }
    // Framed by Content-Length (or bodiless): the head goes out together with the first
    // piece of the body, one write, and the rest as read.
    std::string head = serialize_response_head(res);
    for (;;) {
      std::size_t got = 0;
      if (!response.is_done()) {
        const auto [ec, piece_bytes] = co_await read_response_piece(up, up_buffer, response);
        if (ec) co_return co_await response_cut(x, ec);
        got = piece_bytes;
      }
      x.rec.bytes_out += got;
      x.client = ClientState::response_started;
      lowest(client_).expires_after(cfg_->server.idle_timeout);
      auto [wec, wn] = co_await write_head_and_piece(head, asio::buffer(piece(), got));
      if (wec) {
        x.keep_alive = false;
        co_return;
      }
      head.clear();
      if (response.is_done()) break;
    }
    plan.upstream_reusable = upstream_keep_alive && up_buffer.size() == 0 && x.keep_alive;
  }

  // The head (if not yet sent) and a piece of the body: one gather write on a plain
  // connection. Through TLS two writes: Beast's TLS stream was measured to complete an
  // async_write of [head, 64 KiB piece] after the head alone.
  asio::awaitable<std::tuple<error_code, std::size_t>> write_head_and_piece(const std::string& head,
                                                                           asio::const_buffer body) {
    if constexpr (std::is_same_v<ClientStream, plain_stream>) {
      const std::array<asio::const_buffer, 2> out{asio::buffer(head), body};
      co_return co_await write_all(client_, out);
    } else {
      if (!head.empty()) {
        auto [ec, n] = co_await asio::async_write(client_, asio::buffer(head), use_nothrow);
        if (ec || body.size() == 0) co_return std::tuple{ec, n};
      }
      co_return co_await asio::async_write(client_, body, use_nothrow);
    }
  }

  // One piece of the response body into piece(): its size, or the error that cut it.
  template <class UpStream>
  asio::awaitable<std::pair<error_code, std::size_t>> read_response_piece(UpStream& up, UpBuffer& up_buffer,
                                                                         ResponseParser& response) {
    auto& res = response.get();
    res.body().data = piece();
    res.body().size = kBodyPiece;
    lowest(up).expires_after(cfg_->upstream.read_timeout);
    auto ec = co_await read_http(up, up_buffer, response, ReadUntil::message);
    if (ec == http::error::need_buffer) ec = {};
    co_return std::pair{ec, kBodyPiece - res.body().size};
  }

  // The upstream's response ended early. Before any of it reached the client an honest error
  // answer is still possible; after, the client must not take a truncated body for a whole one.
  asio::awaitable<void> response_cut(Exchange& x, const error_code& ec) {
    x.keep_alive = false;
    if (x.client != ClientState::response_started) {
      const Failure cut{ec == beast::error::timeout ? S3Error::UpstreamTimeout : S3Error::UpstreamResponseInvalid,
                        fmt::format("The upstream closed the response early: {}", ec.message())};
      co_return co_await answer_error(x, cut);
    }
    x.rec.s3_code = std::string(info(S3Error::UpstreamResponseInvalid).code);
    x.rec.s3_message = fmt::format("The upstream closed the response early: {}", ec.message());
    x.truncated = true;
  }

  // A chunked (or close-delimited) response: Beast's serializer writes the client's framing.
  template <class UpStream>
  asio::awaitable<void> relay_reframed(Exchange& x, UpStream& up, UpBuffer& up_buffer, ResponseParser& response,
                                       ForwardPlan& plan, bool upstream_keep_alive) {
    auto& res = response.get();
    if (!response.chunked() || x.client_version < 11) {
      // The body ends where the upstream closes its connection, or the client (HTTP/1.0) cannot
      // read chunks (RFC 9112 §7.1): only the close of the client's connection can mark the end.
      res.chunked(false);
      x.keep_alive = false;
      res.keep_alive(false);
    }
    http::response_serializer<http::buffer_body> sr{res};
    bool complete = response.is_done();
    for (;;) {
      std::size_t got = 0;
      if (!response.is_done()) {
        const auto [ec, piece_bytes] = co_await read_response_piece(up, up_buffer, response);
        if (ec) co_return co_await response_cut(x, ec);
        got = piece_bytes;
      }
      x.rec.bytes_out += got;
      res.body().data = got > 0 ? piece() : nullptr;
      res.body().size = got;
      res.body().more = !response.is_done();
      x.client = ClientState::response_started;
      lowest(client_).expires_after(cfg_->server.idle_timeout);
      auto [wec, wn] = co_await http::async_write(client_, sr, use_nothrow);
      if (wec == http::error::need_buffer) wec = {};
      if (wec) {
        x.keep_alive = false;
        co_return;
      }
      complete = response.is_done();
      if (complete) break;
    }
    if (!sr.is_done()) {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
      auto [wec, wn] = co_await http::async_write(client_, sr, use_nothrow);
      if (wec && wec != http::error::need_buffer) x.keep_alive = false;
    }
    plan.upstream_reusable = complete && upstream_keep_alive && up_buffer.size() == 0 && x.keep_alive;
  }

  // A large download whose bytes need no inspection: a GET answered 200/206 with a
  // Content-Length (errors and write acknowledgements never get here).
  static bool spliceable(const ForwardPlan& plan, const ResponseParser& response) {
    const unsigned status = response.get().result_int();
    const auto length = response.content_length();
    return plan.method == http::verb::get && (status == 200 || status == 206) && !response.chunked() && length &&
           *length >= kSpliceMinBytes && !response.is_done();
  }

  // The head and the body bytes already read go out in one write; the rest moves from the
  // upstream socket to the client's through a pipe, exactly Content-Length bytes.
  asio::awaitable<void> relay_spliced(Exchange& x, plain_stream& up, UpBuffer& up_buffer, ResponseParser& response,
                                      ForwardPlan& plan, bool upstream_keep_alive) {
    auto& res = response.get();
    const std::uint64_t length = *response.content_length();
    const auto early = static_cast<std::size_t>(std::min<std::uint64_t>(up_buffer.size(), length));
    const std::string head = serialize_response_head(res);
    x.client = ClientState::response_started;
    lowest(client_).expires_after(cfg_->server.idle_timeout);
    const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(up_buffer.data().data(), early)};
    if (auto [wec, wn] = co_await asio::async_write(client_, out, use_nothrow); wec) {
      x.keep_alive = false;
      co_return;
    }
    up_buffer.consume(early);
    x.rec.bytes_out += early;

    const auto moved = co_await splice_bytes(up.socket(), client_.socket(), length - early,
                                             SpliceTimeouts{cfg_->upstream.read_timeout, cfg_->server.idle_timeout});
    x.rec.bytes_out += moved.moved;
    if (moved.read_ec) {
      co_await response_cut(x, moved.read_ec);
      error_code ignored;
      client_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    if (moved.write_ec) {
      x.keep_alive = false;
      co_return;
    }
    plan.upstream_reusable = upstream_keep_alive && up_buffer.size() == 0 && x.keep_alive;
  }

  // Reads a (small) response body whole, bounded; nullopt once the client has its error.
  template <class UpStream>
  asio::awaitable<std::optional<std::string>> read_small_body(Exchange& x, UpStream& up, UpBuffer& up_buffer,
                                                              ResponseParser& response, std::size_t limit) {
    std::string body;
    while (!response.is_done()) {
      const auto [ec, got] = co_await read_response_piece(up, up_buffer, response);
      if (ec || body.size() + got > limit) {
        const Failure cut{ec == beast::error::timeout ? S3Error::UpstreamTimeout : S3Error::UpstreamResponseInvalid,
                          ec ? fmt::format("The upstream's answer was cut off: {}", ec.message())
                             : fmt::format("The upstream's answer was larger than {} bytes.", limit)};
        co_await answer_error(x, cut);
        co_return std::nullopt;
      }
      body.append(piece(), got);
    }
    co_return body;
  }

  // Sends a response whose body the proxy holds whole.
  asio::awaitable<void> send_whole(Exchange& x, http::response_header<>&& head, std::string body) {
    x.rec.bytes_out = body.size();
    http::response<http::string_body> out{std::move(head)};
    out.body() = std::move(body);
    out.prepare_payload();
    out.keep_alive(x.keep_alive && !w_.stopping.load());
    x.client = ClientState::response_started;
    lowest(client_).expires_after(cfg_->server.idle_timeout);
    const std::string head_bytes = serialize_response_head(out.base());
    auto [wec, wn] = co_await write_head_and_piece(head_bytes, asio::buffer(out.body()));
    if (wec) x.keep_alive = false;
  }

  // An upstream error is read whole and passed on without what describes the proxy's own
  // identity (an upstream SignatureDoesNotMatch carries its StringToSign, CanonicalRequest
  // and access key id).
  template <class UpStream>
  asio::awaitable<void> relay_error_response(Exchange& x, UpStream& up, UpBuffer& up_buffer,
                                             ResponseParser& response, ForwardPlan& plan, bool upstream_keep_alive) {
    auto body = co_await read_small_body(x, up, up_buffer, response, kMaxErrorBody);
    if (!body) co_return;
    if (auto parsed = parse_error_xml(*body)) {
      x.rec.s3_code = text::bounded(parsed->code);
      x.rec.s3_message = text::bounded(parsed->message, kMaxAuditedMessage);
    }
    if (auto clean = sanitize_error_xml(*body)) *body = std::move(*clean);
    co_await send_whole(x, std::move(response.get().base()), std::move(*body));
    plan.upstream_reusable = upstream_keep_alive && up_buffer.size() == 0 && x.keep_alive;
  }

  // A write the upstream acknowledged is answered only once its (small) response is read
  // whole: S3 can report a failed CompleteMultipartUpload or CopyObject as a 200 carrying an
  // <Error> document, and with upstream.verify_writes the object is looked up first.
  template <class UpStream>
  asio::awaitable<void> confirm_write(Exchange& x, UpStream& up, UpBuffer& up_buffer,
                                      ResponseParser& response, ForwardPlan& plan, bool upstream_keep_alive) {
    auto& res = response.get();
    auto body = co_await read_small_body(x, up, up_buffer, response, kMaxConfirmedBody);
    if (!body) co_return;
    if (auto embedded = parse_error_xml(*body)) {
      // Relayed as it came (SDKs know this form), but never logged as a success.
      x.rec.s3_code = text::bounded(embedded->code);
      x.rec.s3_message = text::bounded(embedded->message, kMaxAuditedMessage);
      x.embedded_error = true;
      if (auto clean = sanitize_error_xml(*body)) *body = std::move(*clean);
    } else if (cfg_->upstream.verify_writes && (plan.op == Op::PutObject || plan.op == Op::CompleteMultipartUpload ||
                                               plan.op == Op::CopyObject)) {
      auto missing = co_await find_phantom(x, res[http::field::etag], plan.op);
      if (missing) {
        x.phantom = true;
        co_return co_await answer_error(x, *missing);
      }
    }
    co_await send_whole(x, std::move(res.base()), std::move(*body));
    plan.upstream_reusable = upstream_keep_alive && up_buffer.size() == 0 && x.keep_alive;
  }

  // Looks the acknowledged object up; a Failure when it is not there (a phantom write).
  asio::awaitable<std::optional<Failure>> find_phantom(Exchange& x, std::string_view put_etag, Op op) {
    const std::string etag(put_etag);
    const auto head = co_await w_.client.head_object(x.rec.bucket, x.rec.key);
    if (head.status == 404) {
      co_return Failure{S3Error::PhantomWrite,
                        "The upstream acknowledged the write but the object does not exist."};
    }
    if (!head.ok()) co_return std::nullopt;  // cannot tell (permissions, outage): not claimed either way
    if (op == Op::PutObject && head.content_length && *head.content_length != x.rec.bytes_in) {
      co_return Failure{S3Error::PhantomWrite,
                        fmt::format("The upstream acknowledged {} bytes but holds {}.", x.rec.bytes_in,
                                    *head.content_length)};
    }
    if (op == Op::PutObject && !etag.empty() && !head.etag.empty() && etag != head.etag) {
      co_return Failure{S3Error::PhantomWrite, "The stored object's ETag differs from the acknowledged one."};
    }
    co_return std::nullopt;
  }

  asio::awaitable<void> send_continue(Exchange& x) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    lowest(client_).expires_after(cfg_->server.idle_timeout);
    co_await asio::async_write(client_, asio::buffer(kContinue.data(), kContinue.size()), use_nothrow);
    x.client = ClientState::continue_sent;
  }

  // The client's body did not verify (or ended early): its connection cannot be reused, and a
  // chunk or trailer signature that does not verify is the client's signature failing.
  asio::awaitable<void> refuse_body(Exchange& x, const Failure& failure) {
    x.keep_alive = false;
    x.auth_failed = failure.error == S3Error::SignatureDoesNotMatch;
    co_await answer_error(x, failure);
  }

  // The one exit for every refusal: S3 XML error to the client, fields for the audit line.
  // Takes the Failure by value: callers pass named objects, never temporaries, because GCC 12
  // destroys a temporary inside a co_await expression twice.
  asio::awaitable<void> answer_error(Exchange& x, Failure failure) {
    const auto [status, code] = info(failure.error);
    const std::string code_text(code);
    co_await answer_s3_error(x, status, code_text, failure.message);
  }

  // An S3 error answer with any status and code (the proxy's own, or one an upstream call
  // of the proxy's own got and the client must see as S3 would have answered it).
  asio::awaitable<void> answer_s3_error(Exchange& x, unsigned status, const std::string& code,
                                        const std::string& message) {
    x.rec.status = status;
    x.rec.s3_code = code;
    x.rec.s3_message = message;
    if (x.client == ClientState::response_started) {
      // Too late for an answer: cutting the connection is the only honest signal left.
      x.keep_alive = false;
      error_code ignored;
      lowest(client_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    // A refused request's body is never read, so the connection cannot be reused.
    x.keep_alive = false;
    const std::string resource = error_resource(x.rec.bucket, x.rec.key);
    // S3 clients log the request id of every error they get: the proxy's own answers carry
    // one too (header and body, as S3's do), and the audit line records it.
    const std::string request_id = new_request_id();
    x.rec.request_id = request_id;
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "s3-acl-proxy");
    res.set(http::field::content_type, "application/xml");
    res.set("x-amz-request-id", request_id);
    res.set("x-amz-id-2", new_host_id());
    res.keep_alive(false);
    if (x.rec.method != "HEAD") res.body() = error_xml(code, message, resource, request_id);
    res.prepare_payload();
    if (x.rec.method == "HEAD") res.content_length(0);
    x.client = ClientState::response_started;
    lowest(client_).expires_after(cfg_->server.idle_timeout);
    co_await http::async_write(client_, res, use_nothrow);
  }


  // --- PUT ?acl as the object's visibility tag (acl_requests = "tag") ----------------------

  // Holds one object's tag update for the length of a scope (TagGate).
  class TagTurn {
   public:
    TagTurn(suspension::TagGate* gate, std::string object) : gate_(gate), object_(std::move(object)) {}
    TagTurn(const TagTurn&) = delete;
    TagTurn& operator=(const TagTurn&) = delete;
    ~TagTurn() {
      if (held_) gate_->leave(object_);
    }
    bool try_take() {
      if (gate_ == nullptr) return true;
      held_ = gate_->try_enter(object_);
      return held_;
    }

   private:
    suspension::TagGate* gate_;
    std::string object_;
    bool held_ = false;
  };

  // Signs a request of the proxy's own as the client's upstream identity (the one its
  // forwarded requests would carry).
  static void sign_as_client(S3ClientRequest& r, const ClientKey& client) {
    if (client.upstream_access_key_id.empty()) return;
    r.access_key_id = &client.upstream_access_key_id;
    r.secret_access_key = &client.upstream_secret_access_key;
  }

  // The answer to a call of the proxy's own that failed, as the client must see it: the
  // upstream's S3 error as it came (NoSuchKey, AccessDenied...), or the proxy's gateway error.
  asio::awaitable<void> answer_upstream_failure(Exchange& x, const S3Response& r) {
    if (!r.answered()) {
      const Failure failure = upstream_failure(r.transport);
      co_return co_await answer_error(x, failure);
    }
    x.rec.upstream_status = r.status;
    if (!r.request_id.empty()) x.rec.request_id = text::bounded(r.request_id);
    if (r.transport || r.status < 300) {
      const Failure cut{S3Error::UpstreamResponseInvalid,
                        fmt::format("The upstream's answer could not be read: {}", describe_failure(r))};
      co_return co_await answer_error(x, cut);
    }
    const std::string code = r.s3_code.empty() ? std::string(info(S3Error::UpstreamResponseInvalid).code)
                                               : text::bounded(r.s3_code);
    const std::string message = text::bounded(r.s3_message, kMaxAuditedMessage);
    const std::string request_id = x.rec.request_id.value_or("");
    co_await answer_s3_error(x, r.status, code, message);
    if (!request_id.empty()) x.rec.request_id = request_id;  // the upstream's, as for forwarded errors
  }

  // GetObjectTagging; nullopt once the client has its error.
  asio::awaitable<std::optional<suspension::TagSet>> read_tags(Exchange& x, const ClientKey& client,
                                                               const std::string& bucket, const std::string& key,
                                                               const std::string& version_id) {
    S3ClientRequest get{http::verb::get, bucket, key, {{"tagging", ""}}, {}, {}};
    if (!version_id.empty()) get.query.emplace_back("versionId", version_id);
    sign_as_client(get, client);
    const S3Response r = co_await w_.client.send(std::move(get));
    if (!r.ok()) {
      co_await answer_upstream_failure(x, r);
      co_return std::nullopt;
    }
    auto tags = suspension::parse_tagging_xml(r.body);
    if (!tags) {
      x.rec.upstream_status = r.status;
      co_await answer_error(x, tags.failure());
      co_return std::nullopt;
    }
    co_return std::move(tags.value());
  }

  // A CopyObject that copies its source's tags: the tags it will carry with the visibility
  // tag set or removed. The outer nullopt: the client has its error.
  asio::awaitable<std::optional<std::optional<UploadTagging>>> copy_source_tagging(
      Exchange& x, std::span<const sigv4::Header> headers, const ClientKey& client, bool make_private) {
    const auto source = parse_copy_source(sigv4::header_value(headers, "x-amz-copy-source").value_or(""));
    if (!source) {
      const Failure bad{S3Error::InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey."};
      co_await answer_error(x, bad);
      co_return std::nullopt;
    }
    auto tags = co_await read_tags(x, client, source->bucket, source->key, source->version_id);
    if (!tags) co_return std::nullopt;
    auto change = copy_tagging(*tags, cfg_->acl.private_tag, make_private);
    if (!change) {
      co_await answer_error(x, change.failure());
      co_return std::nullopt;
    }
    co_return std::optional<std::optional<UploadTagging>>(std::move(change.value()));
  }

  // The ACL document of a PUT ?acl, read whole (bounded) and verified as the client signed it.
  // nullopt once the client has its error.
  asio::awaitable<std::optional<std::string>> read_acl_body(Exchange& x, beast::flat_buffer& buffer,
                                                            RequestParser& parser, const sigv4::RequestView& view,
                                                            const S3Target& s3, const sigv4::Verified& verified,
                                                            const AclDecision& acl, const ClientKey& client) {
    // Planned as an upload whose body goes out decoded, so every payload mode is verified by
    // the same transform as a forwarded body, and what comes out is the document itself.
    UpstreamConfig decoded_out = cfg_->upstream;
    decoded_out.payload = UpstreamPayload::unsigned_payload;
    const auto length = parser.content_length();
    auto plan = plan_forward(ForwardInput{view, s3, verified, acl,
                                          length ? std::optional<std::uint64_t>(*length) : std::nullopt,
                                          parser.chunked(), upstream_identity(*cfg_, client), decoded_out,
                                          w_.services.now()});
    if (!plan) {
      co_await answer_error(x, plan.failure());
      co_return std::nullopt;
    }
    const std::uint64_t declared = plan->decoded_length.value_or(plan->upstream_content_length);
    if (declared > suspension::kMaxAclBody) {
      const Failure too_large{S3Error::MalformedACLError,
                              fmt::format("The ACL document is larger than {} bytes.", suspension::kMaxAclBody)};
      co_await answer_error(x, too_large);
      co_return std::nullopt;
    }
    std::string body;
    if (!plan->has_body) {
      if (verified.payload_mode == sigv4::PayloadMode::hex_sha256 &&
          !text::iequals(verified.params.payload_hash, crypto::sha256_hex(""))) {
        const Failure mismatch{S3Error::XAmzContentSHA256Mismatch,
                               "The provided 'x-amz-content-sha256' header does not match what was computed."};
        co_await answer_error(x, mismatch);
        co_return std::nullopt;
      }
      co_return body;
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) co_await send_continue(x);
    BodyTransform transform(plan.value(), verified);
    while (!parser.is_done()) {
      auto [ec, data] = co_await read_piece(x, buffer, parser);
      std::optional<Failure> failure;
      if (ec) {
        failure = ec == beast::error::timeout
                      ? Failure{S3Error::RequestTimeout,
                                "Your socket connection to the server was not read from or written to within the "
                                "timeout period."}
                      : Failure{S3Error::IncompleteBody,
                                "You did not provide the number of bytes specified by the Content-Length HTTP header."};
      } else {
        failure = transform.consume(data, parser.is_done());
      }
      x.rec.bytes_in = transform.decoded_bytes();
      if (failure) {
        co_await refuse_body(x, *failure);
        co_return std::nullopt;
      }
      for (const auto& out : transform.take_output()) {
        body.append(static_cast<const char*>(out.data()), out.size());
      }
      transform.clear_output();
      if (body.size() > suspension::kMaxAclBody) {
        const Failure too_large{S3Error::MalformedACLError,
                                fmt::format("The ACL document is larger than {} bytes.", suspension::kMaxAclBody)};
        co_await refuse_body(x, too_large);
        co_return std::nullopt;
      }
    }
    co_return body;
  }

  // PUT ?acl in tag mode: the ACL asked for becomes the object's visibility tag, set with the
  // client's upstream identity by reading the object's tags, merging and writing them back
  // (the same version when the request names one). The client gets S3's answer to its ACL
  // request: 200 once the tags are written, or the S3 error that stopped it — never a 200 for
  // a change that did not land.
  asio::awaitable<void> apply_acl_as_tag(Exchange& x, beast::flat_buffer& buffer, RequestParser& parser,
                                         const sigv4::RequestView& view, const S3Target& s3,
                                         const sigv4::Verified& verified, const AclDecision& acl,
                                         const ClientKey& client) {
    const auto& tag = cfg_->acl.private_tag;
    x.rec.acl_tag = suspension::to_string(tag);
    auto body = co_await read_acl_body(x, buffer, parser, view, s3, verified, acl, client);
    if (!body) co_return;
    auto requested = suspension::requested_acl(acl.headers, *body);
    if (!requested) co_return co_await answer_error(x, requested.failure());
    x.rec.acl_replaced = requested->canned;
    x.rec.acl_action = std::string(action_name(requested->is_public ? AclAction::untagged : AclAction::tagged));
    w_.services.metrics.acl_request(x.rec.acl_action);

    const std::string version_id = query_parameter(view.raw_query, "versionId").value_or("");
    TagTurn turn(w_.services.tag_gate, s3.bucket + '\n' + s3.key + '\n' + version_id);
    const auto give_up = std::chrono::steady_clock::now() + cfg_->upstream.read_timeout;
    while (!turn.try_take()) {
      if (std::chrono::steady_clock::now() >= give_up) {
        const Failure busy{S3Error::SlowDown, "Another ACL change of this object is still in progress."};
        co_return co_await answer_error(x, busy);
      }
      asio::steady_timer wait(co_await asio::this_coro::executor, kTagTurnPoll);
      co_await wait.async_wait(use_nothrow);
    }

    auto current = co_await read_tags(x, client, s3.bucket, s3.key, version_id);
    if (!current) co_return;
    auto change = suspension::apply_visibility(std::move(*current), tag, !requested->is_public);
    if (!change) co_return co_await answer_error(x, change.failure());
    std::string request_id;
    unsigned upstream_status = 200;
    if (change->changed) {
      const std::string document = suspension::tagging_xml(change->tags);
      S3ClientRequest put{http::verb::put, s3.bucket, s3.key, {{"tagging", ""}},
                          {{"content-md5", crypto::md5_base64(document)}, {"content-type", "application/xml"}},
                          document};
      if (!version_id.empty()) put.query.emplace_back("versionId", version_id);
      sign_as_client(put, client);
      const S3Response r = co_await w_.client.send(std::move(put));
      if (!r.ok()) co_return co_await answer_upstream_failure(x, r);
      request_id = r.request_id;
      upstream_status = r.status;
    }
    x.rec.upstream_status = upstream_status;
    if (w_.services.health) w_.services.health->answered(std::chrono::steady_clock::now());
    x.rec.status = 200;
    x.rec.request_id = request_id.empty() ? new_request_id() : text::bounded(request_id);
    http::response_header<> head;
    head.version(11);
    head.result(http::status::ok);
    head.set(http::field::server, "s3-acl-proxy");
    head.set("x-amz-request-id", *x.rec.request_id);
    head.set("x-amz-id-2", new_host_id());
    co_await send_whole(x, std::move(head), std::string());
  }

  asio::awaitable<void> answer_acl_locally(Exchange& x, const AclDecision& acl) {
    if (acl.answer == LocalAnswer::not_implemented) {
      const Failure not_forwarded{S3Error::NotImplemented,
                                  "ACL requests are not forwarded: the bucket's object ownership settings decide access."};
      co_return co_await answer_error(x, not_forwarded);
    }
    if (acl.answer == LocalAnswer::invalid_request) {
      const Failure unclassified{S3Error::InvalidRequest,
                                 "The proxy cannot tell what this request does with the ACL it carries; it is not "
                                 "forwarded."};
      co_return co_await answer_error(x, unclassified);
    }
    x.keep_alive = false;  // the ACL body, if any, is not read
    x.rec.status = 200;
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::server, "s3-acl-proxy");
    x.rec.request_id = new_request_id();
    res.set("x-amz-request-id", *x.rec.request_id);
    res.set("x-amz-id-2", new_host_id());
    res.keep_alive(false);
    res.content_length(0);
    x.client = ClientState::response_started;
    co_await http::async_write(client_, res, use_nothrow);
  }

  // Writes the audit line and counts the metrics: every request ends here exactly once.
  void finish(Exchange& x) {
    using namespace std::chrono;
    x.rec.duration_ms = duration<double, std::milli>(steady_clock::now() - x.started).count();
    if (slot_.cut_by_shutdown) mark_cut_by_shutdown(x.rec);
    classify_outcome(x.rec, x.is_write, x.auth_failed);
    if (x.truncated) {
      x.rec.level = Level::error;
      if (x.is_write) x.rec.event = "write_failed";
    }
    if (x.embedded_error && x.is_write) {
      x.rec.event = "write_failed";
      x.rec.level = Level::error;
    }
    if (x.phantom) {
      x.rec.event = "phantom_write";
      x.rec.level = Level::error;
      w_.services.metrics.phantom_write(x.rec.op);
    }
    auto& m = w_.services.metrics;
    if (x.rec.upstream_status) {
      if (auto c = conditional_outcome(x.rec.status, x.rec.s3_code.value_or(""))) {
        // A 304 or a HEAD's 412 has no body to take the code from; the status alone names it.
        if (!x.rec.s3_code || x.rec.s3_code->empty()) x.rec.s3_code = std::string(conditional_s3_code(*c));
        m.conditional(x.rec.op.empty() ? "Unknown" : x.rec.op, conditional_outcome_name(*c));
      }
    }
    m.request(x.rec.op.empty() ? "Unknown" : x.rec.op, x.rec.status, duration<double>(steady_clock::now() - x.started));
    m.bytes(x.rec.bytes_in, x.rec.bytes_out);
    if (x.auth_failed && x.rec.s3_code) m.auth_failure(*x.rec.s3_code);
    if (x.rec.upstream_status && *x.rec.upstream_status >= 400) m.upstream_error(x.rec.op, x.rec.s3_code.value_or(""));
    if (x.rec.event == "write_denied" || x.rec.event == "write_failed") {
      m.write_failure(x.rec.op, x.rec.event, x.rec.s3_code.value_or(""));
    }
    w_.services.audit.write(x.rec);
  }
};

void set_keepalive_options(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
}

std::string remote_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return {};
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, WorkerState& worker) {
  ConnectionGuard guard(worker.connections, remote_of(socket));
  set_keepalive_options(socket);
  plain_stream stream(std::move(socket));
  guard.on_close([&stream] { stream.close(); });
  try {
    if (!guard.admitted()) co_return co_await refuse_connection(stream, guard);
    Session<plain_stream> session(stream, worker, guard.slot());
    co_await session.run();
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  } catch (const std::exception& e) {
    guard.report_internal_error(e.what());
  } catch (...) {
    guard.report_internal_error("unknown exception");
  }
}

asio::awaitable<void> serve_tls_connection(tcp::socket socket, ssl::context& tls, WorkerState& worker) {
  ConnectionGuard guard(worker.connections, remote_of(socket));
  set_keepalive_options(socket);
  tls_stream stream(std::move(socket), tls);
  guard.on_close([&stream] { lowest(stream).close(); });
  try {
    if (!guard.admitted()) co_return co_await refuse_connection(stream, guard);
    lowest(stream).expires_after(worker.services.config.current()->server.idle_timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
    if (ec) co_return;
    Session<tls_stream> session(stream, worker, guard.slot());
    co_await session.run();
    lowest(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(use_nothrow);
  } catch (const std::exception& e) {
    guard.report_internal_error(e.what());
  } catch (...) {
    guard.report_internal_error("unknown exception");
  }
}

}  // namespace s3proxy
