// svckit::read_json against nlohmann::json::parse, on the same bytes: both accept or both refuse,
// and what both accept is the same value (numbers of the same kind: integer, unsigned, float).
// The one difference on purpose: a NUL byte (see below).
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "svckit/json_reader.hpp"

using nlohmann::json;
using svckit::fuzz::expect;

namespace {

// nlohmann's == counts 1 and 1.0 equal; the kinds must agree too.
bool same(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt)
      if (it.key() != jt.key() || !same(it.value(), jt.value())) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = svckit::fuzz::text(data, size);
  if (svckit::json_nests_deeper_than(text, 100)) return 0;  // nlohmann recurses without a limit
  auto ours = svckit::read_json(text, 100);
  // nlohmann takes a NUL byte for the end of its input and accepts "1\0garbage"; JSON has no
  // NUL outside a string (nor, unescaped, inside one): read_json refuses every text with one.
  if (text.find('\0') != std::string_view::npos) {
    expect(!ours, "read_json accepted a NUL byte");
    return 0;
  }
  auto theirs = json::parse(text, nullptr, false);
  expect(ours.has_value() == !theirs.is_discarded(),
         "read_json and nlohmann disagree on accepting");
  if (ours) expect(same(*ours, theirs), "read_json and nlohmann read different values");
  return 0;
}
