// The strict JSON parser under JOSE headers and JWT claims. Whatever it accepts nlohmann accepts
// too, with the same value; the flat-object parser agrees with the full one on which member
// names an object has.
#include <nlohmann/json.hpp>

#include "auth/strict_json.hpp"
#include "fuzz_check.hpp"

using svckit::fuzz::expect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = svckit::fuzz::text(data, size);
  std::string error;
  auto strict = svckit::auth::detail::parse_strict_json(text, 16, error);
  if (strict) {
    auto loose = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    expect(!loose.is_discarded(), "strict JSON nlohmann refuses");
    expect(loose == *strict, "strict JSON read otherwise than nlohmann reads it");
  } else {
    expect(!error.empty(), "a refusal without a reason");
  }
  std::vector<svckit::auth::detail::FlatMember> members;
  std::string flat_error;
  if (svckit::auth::detail::parse_strict_flat_object(text, 16, members, flat_error)) {
    expect(strict && strict->is_object(), "a flat object the full parser refuses");
    expect(members.size() == strict->size(), "member counts differ");
    for (const auto& m : members)
      expect(strict->contains(m.name), "a member the full parser lacks");
  }
  svckit::auth::detail::parse_string_array(text);
  return 0;
}
