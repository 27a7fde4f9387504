// The headers a client sends for a file (Range, If-Range, If-None-Match, If-Modified-Since,
// If-Match, If-Unmodified-Since, one per line of the input) against a 1000-byte file:
// file_response() answers 200, 206, 304, 412 or 416, and what it sends is inside the file.
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "svckit/error.hpp"
#include "svckit/http/file_response.hpp"

using svckit::fuzz::expect;
namespace http = svckit::http;

namespace {

constexpr std::uint64_t kSize = 1000;

const std::string& file() {
  static const std::string path = [] {
    char name[] = "/tmp/fuzz-file-XXXXXX";
    int fd = ::mkstemp(name);
    std::string bytes(kSize, 'x');
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(kSize))
      std::abort();
    ::close(fd);
    return std::string(name);
  }();
  return path;
}

std::uint64_t number(std::string_view text) {
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<const char*, 6> kNames = {
      "Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"};
  std::vector<http::Request::Header> headers;
  auto input = svckit::fuzz::text(data, size);
  for (std::size_t i = 0; i < kNames.size() && !input.empty(); ++i) {
    auto line = input.substr(0, input.find('\n'));
    if (!line.empty()) headers.emplace_back(kNames[i], std::string(line));
    input.remove_prefix(std::min(input.size(), line.size() + 1));
  }
  http::Request req(http::Method::get, "GET", "/file", headers, "");
  http::Response r = http::file_response(req, file(), {.etag = "\"tag\""});
  const int s = r.status;
  expect(s == 200 || s == 206 || s == 304 || s == 412 || s == 416, "an unexpected status");
  if (s == 200)
    expect(r.body.size() == kSize || (r.file && r.file->length == kSize), "200 not whole");
  if (s == 206) {
    std::uint64_t length = r.file ? r.file->length : r.body.size();
    std::uint64_t offset = r.file ? r.file->offset : 0;
    const std::string* range = r.header("Content-Range");
    expect(range != nullptr, "206 without Content-Range");
    auto dash = range->find('-'), slash = range->find('/');
    std::uint64_t first = number(std::string_view(*range).substr(6, dash - 6));
    std::uint64_t last = number(std::string_view(*range).substr(dash + 1, slash - dash - 1));
    expect(length >= 1 && first <= last && last < kSize, "a range outside the file");
    expect(length == last - first + 1, "Content-Range and the length disagree");
    expect(!r.file || offset == first, "the bytes sent are not the range named");
    expect(std::string_view(*range).substr(slash + 1) == "1000", "the wrong total");
  }
  if (s == 416)
    expect(r.header("Content-Range") && *r.header("Content-Range") == "bytes */1000",
           "416 without Content-Range: bytes */size");
  return 0;
}
