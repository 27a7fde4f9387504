// S3 requests as the File Storage Service receives them: a path, a query, an Authorization
// header, an x-amz-date and a body (the input's lines). The signature check never lets an unsigned
// or forged request through (the fuzzer cannot forge an HMAC), and the request documents' reader
// takes any body.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "s3_xml.hpp"
#include "sigv4.hpp"

using svckit::fuzz::expect;
namespace files = raptorflow::files;
namespace http = svckit::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = svckit::fuzz::text(data, size);
  std::vector<std::string> parts;
  for (int i = 0; i < 4; ++i) {
    auto line = input.substr(0, input.find('\n'));
    parts.emplace_back(line);
    input.remove_prefix(std::min(input.size(), line.size() + 1));
  }
  std::string target = "/" + parts[0] + (parts[1].empty() ? "" : "?" + parts[1]);
  std::vector<http::Request::Header> headers = {{"Host", "127.0.0.1:9000"},
                                                {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                                                {"x-amz-date", parts[3]}};
  if (!parts[2].empty()) headers.emplace_back("Authorization", parts[2]);
  http::Request req(http::Method::get, "GET", target, headers, std::string(input));
  auto keys = [](std::string_view id) -> std::optional<files::AccessKey> {
    if (id != "AKIAFUZZ") return std::nullopt;
    return files::AccessKey{"AKIAFUZZ", "fuzz-secret", "fuzzer"};
  };
  auto verdict = files::verify_sigv4(req, keys, "us-east-1");
  expect(std::holds_alternative<files::SignatureError>(verdict), "a forged request was accepted");
  const auto& refused = std::get<files::SignatureError>(verdict);
  expect(refused.status == 400 || refused.status == 403, "a refusal that is not 400 or 403");
  for (auto part : files::xml_elements(input, "Part")) {
    auto number = files::xml_text(part, "PartNumber");
    auto etag = files::xml_text(part, "ETag");
    expect(number.size() <= part.size() && etag.size() <= part.size(),
           "text longer than its element");
  }
  return 0;
}
