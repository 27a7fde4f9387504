#pragma once
// A JSON Schema (draft 7, with 2019-09/2020-12's $defs, prefixItems, dependentRequired,
// dependentSchemas, minContains/maxContains), checked and compiled once, validating instances:
// what a service's settings must look like before anyone stores them.
//
//   auto schema = svckit::JsonSchema::compile(document);   // std::invalid_argument: not a schema
//   for (auto& p : schema.validate(settings)) ...           // {"/timeout", "must be at most 60"}
//
// Local references only ("#", "#/definitions/x", "#/$defs/x"); a remote one, $dynamicRef,
// unevaluated* are refused by name rather than ignored. `format` is an annotation (as the draft
// has it by default). `pattern` runs on RE2, in time linear in the text whatever the pattern (a
// schema is someone's input): ECMAScript's syntax less lookarounds and backreferences, which are
// refused. Validation is bounded: 64 nested $refs, 50,000 steps, then a problem.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace svckit {

class JsonSchema {
 public:
  struct Problem {
    std::string path;     // a JSON Pointer into the instance ("" the whole)
    std::string message;  // "must be at most 60"
  };

  static JsonSchema compile(nlohmann::json schema);
  // At most `limit` problems, in document order; none: valid.
  std::vector<Problem> validate(const nlohmann::json& instance, std::size_t limit = 20) const;
  const nlohmann::json& document() const;

  struct Impl;

 private:
  explicit JsonSchema(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace svckit
