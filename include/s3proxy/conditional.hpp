#pragma once
// Conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since and
// the x-amz-copy-source-if-* family) are decided by the upstream: the proxy forwards and
// signs the headers like any other and relays the answer as it came, never retrying it.
// What it adds is a name for the outcome, so that a refused precondition -- an answer the
// client asked for -- can be told apart from a failure on the dashboards.
#include <optional>
#include <string_view>

namespace s3proxy {

enum class ConditionalOutcome {
  not_modified,         // 304: GET/HEAD If-None-Match or If-Modified-Since held
  precondition_failed,  // 412 PreconditionFailed (a HEAD's 412 has no body, hence no code)
  conflict,             // 409 ConditionalRequestConflict (a conditional write raced another)
};

// The outcome of an upstream answer with this status and S3 error code; nullopt for any
// answer that is not one of the three.
std::optional<ConditionalOutcome> conditional_outcome(unsigned status, std::string_view s3_code);

// "not_modified", "precondition_failed", "conflict": the metric label values.
std::string_view conditional_outcome_name(ConditionalOutcome outcome);

// The S3 code of the outcome: "NotModified", "PreconditionFailed", "ConditionalRequestConflict".
// Audited for an answer that came without a body to read it from (a 304, a HEAD's 412).
std::string_view conditional_s3_code(ConditionalOutcome outcome);

}  // namespace s3proxy
