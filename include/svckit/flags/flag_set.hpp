#pragma once
// A set of feature flags in flagd's flag-definition format (https://flagd.dev/reference/
// flag-definitions/): each flag has a state, typed variants, a default variant and optionally a
// targeting rule in JsonLogic with flagd's operators (fractional, sem_ver, starts_with,
// ends_with); "$evaluators" hold shared rule fragments a targeting names by {"$ref": name}.
//
// parse() validates the whole document and compiles every rule once, so that evaluating a flag
// walks a small tree against the caller's context and allocates nothing on the common paths.
// A FlagSet never changes; a new document is a new FlagSet.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/flags/evaluation.hpp"

namespace svckit::flags {

// A document that is not a valid flag set: every problem found, each naming where it is
// ("flags.new-ui.defaultVariant: \"blue\" is not one of its variants").
class FlagSetError : public std::invalid_argument {
 public:
  explicit FlagSetError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

class FlagSet {
 public:
  // Throws FlagSetError. Limits keep a hostile document from costing more than it says:
  // nesting depth 64, 10,000 flags, 1,000 variants per flag.
  static std::shared_ptr<const FlagSet> parse(const nlohmann::json& document);
  static std::shared_ptr<const FlagSet> empty();

  ~FlagSet();
  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // `context` is the evaluation context: an object (a null counts as {}), its "targetingKey"
  // the subject's stable id. `now` (seconds since 1970) is $flagd.timestamp; 0: the clock.
  Evaluation evaluate(std::string_view key, const nlohmann::json& context,
                      std::int64_t now = 0) const;

  bool contains(std::string_view key) const;
  std::vector<std::string> keys() const;  // sorted
  // The value type of a flag's variants: "boolean", "string", "number" or "object".
  std::string_view type_of(std::string_view key) const;
  const nlohmann::json& document() const { return document_; }

 private:
  struct Flag;
  explicit FlagSet(nlohmann::json document);
  const Flag* find(std::string_view key) const;

  nlohmann::json document_;
  std::vector<std::unique_ptr<Flag>> flags_;  // sorted by key
};

}  // namespace svckit::flags
