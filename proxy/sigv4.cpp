#include "s3proxy/sigv4.hpp"

#include "s3proxy/text.hpp"
#include "s3proxy/uri.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace s3proxy::sigv4 {

namespace {

using std::chrono::system_clock;

// Client-supplied values echoed in error messages are cut to this length: enough to
// recognise a region or date, too short to turn an error body into an amplifier.
constexpr std::size_t kMaxEchoedValue = 64;

constexpr std::string_view kPresignedAlgorithm = "X-Amz-Algorithm";
constexpr std::string_view kPresignedCredential = "X-Amz-Credential";
constexpr std::string_view kPresignedDate = "X-Amz-Date";
constexpr std::string_view kPresignedExpires = "X-Amz-Expires";
constexpr std::string_view kPresignedSignedHeaders = "X-Amz-SignedHeaders";
constexpr std::string_view kPresignedSignature = "X-Amz-Signature";

using text::ascii_lower;
using text::is_digits;
using text::is_hex_digit;
using text::split;
using text::trim;

bool iequals_lower(std::string_view any_case, std::string_view lower) {
  return any_case.size() == lower.size() &&
         std::equal(any_case.begin(), any_case.end(), lower.begin(), [](char a, char b) { return ascii_lower(a) == b; });
}

bool starts_with_lower(std::string_view any_case, std::string_view lower_prefix) {
  return any_case.size() >= lower_prefix.size() && iequals_lower(any_case.substr(0, lower_prefix.size()), lower_prefix);
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Trimall of the SigV4 spec, appended to `out`: outer blanks removed, each inner run of
// blanks one space. Runs without blanks are copied whole.
void append_folded(std::string& out, std::string_view value) {
  value = trim(value);
  while (!value.empty()) {
    const auto blank = value.find_first_of(" \t");
    out.append(value.substr(0, blank));
    if (blank == std::string_view::npos) break;
    out.push_back(' ');
    value.remove_prefix(value.find_first_not_of(" \t", blank));  // trimmed: a non-blank follows
  }
}

std::string echo(std::string_view client_value) { return text::bounded(client_value, kMaxEchoedValue); }

// An HMAC-SHA256 in hex, as every SigV4 signer writes it.
bool is_signature_hex(std::string_view s) {
  constexpr std::size_t kSignatureHexDigits = 64;
  return s.size() == kSignatureHexDigits && std::all_of(s.begin(), s.end(), is_hex_digit);
}

// A query component decoded for lookups; raw kept for canonicalisation.
struct QueryParam {
  std::string name;   // decoded (raw when it does not decode)
  std::string value;  // decoded (raw when it does not decode)
  bool decoded = true;
  std::string_view raw_name;
  std::string_view raw_value;
};

std::vector<QueryParam> parse_query(std::string_view raw_query) {
  std::vector<QueryParam> params;
  if (raw_query.empty()) return params;
  params.reserve(static_cast<std::size_t>(std::count(raw_query.begin(), raw_query.end(), '&')) + 1);
  uri::QueryComponents components(raw_query);
  for (uri::QueryComponent c; components.next(c);) {
    if (c.raw.empty()) continue;
    QueryParam p;
    p.raw_name = c.raw_name;
    p.raw_value = c.raw_value;
    auto name = uri::decode(p.raw_name);
    auto value = uri::decode(p.raw_value);
    p.decoded = name && value;
    p.name = name ? std::move(*name) : std::string(p.raw_name);
    p.value = value ? std::move(*value) : std::string(p.raw_value);
    params.push_back(std::move(p));
  }
  return params;
}

const QueryParam* find_param(const std::vector<QueryParam>& params, std::string_view name) {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

std::size_t count_param(const std::vector<QueryParam>& params, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(params.begin(), params.end(), [&](const auto& p) { return p.name == name; }));
}

Failure fail(S3Error e, std::string message) { return Failure{e, std::move(message)}; }

// Which S3 error and message prefix a shape problem gets depends on where the
// parameters came from.
struct AuthSource {
  S3Error error;
  std::string_view prefix;
};
constexpr AuthSource kHeaderSource{S3Error::AuthorizationHeaderMalformed, "The authorization header is malformed; "};
constexpr AuthSource kQuerySource{S3Error::AuthorizationQueryParametersError,
                                  "The X-Amz-* query parameters are malformed; "};

Failure malformed(const AuthSource& src, std::string detail) {
  return fail(src.error, std::string(src.prefix) + detail);
}

Result<Credential> parse_credential(std::string_view text, const AuthSource& src) {
  auto parts = split(text, '/');
  if (parts.size() != 5)
    return malformed(src, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  Credential c{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]), std::string(parts[3]),
               std::string(parts[4])};
  if (c.access_key_id.empty()) return malformed(src, "a non-empty Access Key (AKID) must be provided in the credential.");
  if (c.date.size() != 8 || !is_digits(c.date))
    return malformed(src, "invalid credential date \"" + echo(c.date) + "\"; expecting YYYYMMDD.");
  if (c.region.empty()) return malformed(src, "a non-empty region must be provided in the credential.");
  if (c.service != kService)
    return malformed(src, "incorrect service \"" + echo(c.service) + "\". This endpoint belongs to \"s3\".");
  if (c.terminator != kTerminator)
    return malformed(src, "incorrect terminal \"" + echo(c.terminator) + "\". This endpoint uses \"aws4_request\".");
  return c;
}

Result<std::vector<std::string>> parse_signed_headers(std::string_view text, const AuthSource& src) {
  std::vector<std::string> names;
  for (auto name : split(text, ';')) {
    if (name.empty()) return malformed(src, "SignedHeaders has an empty header name.");
    names.push_back(text::lower(name));
  }
  if (std::find(names.begin(), names.end(), "host") == names.end())
    return malformed(src, "SignedHeaders must include host.");
  return names;
}

// The request date must be well formed and be the day the credential scope names.
std::optional<Failure> check_dates(const AuthParams& p, const AuthSource& src) {
  if (!parse_amz_date(p.amz_date))
    return malformed(src, "X-Amz-Date \"" + echo(p.amz_date) + "\" is not in the ISO 8601 basic format YYYYMMDDTHHMMSSZ.");
  if (std::string_view(p.amz_date).substr(0, 8) != p.credential.date)
    return malformed(src, "invalid credential date \"" + echo(p.credential.date) +
                              "\". This date is not the same as X-Amz-Date: \"" + echo(p.amz_date.substr(0, 8)) + "\".");
  return std::nullopt;
}

Result<AuthParams> parse_header_auth(const RequestView& request, std::string_view authorization) {
  const AuthSource& src = kHeaderSource;
  AuthParams p;
  p.kind = AuthKind::sigv4_header;

  auto rest = authorization.substr(kAlgorithm.size());
  if (rest.empty() || !is_blank(rest.front()))
    return malformed(src, "expecting \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".");

  std::optional<std::string_view> credential, signed_headers, signature;
  for (auto component : split(trim(rest), ',')) {
    component = trim(component);
    auto eq = component.find('=');
    if (eq == std::string_view::npos)
      return malformed(src, "each component must be Key=Value; expecting Credential, SignedHeaders and Signature.");
    auto key = component.substr(0, eq);
    auto value = component.substr(eq + 1);
    std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                            : key == "SignedHeaders" ? &signed_headers
                                            : key == "Signature"     ? &signature
                                                                     : nullptr;
    if (slot == nullptr) return malformed(src, "unexpected component \"" + echo(key) + "\".");
    if (slot->has_value()) return malformed(src, "component \"" + echo(key) + "\" given twice.");
    *slot = value;
  }
  if (!credential) return malformed(src, "missing Credential.");
  if (!signed_headers) return malformed(src, "missing SignedHeaders.");
  if (!signature || signature->empty()) return malformed(src, "missing Signature.");

  auto cred = parse_credential(*credential, src);
  if (!cred) return cred.failure();
  p.credential = std::move(cred).value();
  auto names = parse_signed_headers(*signed_headers, src);
  if (!names) return names.failure();
  p.signed_headers = std::move(names).value();
  p.signature = std::string(*signature);
  if (!is_signature_hex(p.signature)) return malformed(src, "the Signature must be 64 hexadecimal digits.");

  auto date = header_value(request.headers, "x-amz-date");
  if (!date) return malformed(src, "missing X-Amz-Date header.");
  p.amz_date = std::string(trim(*date));
  if (auto f = check_dates(p, src)) return *f;

  auto payload = header_value(request.headers, "x-amz-content-sha256");
  if (!payload) return malformed(src, "missing x-amz-content-sha256 header.");
  p.payload_hash = std::string(trim(*payload));
  if (!parse_payload_mode(p.payload_hash))
    return malformed(src, "x-amz-content-sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD or a STREAMING-* value.");
  return p;
}

Result<AuthParams> parse_presigned_auth(const RequestView& request, const std::vector<QueryParam>& params) {
  const AuthSource& src = kQuerySource;
  for (auto name : {kPresignedAlgorithm, kPresignedCredential, kPresignedDate, kPresignedExpires,
                    kPresignedSignedHeaders, kPresignedSignature}) {
    auto n = count_param(params, name);
    if (n == 0)
      return fail(src.error,
                  "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                  "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
    if (n > 1) return fail(src.error, std::string(name) + " is given more than once.");
  }
  auto value = [&](std::string_view name) -> const std::string& { return find_param(params, name)->value; };

  AuthParams p;
  p.kind = AuthKind::sigv4_presigned;
  if (value(kPresignedAlgorithm) != kAlgorithm)
    return fail(src.error, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".");
  auto cred = parse_credential(value(kPresignedCredential), src);
  if (!cred) return cred.failure();
  p.credential = std::move(cred).value();
  auto names = parse_signed_headers(value(kPresignedSignedHeaders), src);
  if (!names) return names.failure();
  p.signed_headers = std::move(names).value();
  p.signature = value(kPresignedSignature);
  if (!is_signature_hex(p.signature)) return fail(src.error, "X-Amz-Signature must be 64 hexadecimal digits.");
  p.amz_date = value(kPresignedDate);
  if (auto f = check_dates(p, src)) return *f;

  const auto& expires = value(kPresignedExpires);
  // Digits only (no sign), and short enough that the comparison below cannot overflow.
  if (!is_digits(expires) || expires.size() > 7)
    return fail(src.error, "X-Amz-Expires should be a number of seconds between 0 and 604800.");
  long seconds = 0;
  std::from_chars(expires.data(), expires.data() + expires.size(), seconds);
  p.expires = std::chrono::seconds(seconds);
  if (*p.expires > kMaxPresignedExpiry)
    return fail(src.error, "X-Amz-Expires must be less than a week (in seconds) that is 604800.");

  if (auto payload = header_value(request.headers, "x-amz-content-sha256")) {
    p.payload_hash = std::string(trim(*payload));
    if (!parse_payload_mode(p.payload_hash))
      return fail(src.error, "x-amz-content-sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD or a STREAMING-* value.");
  } else {
    p.payload_hash = std::string(kUnsignedPayload);
  }
  return p;
}

bool query_has_v4_params(const std::vector<QueryParam>& params) {
  return find_param(params, kPresignedSignature) || find_param(params, kPresignedAlgorithm);
}

bool query_has_v2_params(const std::vector<QueryParam>& params) {
  return find_param(params, "Signature") && find_param(params, "AWSAccessKeyId");
}

// Every x-amz-* header must be covered by the signature, or a man in the middle
// could add one (an ACL, a storage class, a copy source) to a signed request.
bool has_unsigned_amz_header(const RequestView& request, const std::vector<std::string>& signed_headers) {
  for (const auto& h : request.headers) {
    if (!starts_with_lower(h.name, "x-amz-")) continue;
    auto lower = text::lower(h.name);
    if (std::find(signed_headers.begin(), signed_headers.end(), lower) == signed_headers.end()) return true;
  }
  return false;
}

std::optional<Failure> check_time(const AuthParams& p, system_clock::time_point now) {
  auto t = *parse_amz_date(p.amz_date);
  if (p.kind == AuthKind::sigv4_presigned) {
    if (t > now + kMaxClockSkew) return fail(S3Error::AccessDenied, "Request is not valid yet");
    if (now > t + *p.expires) return fail(S3Error::AccessDenied, "Request has expired");
    return std::nullopt;
  }
  auto skew = now > t ? now - t : t - now;
  if (skew > kMaxClockSkew)
    return fail(S3Error::RequestTimeTooSkewed, "The difference between the request time and the current time is too large.");
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> header_value(std::span<const Header> headers, std::string_view lower_name) {
  for (const auto& h : headers)
    if (iequals_lower(h.name, lower_name)) return h.value;
  return std::nullopt;
}

std::string canonical_uri(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  std::string out;
  out.reserve(raw_path.size());
  bool first = true;
  for (auto segment : split(raw_path, '/')) {
    auto decoded = uri::decode(segment);
    if (!decoded) return std::string(raw_path);
    if (!first) out.push_back('/');
    first = false;
    // A decoded '/' inside a segment was %2F on the wire and stays %2F.
    out += uri::encode(*decoded, false);
  }
  return out;
}

namespace {

std::string canonical_query_of(const std::vector<QueryParam>& params, bool drop_signature) {
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(params.size());
  for (const auto& p : params) {
    if (drop_signature && p.name == kPresignedSignature) continue;
    // A component that does not decode is kept as sent: the client signed its bytes.
    if (p.decoded)
      pairs.emplace_back(uri::encode(p.name, false), uri::encode(p.value, false));
    else
      pairs.emplace_back(std::string(p.raw_name), std::string(p.raw_value));
  }
  std::sort(pairs.begin(), pairs.end());
  std::size_t size = 0;
  for (const auto& [name, value] : pairs) size += name.size() + value.size() + 2;
  std::string out;
  out.reserve(size);
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

AuthKind detect_auth_of(const RequestView& request, const std::vector<QueryParam>& params) {
  if (auto auth = header_value(request.headers, "authorization")) {
    auto value = trim(*auth);
    if (value.starts_with(kAlgorithm)) return AuthKind::sigv4_header;
    if (value.starts_with("AWS ")) return AuthKind::sigv2_header;
    return AuthKind::other;
  }
  if (query_has_v4_params(params)) return AuthKind::sigv4_presigned;
  if (query_has_v2_params(params)) return AuthKind::sigv2_presigned;
  return AuthKind::none;
}

// The query is parsed once per request and shared by detection, parsing and the canonical
// request.
Result<AuthParams> parse_auth_of(const RequestView& request, const std::vector<QueryParam>& params) {
  switch (detect_auth_of(request, params)) {
    case AuthKind::none: return fail(S3Error::AccessDenied, "Access Denied");
    case AuthKind::sigv2_header:
    case AuthKind::sigv2_presigned:
      return fail(S3Error::InvalidRequest,
                  "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
    case AuthKind::other:
      return malformed(kHeaderSource, "the authorization scheme is not supported; expecting AWS4-HMAC-SHA256.");
    case AuthKind::sigv4_presigned: return parse_presigned_auth(request, params);
    case AuthKind::sigv4_header: break;
  }
  if (query_has_v4_params(params) || query_has_v2_params(params))
    return fail(S3Error::InvalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                "parameter or the Authorization header should be specified");
  return parse_header_auth(request, trim(*header_value(request.headers, "authorization")));
}

std::string canonical_request_of(const RequestView& request, const AuthParams& params,
                                 const std::vector<QueryParam>& query) {
  const bool presigned = params.kind == AuthKind::sigv4_presigned;
  return canonical_request(request.method, canonical_uri(request.raw_path), canonical_query_of(query, presigned),
                           canonical_headers(request.headers, params.signed_headers),
                           join_signed_headers(params.signed_headers), params.payload_hash);
}

}  // namespace

std::string canonical_query(std::string_view raw_query, bool drop_signature) {
  return canonical_query_of(parse_query(raw_query), drop_signature);
}

std::string canonical_headers(std::span<const Header> headers, std::span<const std::string> signed_lower_names) {
  std::string out;
  for (const auto& name : signed_lower_names) {
    out += name;
    out.push_back(':');
    bool first = true;
    for (const auto& h : headers) {
      if (!iequals_lower(h.name, name)) continue;
      if (!first) out.push_back(',');
      first = false;
      append_folded(out, h.value);
    }
    out.push_back('\n');
  }
  return out;
}

std::string join_signed_headers(std::span<const std::string> signed_lower_names) {
  std::string out;
  for (const auto& name : signed_lower_names) {
    if (!out.empty()) out.push_back(';');
    out += name;
  }
  return out;
}

std::string canonical_request(std::string_view method, std::string_view canonical_uri, std::string_view canonical_query,
                              std::string_view canonical_headers, std::string_view signed_headers_joined,
                              std::string_view payload_hash) {
  std::string out;
  out.reserve(method.size() + canonical_uri.size() + canonical_query.size() + canonical_headers.size() +
              signed_headers_joined.size() + payload_hash.size() + 5);
  out.append(method).append("\n");
  out.append(canonical_uri).append("\n");
  out.append(canonical_query).append("\n");
  out.append(canonical_headers).append("\n");  // the headers block ends in its own '\n' too
  out.append(signed_headers_joined).append("\n");
  out.append(payload_hash);
  return out;
}

std::string credential_scope(std::string_view date, std::string_view region, std::string_view service) {
  std::string out;
  out.reserve(date.size() + region.size() + service.size() + kTerminator.size() + 3);
  out.append(date).append("/").append(region).append("/").append(service).append("/").append(kTerminator);
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  constexpr std::size_t kHexDigest = 64;
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + kHexDigest + 3);
  out.append(kAlgorithm).append("\n");
  out.append(amz_date).append("\n");
  out.append(scope).append("\n");
  out.append(crypto::sha256_hex(canonical_request));
  return out;
}

namespace {

// The derived key changes once a day per secret and region: a request pays four HMACs for
// it only on a thread's first use that day. Entries are found by content, never by address,
// so a rotated secret (a reload may reuse an address) can never meet its predecessor's key.
// The cache holds what the configuration already holds, on the thread that uses it.
constexpr std::size_t kSigningKeyCacheEntries = 16;  // client keys x regions x two days in view

struct CachedSigningKey {
  Secret secret;
  std::string date, region, service;
  crypto::Digest key;
};

crypto::Digest derive_signing_key(const Secret& secret, std::string_view date, std::string_view region,
                                  std::string_view service) {
  std::string seed = "AWS4";
  seed.append(secret.reveal());
  auto k_date = crypto::hmac_sha256(seed, date);
  std::fill(seed.begin(), seed.end(), '\0');
  auto k_region = crypto::hmac_sha256(crypto::as_view(k_date), region);
  auto k_service = crypto::hmac_sha256(crypto::as_view(k_region), service);
  return crypto::hmac_sha256(crypto::as_view(k_service), kTerminator);
}

}  // namespace

crypto::Digest signing_key(const Secret& secret, std::string_view date, std::string_view region,
                           std::string_view service) {
  thread_local std::vector<CachedSigningKey> cache;
  for (const auto& e : cache) {
    if (e.date == date && e.region == region && e.service == service &&
        crypto::constant_time_equal(e.secret.reveal(), secret.reveal())) {
      return e.key;
    }
  }
  const crypto::Digest key = derive_signing_key(secret, date, region, service);
  if (cache.size() == kSigningKeyCacheEntries) cache.erase(cache.begin());  // the oldest
  cache.push_back(CachedSigningKey{secret, std::string(date), std::string(region), std::string(service), key});
  return key;
}

std::string signature_hex(const crypto::Digest& key, std::string_view string_to_sign) {
  return crypto::hex(crypto::hmac_sha256(crypto::as_view(key), string_to_sign));
}

std::string amz_date(system_clock::time_point t) {
  std::string out(16, '\0');  // 20130524T000000Z
  text::put_utc(out.data(), std::chrono::floor<std::chrono::seconds>(t), '\0', '\0', false);
  return out;
}

namespace {
// The years an X-Amz-Date may name (see parse_amz_date).
constexpr std::chrono::year kMinAmzYear{1970};
constexpr std::chrono::year kMaxAmzYear{2199};
}  // namespace

std::optional<system_clock::time_point> parse_amz_date(std::string_view text) {
  using namespace std::chrono;
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  if (!is_digits(text.substr(0, 8)) || !is_digits(text.substr(9, 6))) return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  year_month_day ymd{year{num(0, 4)}, month{static_cast<unsigned>(num(4, 2))}, day{static_cast<unsigned>(num(6, 2))}};
  int h = num(9, 2), m = num(11, 2), s = num(13, 2);
  if (!ymd.ok() || h > 23 || m > 59 || s > 59) return std::nullopt;
  // system_clock holds nanoseconds in 64 bits (1677 to 2262): a year outside that would
  // overflow on conversion (and, wrapped, could even land near "now"). Within these years
  // every difference with the current time and every presigned expiry still fits.
  if (ymd.year() < kMinAmzYear || ymd.year() > kMaxAmzYear) return std::nullopt;
  return sys_days{ymd} + hours{h} + minutes{m} + seconds{s};
}

std::optional<PayloadMode> parse_payload_mode(std::string_view v) {
  if (v.size() == 64 && std::all_of(v.begin(), v.end(), is_hex_digit)) return PayloadMode::hex_sha256;
  if (v == kUnsignedPayload) return PayloadMode::unsigned_payload;
  if (v == kStreamingSigned) return PayloadMode::streaming_signed;
  if (v == kStreamingSignedTrailer) return PayloadMode::streaming_signed_trailer;
  if (v == kStreamingUnsignedTrailer) return PayloadMode::streaming_unsigned_trailer;
  return std::nullopt;
}

bool is_streaming(PayloadMode mode) {
  switch (mode) {
    case PayloadMode::streaming_signed:
    case PayloadMode::streaming_signed_trailer:
    case PayloadMode::streaming_unsigned_trailer: return true;
    case PayloadMode::hex_sha256:
    case PayloadMode::unsigned_payload: return false;
  }
  return false;
}

AuthKind detect_auth(const RequestView& request) { return detect_auth_of(request, parse_query(request.raw_query)); }

Result<AuthParams> parse_auth(const RequestView& request) { return parse_auth_of(request, parse_query(request.raw_query)); }

std::string request_canonical_request(const RequestView& request, const AuthParams& params) {
  return canonical_request_of(request, params, parse_query(request.raw_query));
}

Result<Verified> verify(const RequestView& request, const KeyLookup& lookup, system_clock::time_point now) {
  // A path that does not percent-decode has no canonical form to verify (classification
  // refuses it first on the request path; verify() stands on its own).
  if (!uri::decode(request.raw_path)) return fail(S3Error::InvalidURI, "Couldn't parse the specified URI.");
  const auto query = parse_query(request.raw_query);
  auto parsed = parse_auth_of(request, query);
  if (!parsed) return parsed.failure();
  auto& p = parsed.value();

  const Secret* secret = lookup ? lookup(p.credential.access_key_id) : nullptr;
  if (secret == nullptr)
    return fail(S3Error::InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.");
  if (auto f = check_time(p, now)) return *f;
  if (has_unsigned_amz_header(request, p.signed_headers))
    return fail(S3Error::AccessDenied, "There were headers present in the request which were not signed");

  auto scope = credential_scope(p.credential.date, p.credential.region, p.credential.service);
  auto key = signing_key(*secret, p.credential.date, p.credential.region, p.credential.service);
  auto expected = signature_hex(key, string_to_sign(p.amz_date, scope, canonical_request_of(request, p, query)));
  if (!crypto::constant_time_equal(expected, p.signature))
    return fail(S3Error::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and "
                "signing method.");

  auto mode = *parse_payload_mode(p.payload_hash);
  return Verified{std::move(p), mode, key, std::move(scope)};
}

Signed sign(const SigningInput& input, std::string_view access_key_id, const Secret& secret, std::string_view region,
            std::string_view amz_date) {
  // Canonical headers are sorted by name; a name given twice is one header with both values.
  std::vector<Header> headers;
  headers.reserve(input.headers.size());
  for (const auto& [name, value] : input.headers) headers.push_back(Header{name, value});
  std::stable_sort(headers.begin(), headers.end(), [](const Header& a, const Header& b) { return a.name < b.name; });
  std::vector<std::string> names;
  names.reserve(headers.size());
  for (const auto& h : headers) {
    if (names.empty() || names.back() != h.name) names.emplace_back(h.name);
  }

  const auto date = amz_date.substr(0, 8);
  Signed out;
  out.scope = credential_scope(date, region, kService);
  out.signing_key = signing_key(secret, date, region, kService);
  const auto signed_joined = join_signed_headers(names);
  const auto request = canonical_request(input.method, input.canonical_uri, input.canonical_query,
                                         canonical_headers(headers, names), signed_joined, input.payload_hash);
  out.signature = signature_hex(out.signing_key, string_to_sign(amz_date, out.scope, request));
  constexpr std::string_view kCredential = " Credential=", kSignedHeaders = ", SignedHeaders=",
                             kSignature = ", Signature=";
  out.authorization.reserve(kAlgorithm.size() + kCredential.size() + access_key_id.size() + 1 + out.scope.size() +
                            kSignedHeaders.size() + signed_joined.size() + kSignature.size() + out.signature.size());
  out.authorization.append(kAlgorithm).append(kCredential).append(access_key_id).append("/").append(out.scope);
  out.authorization.append(kSignedHeaders).append(signed_joined).append(kSignature).append(out.signature);
  return out;
}

}  // namespace s3proxy::sigv4
