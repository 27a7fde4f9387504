// A flag set and an evaluation context, as a Configuration service gets them from its writers
// and its OFREP callers: {"document": ..., "context": ...} (or the input itself as the document).
// Parsing answers a FlagSet or a FlagSetError, nothing else; evaluating any flag never throws,
// answers one of the flag's own variants (or none), the same twice. (Time and memory: libFuzzer's
// -timeout and -rss_limit_mb stop a rule that escapes the evaluation budget.)
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "svckit/flags/flag_set.hpp"

using nlohmann::json;
using svckit::fuzz::expect;
namespace flags = svckit::flags;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto input = json::parse(text, nullptr, false);
  if (input.is_discarded()) return 0;
  json document = input, context = {{"targetingKey", "user-1"}, {"plan", "gold"}, {"app", "1.2.3"}};
  if (input.is_object() && input.contains("document")) {
    document = input["document"];
    if (input.contains("context")) context = input["context"];
  }
  std::shared_ptr<const flags::FlagSet> set;
  try {
    set = flags::FlagSet::parse(document);
  } catch (const flags::FlagSetError& e) {
    expect(!e.problems().empty(), "a refused set names no problem");
    return 0;
  }
  for (const auto& key : set->keys()) {
    const json contexts[] = {context, json()};
    for (const json& c : contexts) {
      auto first = set->evaluate(key, c, 1'700'000'000);
      auto second = set->evaluate(key, c, 1'700'000'000);
      expect(first.reason == second.reason && first.variant == second.variant &&
                 first.error_code == second.error_code,
             "the same evaluation answered twice differently");
      if (first.value) {
        const auto& variants = set->document()["flags"][key]["variants"];
        expect(variants.contains(std::string(first.variant)) &&
                   variants[std::string(first.variant)] == *first.value,
               "a value that is not the variant's");
      }
      if (!first.ok()) expect(!first.value, "an error with a value");
    }
  }
  expect(set->evaluate("\x01 not a key", context).error_code == flags::ErrorCode::kFlagNotFound,
         "a key no flag has was found");
  return 0;
}
