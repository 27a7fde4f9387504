// The gateway's routes file (GATEWAY_ROUTES, reloaded on SIGHUP): any JSON document is loaded
// or refused with std::invalid_argument naming the member, never anything else.
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(svckit::fuzz::text(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  try {
    svckit::gateway::parse_routes(json);
  } catch (const std::invalid_argument& e) {
    svckit::fuzz::expect(e.what()[0] != '\0', "a refusal without a reason");
  }
  return 0;
}
