// multipart/form-data bodies (boundary "XyZ"), fed whole and one byte at a time: the parser
// answers a form or BadRequest/PayloadTooLarge, never anything else, and both feedings give the
// same parts with the same bytes.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "svckit/error.hpp"
#include "svckit/http/form_data.hpp"

using svckit::fuzz::expect;
namespace http = svckit::http;

namespace {

struct Outcome {
  std::vector<std::string> parts;  // name, filename, type and bytes of each
  std::string error;
  bool operator==(const Outcome&) const = default;
};

Outcome parse(std::string_view body, std::size_t piece) {
  Outcome out;
  http::FormParser::Sink sink{
      [&](const http::FormParser::Part& p) {
        out.parts.push_back(p.name + "|" + p.filename + "|" + p.content_type + "|");
      },
      [&](const char* d, std::size_t n) { out.parts.back().append(d, n); }, [] {}};
  http::FormLimits limits{.max_field = 64, .max_headers = 256, .max_parts = 8, .max_files = 4};
  try {
    http::FormParser parser("XyZ", limits, sink);
    for (std::size_t i = 0; i < body.size(); i += piece)
      parser.feed(body.data() + i, std::min(piece, body.size() - i));
    parser.finish();
  } catch (const svckit::BadRequest&) {
    out.error = "400";
  } catch (const svckit::PayloadTooLarge&) {
    out.error = "413";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto whole = parse(body, body.size() + 1);
  auto bytewise = parse(body, 1);
  // Limits may be met at different points, but the verdict and, on success, the parts agree.
  expect(whole.error == bytewise.error, "the verdict depends on how the body was cut");
  if (whole.error.empty()) expect(whole == bytewise, "the parts depend on how the body was cut");
  expect(whole.parts.size() <= 8, "more parts than the limit");
  return 0;
}
