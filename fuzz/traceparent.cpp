// W3C traceparent values from callers: accepted ones are exactly the canonical form.
#include "fuzz_check.hpp"
#include "svckit/trace/trace_context.hpp"

using svckit::fuzz::expect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto value = svckit::fuzz::text(data, size);
  auto parsed = svckit::trace::parse_traceparent(value);
  if (!parsed) return 0;
  expect(parsed->trace_id.size() == 32 && parsed->parent_id.size() == 16, "ids of the wrong size");
  expect(parsed->trace_id != std::string(32, '0') && parsed->parent_id != std::string(16, '0'),
         "an all-zero id accepted");
  for (char c : parsed->trace_id + parsed->parent_id)
    expect((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "an id that is not lower-case hex");
  return 0;
}
