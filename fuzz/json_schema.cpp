// A JSON Schema and an instance, as the Configuration service gets them from config:write:
// {"schema": ..., "instance": ...}. Compiling answers a schema or std::invalid_argument; validating
// never throws, names at most the limit's problems, and says the same twice.
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "svckit/json_schema.hpp"

using nlohmann::json;
using svckit::fuzz::expect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = json::parse(svckit::fuzz::text(data, size), nullptr, false);
  if (input.is_discarded() || !input.is_object() || !input.contains("schema")) return 0;
  std::optional<svckit::JsonSchema> schema;
  try {
    schema = svckit::JsonSchema::compile(input["schema"]);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const json instance = input.value("instance", json());
  auto first = schema->validate(instance, 5);
  auto second = schema->validate(instance, 5);
  expect(first.size() <= 5, "more problems than the limit");
  expect(first.size() == second.size(), "the same instance judged twice differently");
  for (std::size_t i = 0; i < first.size(); ++i)
    expect(first[i].path == second[i].path && first[i].message == second[i].message,
           "different problems twice");
  return 0;
}
