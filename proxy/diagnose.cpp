#include "s3proxy/diagnose.hpp"

#include "s3proxy/audit.hpp"
#include "s3proxy/metrics.hpp"
#include "s3proxy/s3_client.hpp"
#include "s3proxy/suspension.hpp"
#include "s3proxy/upstream.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <ostream>

namespace s3proxy {

namespace {

// The codes S3 implementations answer for a call they do not implement.
bool is_unsupported_code(std::string_view code) {
  return code == "NotImplemented" || code == "MethodNotAllowed" || code == "UnsupportedOperation";
}

DiagnosisStep step_from_error(const S3Response& r) {
  return DiagnosisStep{StepState::failed, r.status, r.s3_code, r.s3_message, describe_failure(r)};
}

DiagnosisStep unsupported(const S3Response& r) {
  std::string why;
  if (r.status >= 200 && r.status < 300) why = "it answered with a different document";
  else why = describe_failure(r);
  return DiagnosisStep{StepState::unsupported, r.status, r.s3_code, r.s3_message,
                       fmt::format("not supported by this upstream ({})", why)};
}

boost::json::value opt(const std::string& s) {
  if (s.empty()) return nullptr;
  return boost::json::value(s);
}

boost::json::object step_json(const DiagnosisStep& s) {
  boost::json::object o;
  o["state"] = state_name(s.state);
  o["status"] = s.status == 0 ? boost::json::value(nullptr) : boost::json::value(s.status);
  o["s3_code"] = opt(s.s3_code);
  o["s3_message"] = opt(s.s3_message);
  o["summary"] = s.summary;
  return o;
}

std::string state_label(StepState s) {
  switch (s) {
    case StepState::ok: return "ok";
    case StepState::failed: return "FAILED";
    case StepState::unsupported: return "unsupported";
    case StepState::not_set: return "not set";
  }
  return "?";
}

std::string upstream_url(const UpstreamConfig& u) {
  return fmt::format("{}://{}", to_string(u.scheme), u.host_header);
}

// "statement DenyPut (deny-put-object), ..." for the findings of one severity.
std::string statements_with(const PolicyLintResult& lint, Severity severity) {
  std::string out;
  for (const auto& f : lint.findings) {
    if (f.severity != severity) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("statement {} ({})", f.statement, f.rule);
  }
  return out;
}

Fields acl_headers() { return Fields{{"x-amz-acl", std::string(kDiagnosisAcl)}}; }

constexpr std::string_view kStripAdvice =
    "[acl] mode = \"strip\" in the proxy (or S3_PERMISSION set to the empty string in the application)";

}  // namespace

std::string_view state_name(StepState s) {
  switch (s) {
    case StepState::ok: return "ok";
    case StepState::failed: return "failed";
    case StepState::unsupported: return "unsupported";
    case StepState::not_set: return "not_set";
  }
  return "unknown";
}

std::string_view verdict_name(VerdictKind k) {
  switch (k) {
    case VerdictKind::healthy: return "healthy";
    case VerdictKind::acl_writes_fail: return "acl_writes_fail";
    case VerdictKind::writes_fail: return "writes_fail";
    case VerdictKind::privacy_not_in_force: return "privacy_not_in_force";
  }
  return "unknown";
}

DiagnosisStep canary_step(const CanaryOutcome& outcome) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(outcome.elapsed).count();
  if (outcome.ok()) {
    return DiagnosisStep{StepState::ok, 0, {}, {}, fmt::format("put, head, get, list and delete worked in {} ms", ms)};
  }
  const auto& first = outcome.failures.front();
  return DiagnosisStep{StepState::failed, first.status, first.s3_code, first.s3_message, *failure_reason(outcome)};
}

DiagnosisStep acl_write_step(const S3Response& put, const S3Response* cleanup) {
  if (!put.ok()) return step_from_error(put);
  DiagnosisStep s{StepState::ok, put.status, {}, {}, "the upstream accepted the write"};
  if (cleanup && !cleanup->ok()) s.summary += fmt::format("; deleting it failed: {}", describe_failure(*cleanup));
  return s;
}

bool is_unsupported_answer(const S3Response& r, std::string_view expected_root) {
  if (!r.answered()) return false;
  if (r.status == 501 || r.status == 405 || is_unsupported_code(r.s3_code)) return true;
  if (r.status >= 200 && r.status < 300) {
    // A document larger than the read limit is not the few-line answer asked for either.
    if (r.transport == http::error::body_limit) return true;
    return r.body.find(fmt::format("<{}", expected_root)) == std::string::npos;
  }
  return false;
}

DiagnosisStep ownership_controls_step(const S3Response& r) {
  if (is_unsupported_answer(r, "OwnershipControls")) return unsupported(r);
  if (r.s3_code == "OwnershipControlsNotFoundError") {
    return DiagnosisStep{StepState::not_set, r.status, r.s3_code, r.s3_message,
                         "no ownership controls (ACLs are honoured: ObjectWriter)"};
  }
  if (!r.ok()) return step_from_error(r);
  const auto ownership = xml_element(r.body, "ObjectOwnership").value_or("unknown");
  std::string summary = ownership;
  if (ownership == "BucketOwnerEnforced") summary += " (ACLs disabled: writes carrying an ACL other than bucket-owner-full-control are refused)";
  return DiagnosisStep{StepState::ok, r.status, {}, {}, summary};
}

DiagnosisStep policy_status_step(const S3Response& r) {
  if (is_unsupported_answer(r, "PolicyStatus")) return unsupported(r);
  if (r.s3_code == "NoSuchBucketPolicy") {
    return DiagnosisStep{StepState::not_set, r.status, r.s3_code, r.s3_message, "no bucket policy"};
  }
  if (!r.ok()) return step_from_error(r);
  const auto is_public = xml_element(r.body, "IsPublic");
  std::string summary = !is_public ? "answered without IsPublic"
                        : *is_public == "true" ? "the bucket policy makes the bucket public"
                                               : "the bucket policy does not make the bucket public";
  return DiagnosisStep{StepState::ok, r.status, {}, {}, summary};
}

DiagnosisStep bucket_policy_step(const S3Response& r, const LintContext& context,
                                 std::optional<PolicyLintResult>& lint) {
  lint.reset();
  if (r.s3_code == "NoSuchBucketPolicy") {
    return DiagnosisStep{StepState::not_set, r.status, r.s3_code, r.s3_message, "no bucket policy"};
  }
  if (r.status == 501 || r.status == 405 || is_unsupported_code(r.s3_code)) return unsupported(r);
  if (!r.ok()) {
    auto s = step_from_error(r);
    s.summary = fmt::format("not readable: {}", s.summary);
    return s;
  }
  auto linted = lint_policy(r.body, context);
  if (!linted) {
    return DiagnosisStep{StepState::failed, r.status, {}, {},
                         fmt::format("read, but not understood as a policy: {}", linted.failure().message)};
  }
  lint = std::move(linted.value());
  std::size_t blocking = 0, warnings = 0;
  for (const auto& f : lint->findings) {
    if (f.severity == Severity::blocking) ++blocking;
    else if (f.severity == Severity::warning) ++warnings;
  }
  std::string summary = blocking + warnings == 0
                            ? "read; nothing in it blocks uploads"
                            : fmt::format("read; {} blocking and {} warning finding(s)", blocking, warnings);
  return DiagnosisStep{StepState::ok, r.status, {}, {}, summary};
}

LintContext lint_context(const Config& config) {
  LintContext c;
  // The principal's ARN cannot be learnt from an S3 key alone: unless the config names it,
  // every principal may be it.
  c.principal_arn = config.upstream.principal_arn;
  c.bucket = config.canary ? config.canary->bucket : std::string();
  if (config.acl.mode == AclMode::strip) c.acl_values_sent.clear();
  else c.acl_values_sent = {std::string(kDiagnosisAcl)};
  c.upstream_is_https = config.upstream.scheme == Scheme::https;
  return c;
}

DiagnosisStep suspension_policy_step(const S3Response& r, const LintContext& context,
                                     const suspension::VisibilityTag& tag) {
  const std::string fix = "print it with `s3-acl-proxy policy --config FILE`";
  const std::string tag_text = suspension::to_string(tag);
  if (r.s3_code == "NoSuchBucketPolicy") {
    return DiagnosisStep{StepState::failed, r.status, r.s3_code, r.s3_message,
                         fmt::format("missing: the bucket has no policy, so objects tagged {} stay as readable as "
                                     "before; suspension privacy is NOT in force; {}",
                                     tag_text, fix)};
  }
  if (!r.ok()) {
    auto s = step_from_error(r);
    s.summary = fmt::format("cannot tell: the bucket policy is not readable ({})", s.summary);
    return s;
  }
  auto found = find_suspension_deny(r.body, context, tag.key, tag.value);
  if (!found) {
    return DiagnosisStep{StepState::failed, r.status, {}, {},
                         fmt::format("cannot tell: the policy is not understood ({})", found.failure().message)};
  }
  switch (found->state) {
    case SuspensionDeny::State::in_force:
      return DiagnosisStep{StepState::ok, r.status, {}, {},
                           fmt::format("statement {} denies s3:GetObject of objects tagged {}, exempting the proxy by {}",
                                       found->statement, tag_text, found->exemption)};
    case SuspensionDeny::State::locks_out_proxy:
      return DiagnosisStep{StepState::failed, r.status, {}, {},
                           fmt::format("statement {} denies s3:GetObject of objects tagged {} to the proxy's own "
                                       "identity too (its reads, verify_writes and the canary get 403); {}",
                                       found->statement, tag_text, fix)};
    case SuspensionDeny::State::absent: break;
  }
  return DiagnosisStep{StepState::failed, r.status, {}, {},
                       fmt::format("missing: no Deny of s3:GetObject on s3:ExistingObjectTag/{} in the bucket policy; "
                                   "suspension privacy is NOT in force; {}",
                                   tag.key, fix)};
}

DiagnosisStep tagged_read_step(const S3Response& put, const S3Response& get) {
  if (!put.ok()) {
    auto s = step_from_error(put);
    s.summary = fmt::format("writing an object with the tag failed: {}", s.summary);
    return s;
  }
  if (get.ok()) return DiagnosisStep{StepState::ok, get.status, {}, {}, "the proxy reads objects carrying the tag"};
  auto s = step_from_error(get);
  s.summary = fmt::format("the proxy cannot read objects carrying the tag ({}): the bucket policy denies its own "
                          "identity; exempt it as `s3-acl-proxy policy` does",
                          s.summary);
  return s;
}

DiagnosisStep tagged_anonymous_step(const S3Response& r) {
  if (!r.answered()) return step_from_error(r);
  if (r.status == 403) {
    return DiagnosisStep{StepState::ok, r.status, r.s3_code, r.s3_message,
                         "refused (403): objects carrying the tag are private"};
  }
  if (r.status >= 200 && r.status < 300) {
    return DiagnosisStep{StepState::failed, r.status, {}, {},
                         "an anonymous GET of an object carrying the tag succeeds: suspension privacy is NOT in force"};
  }
  return step_from_error(r);
}

Verdict decide_verdict(const DiagnosisReport& report) {
  if (report.canary_step.state != StepState::ok) {
    std::string message = fmt::format("writes fail: {}", report.canary_step.summary);
    if (report.lint && report.lint->blocks_uploads()) {
      message += fmt::format("; the bucket policy has a Deny that blocks uploads: {}",
                             statements_with(*report.lint, Severity::blocking));
    } else if (report.lint && report.lint->needs_attention()) {
      message += fmt::format("; the bucket policy has a Deny that may apply: {}",
                             statements_with(*report.lint, Severity::warning));
    } else if (report.canary_step.s3_code == "AccessDenied") {
      message += "; look for an explicit Deny in the bucket policy (a Deny wins over every Allow)";
    }
    return Verdict{VerdictKind::writes_fail, 1, std::move(message)};
  }
  if (report.suspension_required) {
    for (const DiagnosisStep* step : {&report.suspension_policy, &report.tagged_read, &report.tagged_anonymous}) {
      if (step->state == StepState::failed) {
        return Verdict{VerdictKind::privacy_not_in_force, 1,
                       fmt::format("suspension privacy is not in force (acl_requests = \"tag\", tag {}): {}",
                                   report.private_tag, step->summary)};
      }
    }
  }
  if (report.acl_write.state == StepState::ok) {
    return Verdict{VerdictKind::healthy, 0, "healthy: writes with and without x-amz-acl work"};
  }
  const std::string why = report.acl_write.summary;
  if (report.acl_mode == AclMode::strip) {
    return Verdict{VerdictKind::acl_writes_fail, 0,
                   fmt::format("healthy with ACL stripping: plain writes work, writes carrying x-amz-acl fail ({}); "
                               "keep {}",
                               why, kStripAdvice)};
  }
  return Verdict{VerdictKind::writes_fail, 1,
                 fmt::format("writes fail as configured: plain writes work, but writes carrying x-amz-acl fail ({}) "
                             "and [acl] mode = \"audit\" forwards the header; set {}",
                             why, kStripAdvice)};
}

std::string render_diagnosis_text(const DiagnosisReport& r, const Verdict& v) {
  std::string out;
  auto line = [&out](std::string_view label, StepState state, std::string_view summary) {
    fmt::format_to(std::back_inserter(out), "  {:<36} {:<11} {}\n", label, state_label(state), summary);
  };
  fmt::format_to(std::back_inserter(out), "s3-acl-proxy check\n");
  fmt::format_to(std::back_inserter(out), "  upstream  {} ({} addressing), key {}\n", r.endpoint, r.addressing,
                 r.access_key_id);
  fmt::format_to(std::back_inserter(out), "  bucket    {}, objects under {}\n", r.bucket, r.prefix);
  fmt::format_to(std::back_inserter(out), "  acl mode  {}\n\n", to_string(r.acl_mode));

  line("write/read/list/delete without ACL", r.canary_step.state, r.canary_step.summary);
  for (std::size_t i = 1; i < r.canary.failures.size(); ++i) {
    const auto& f = r.canary.failures[i];
    fmt::format_to(std::back_inserter(out), "  {:<36} {:<11} also failed at {}: {}\n", "", "",
                   step_name(f.step), summary(f));
  }
  line(fmt::format("write with x-amz-acl: {}", kDiagnosisAcl), r.acl_write.state, r.acl_write.summary);
  line("GetBucketOwnershipControls", r.ownership_controls.state, r.ownership_controls.summary);
  line("GetBucketPolicyStatus", r.policy_status.state, r.policy_status.summary);
  line("GetBucketPolicy", r.bucket_policy.state, r.bucket_policy.summary);
  if (r.lint) {
    for (const auto& f : r.lint->findings) {
      fmt::format_to(std::back_inserter(out), "      {:<9} {}  {}: {}\n", severity_name(f.severity), f.statement,
                     f.rule, f.message);
    }
  }
  if (r.suspension_checked) {
    line(fmt::format("suspension Deny ({})", r.private_tag), r.suspension_policy.state, r.suspension_policy.summary);
    line("proxy reads a tagged object", r.tagged_read.state, r.tagged_read.summary);
    line("anonymous GET of a tagged object", r.tagged_anonymous.state, r.tagged_anonymous.summary);
  } else {
    fmt::format_to(std::back_inserter(out), "  {:<36} {:<11} {}\n", "suspension privacy", "off",
                   "no object gets the private tag (acl_requests is not \"tag\" and uploads are not tagged)");
  }
  fmt::format_to(std::back_inserter(out), "\nverdict: {}\n", v.message);
  return out;
}

std::string render_diagnosis_json(const DiagnosisReport& r, const Verdict& v) {
  boost::json::object canary = step_json(r.canary_step);
  canary["key"] = r.canary.key;
  canary["duration_ms"] = std::chrono::duration<double, std::milli>(r.canary.elapsed).count();
  boost::json::array failures;
  for (const auto& f : r.canary.failures) {
    auto fields = failure_fields(r.canary, f);
    fields.erase("bucket");
    fields.erase("key");
    fields.erase("duration_ms");
    fields.erase("result");
    failures.push_back(std::move(fields));
  }
  canary["failures"] = std::move(failures);

  boost::json::object acl = step_json(r.acl_write);
  acl["acl"] = kDiagnosisAcl;

  boost::json::object policy = step_json(r.bucket_policy);
  if (r.lint) {
    boost::json::array findings;
    for (const auto& f : r.lint->findings) {
      findings.push_back(boost::json::object{{"severity", severity_name(f.severity)},
                                             {"statement", f.statement},
                                             {"rule", f.rule},
                                             {"message", f.message}});
    }
    policy["findings"] = std::move(findings);
    policy["blocks_uploads"] = r.lint->blocks_uploads();
  } else {
    policy["findings"] = nullptr;
    policy["blocks_uploads"] = nullptr;
  }

  boost::json::object o;
  o["upstream"] = r.endpoint;
  o["addressing"] = r.addressing;
  o["access_key_id"] = r.access_key_id;
  o["bucket"] = r.bucket;
  o["prefix"] = r.prefix;
  o["acl_mode"] = to_string(r.acl_mode);
  o["steps"] = boost::json::object{{"canary", std::move(canary)},
                                   {"acl_write", std::move(acl)},
                                   {"ownership_controls", step_json(r.ownership_controls)},
                                   {"policy_status", step_json(r.policy_status)},
                                   {"bucket_policy", std::move(policy)}};
  if (r.suspension_checked) {
    auto& steps = o["steps"].as_object();
    boost::json::object deny = step_json(r.suspension_policy);
    deny["tag"] = r.private_tag;
    deny["required"] = r.suspension_required;
    steps["suspension_policy"] = std::move(deny);
    steps["tagged_read"] = step_json(r.tagged_read);
    steps["tagged_anonymous_get"] = step_json(r.tagged_anonymous);
  }
  o["verdict"] = boost::json::object{{"result", verdict_name(v.kind)}, {"exit_code", v.exit_code}, {"message", v.message}};
  return to_json_line(o) + "\n";
}

asio::awaitable<DiagnosisReport> run_diagnosis(S3Client& client, const Config& config) {
  const CanaryConfig& canary = *config.canary;
  DiagnosisReport r;
  r.endpoint = upstream_url(config.upstream);
  r.addressing = std::string(to_string(config.upstream.addressing));
  r.access_key_id = config.upstream.access_key_id;
  r.bucket = canary.bucket;
  r.prefix = canary.prefix;
  r.acl_mode = config.acl.mode;

  // Every argument and result below is named: GCC 12 destroys a temporary inside a
  // co_await expression twice.
  const auto canary_started = std::chrono::system_clock::now();
  r.canary = co_await run_canary_once(client, canary, canary_started);
  r.canary_step = canary_step(r.canary);

  const std::string acl_key =
      canary_key(canary.prefix, std::chrono::system_clock::now(), random_hex(kCanaryRandomBytes) + "-acl");
  const std::string acl_body = canary_body(acl_key, "acl");
  const Fields acl = acl_headers();
  const S3Response put = co_await client.put_object(canary.bucket, acl_key, acl_body, acl);
  if (put.ok()) {
    const S3Response del = co_await client.delete_object(canary.bucket, acl_key);
    r.acl_write = acl_write_step(put, &del);
  } else {
    r.acl_write = acl_write_step(put, nullptr);
  }

  const S3Response ownership = co_await client.get_bucket_ownership_controls(canary.bucket);
  r.ownership_controls = ownership_controls_step(ownership);
  const S3Response status = co_await client.get_bucket_policy_status(canary.bucket);
  r.policy_status = policy_status_step(status);
  const S3Response policy = co_await client.get_bucket_policy(canary.bucket);
  const LintContext lint = lint_context(config);
  r.bucket_policy = bucket_policy_step(policy, lint, r.lint);

  r.suspension_checked = tags_private_uploads(config.acl) || config.acl.acl_requests == AclRequests::tag;
  r.suspension_required = config.acl.acl_requests == AclRequests::tag;
  r.private_tag = suspension::to_string(config.acl.private_tag);
  if (r.suspension_checked) {
    r.suspension_policy = suspension_policy_step(policy, lint, config.acl.private_tag);
    // An object carrying the tag: the proxy must read it, the public must not.
    const std::string tagged_key =
        canary_key(canary.prefix, std::chrono::system_clock::now(), random_hex(kCanaryRandomBytes) + "-tagged");
    const std::string tagged_body = canary_body(tagged_key, "tagged");
    const suspension::TagSet tags{{config.acl.private_tag.key, config.acl.private_tag.value}};
    const Fields tagging{{"x-amz-tagging", suspension::encode_tagging_header(tags)}};
    const S3Response tagged_put = co_await client.put_object(canary.bucket, tagged_key, tagged_body, tagging);
    S3Response tagged_get;
    if (tagged_put.ok()) tagged_get = co_await client.get_object(canary.bucket, tagged_key);
    r.tagged_read = tagged_read_step(tagged_put, tagged_get);
    if (tagged_put.ok()) {
      S3ClientRequest anonymous{http::verb::get, canary.bucket, tagged_key, {}, {}, {}};
      anonymous.anonymous = true;
      const S3Response anonymous_get = co_await client.send(std::move(anonymous));
      r.tagged_anonymous = tagged_anonymous_step(anonymous_get);
      const S3Response cleanup = co_await client.delete_object(canary.bucket, tagged_key);
      (void)cleanup;  // a leftover canary object under the prefix is harmless
    } else {
      r.tagged_anonymous = DiagnosisStep{StepState::failed, 0, {}, {}, "not tried: no tagged object could be written"};
    }
  }
  co_return r;
}

int run_policy_command(const Config& config, std::string_view flavor, std::ostream& out, std::ostream& err) {
  if (!config.canary) {
    err << "s3-acl-proxy policy: canary.bucket: the bucket the policy is for is unknown; add a [canary] section with "
           "bucket = \"...\" to the config\n";
    return 2;
  }
  const auto parsed = suspension::parse_flavor(flavor);
  if (!parsed) {
    err << "s3-acl-proxy policy: --flavor must be aws, ceph or minio\n";
    return 2;
  }
  const suspension::PolicyInput in{config.canary->bucket, config.upstream.principal_arn, config.acl.private_tag,
                                   *parsed};
  auto policy = suspension::suspension_policy(in);
  if (!policy) {
    err << "s3-acl-proxy policy: " << policy.failure().message << "\n";
    return 2;
  }
  out << policy.value();
  out.flush();
  return 0;
}

int run_diagnose_command(const Config& config, bool json, std::ostream& out, std::ostream& err) {
  if (!config.canary) {
    err << "s3-acl-proxy check: canary.bucket: the bucket to check is unknown; add a [canary] section with "
           "bucket = \"...\" to the config\n";
    return 2;
  }
  std::shared_ptr<ssl::context> tls;
  try {
    if (config.upstream.scheme == Scheme::https) tls = make_upstream_tls_context(config.upstream);
  } catch (const std::exception& e) {
    err << "s3-acl-proxy check: upstream.ca_file: TLS set-up failed: " << e.what() << "\n";
    return 2;
  }

  asio::io_context ioc{1};
  Metrics metrics;  // the pool counts its connections; nothing reads them here
  std::optional<DiagnosisReport> report;
  std::exception_ptr crashed;
  {
    UpstreamPool pool(ioc.get_executor(), config.upstream, tls, metrics);
    S3Client client(pool, config.upstream);
    asio::co_spawn(ioc, run_diagnosis(client, config),
                   [&](std::exception_ptr e, DiagnosisReport r) {
                     if (e) crashed = e;
                     else report = std::move(r);
                     // Idle pooled connections wait for the upstream to close them; end that so run() returns.
                     pool.close_idle();
                   });
    ioc.run();
  }
  if (crashed || !report) {
    try {
      if (crashed) std::rethrow_exception(crashed);
    } catch (const std::exception& e) {
      err << "s3-acl-proxy check: the diagnosis stopped: " << e.what() << "\n";
    }
    return 1;
  }
  const Verdict verdict = decide_verdict(*report);
  out << (json ? render_diagnosis_json(*report, verdict) : render_diagnosis_text(*report, verdict));
  out.flush();
  return verdict.exit_code;
}

}  // namespace s3proxy
