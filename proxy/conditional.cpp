#include "s3proxy/conditional.hpp"

namespace s3proxy {

std::optional<ConditionalOutcome> conditional_outcome(unsigned status, std::string_view s3_code) {
  if (status == 304) return ConditionalOutcome::not_modified;
  // 412 means PreconditionFailed whatever the body says (a HEAD's answer carries none).
  if (status == 412) return ConditionalOutcome::precondition_failed;
  // 409 is also BucketNotEmpty, OperationAborted...: only this code is a condition's outcome.
  if (status == 409 && s3_code == "ConditionalRequestConflict") return ConditionalOutcome::conflict;
  return std::nullopt;
}

std::string_view conditional_outcome_name(ConditionalOutcome outcome) {
  switch (outcome) {
    case ConditionalOutcome::not_modified: return "not_modified";
    case ConditionalOutcome::precondition_failed: return "precondition_failed";
    case ConditionalOutcome::conflict: return "conflict";
  }
  return "other";
}

std::string_view conditional_s3_code(ConditionalOutcome outcome) {
  switch (outcome) {
    case ConditionalOutcome::not_modified: return "NotModified";
    case ConditionalOutcome::precondition_failed: return "PreconditionFailed";
    case ConditionalOutcome::conflict: return "ConditionalRequestConflict";
  }
  return "";
}

}  // namespace s3proxy
