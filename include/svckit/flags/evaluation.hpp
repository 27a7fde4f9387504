#pragma once
// What evaluating one feature flag gives: the OpenFeature resolution details (value, variant,
// reason, error code), as flagd and the OpenFeature Remote Evaluation Protocol name them.
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace svckit::flags {

enum class Reason {
  kStatic,          // no targeting: the default variant
  kTargetingMatch,  // the targeting chose the variant
  kDefault,         // the targeting chose nothing: the default variant
  kDisabled,        // the flag is DISABLED: the caller's own default applies
  kError,           // see error_code
};

enum class ErrorCode {
  kNone,
  kFlagNotFound,
  kParseError,
  kTypeMismatch,
  kTargetingKeyMissing,
  kInvalidContext,
  kGeneral,
};

std::string_view to_string(Reason reason);
std::string_view to_string(ErrorCode code);

struct Evaluation {
  // The variant's value; null when the caller's default applies (disabled, error, or a flag
  // whose defaultVariant is null). Points into the FlagSet evaluated, which must outlive it.
  const nlohmann::json* value = nullptr;
  std::string_view variant;  // into the FlagSet too
  Reason reason = Reason::kError;
  ErrorCode error_code = ErrorCode::kNone;
  std::string error_details;
  const nlohmann::json* metadata = nullptr;  // the flag's (merged with the set's), never null
                                             // when the flag exists

  bool ok() const { return error_code == ErrorCode::kNone; }
};

}  // namespace svckit::flags
