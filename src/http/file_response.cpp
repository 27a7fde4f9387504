#include "svckit/http/file_response.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <ctime>
#include <optional>

#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"

namespace svckit::http {
namespace {

constexpr std::uint64_t kInline = 64 * 1024;  // answers up to this size are read, not sent

struct ByteRange {
  std::uint64_t first;
  std::uint64_t last;  // inclusive
};

std::string http_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); nullopt for anything else (RFC 9110 says
// to ignore a date it cannot parse).
std::optional<std::time_t> parse_http_date(std::string_view text) {
  std::tm tm{};
  std::string copy(text);
  const char* end = ::strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

enum class RangeAsk { none, one, unsatisfiable };

// "bytes=first-last", "bytes=first-", "bytes=-suffix"; several ranges or any other unit are
// answered whole (none), as RFC 9110 §14.2 allows.
RangeAsk parse_range(std::string_view header, std::uint64_t size, ByteRange& out) {
  if (!istarts_with(header, "bytes=")) return RangeAsk::none;
  auto spec = trim_ows(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return RangeAsk::none;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeAsk::none;
  auto first = number(trim_ows(spec.substr(0, dash)));
  auto last = number(trim_ows(spec.substr(dash + 1)));
  if (!first) {  // a suffix: the last N bytes
    if (!last) return RangeAsk::none;
    if (*last == 0 || size == 0) return RangeAsk::unsatisfiable;
    out = {size - std::min(*last, size), size - 1};
    return RangeAsk::one;
  }
  if (spec.substr(dash + 1).empty()) {  // from `first` to the end
    if (*first >= size) return RangeAsk::unsatisfiable;
    last = size - 1;
  }
  if (!last || *last < *first) return RangeAsk::none;  // malformed: ignored
  if (*first >= size) return RangeAsk::unsatisfiable;
  out = {*first, std::min(*last, size - 1)};
  return RangeAsk::one;
}

// Whether `etag` is in the comma-separated `list` ("*" matches any); weak comparison (the W/
// prefix ignored) unless `strong`.
bool etag_listed(std::string_view list, std::string_view etag, bool strong) {
  if (trim_ows(list) == "*") return true;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto one = trim_ows(list.substr(0, comma));
    bool weak = one.starts_with("W/");
    if (weak) one.remove_prefix(2);
    if (one == etag && !(strong && weak)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

Response bodiless(int status) {
  Response r;
  r.status = status;
  return r;
}

}  // namespace

std::string content_disposition(std::string_view name, bool inline_disposition) {
  std::string fallback, encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : name) {
    bool plain = std::isalnum(c) || std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) !=
                                        std::string_view::npos;
    fallback.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '_');
    if (plain) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 15]);
    }
  }
  return std::string(inline_disposition ? "inline" : "attachment") + "; filename=\"" + fallback +
         "\"; filename*=UTF-8''" + encoded;
}

Response file_response(const Request& req, const std::filesystem::path& path, FileOptions options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat info {};
  if (fd < 0 || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    if (fd >= 0) ::close(fd);
    throw NotFound("no such file");
  }
  auto body = std::make_shared<FileBody>(fd, 0, static_cast<std::uint64_t>(info.st_size));
  const std::uint64_t size = body->length;
  std::string etag = options.etag;
  if (etag.empty()) {
    char text[64];
    auto mtime_ns = static_cast<std::uint64_t>(info.st_mtim.tv_sec) * 1'000'000'000u +
                    static_cast<std::uint64_t>(info.st_mtim.tv_nsec);
    std::snprintf(text, sizeof text, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                  static_cast<unsigned long long>(mtime_ns));
    etag = text;
  }
  const std::time_t modified = options.last_modified
                                   ? static_cast<std::time_t>(*options.last_modified)
                                   : info.st_mtim.tv_sec;
  auto validators = [&](Response& r) {
    r.set_header("ETag", etag);
    r.set_header("Last-Modified", http_date(modified));
    r.set_header("Accept-Ranges", "bytes");
    if (!options.cache_control.empty()) r.set_header("Cache-Control", options.cache_control);
  };

  // RFC 9110 §13.2.2: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range.
  if (auto match = req.header("If-Match"); match && !etag_listed(*match, etag, true)) {
    Response r = bodiless(412);
    validators(r);
    return r;
  }
  if (auto since = req.header("If-Unmodified-Since"); since && !req.header("If-Match"))
    if (auto date = parse_http_date(*since); date && modified > *date) return bodiless(412);
  bool fresh = false;
  if (auto none = req.header("If-None-Match"))
    fresh = etag_listed(*none, etag, false);
  else if (auto since = req.header("If-Modified-Since"))
    if (auto date = parse_http_date(*since)) fresh = modified <= *date;
  if (fresh) {
    Response r = bodiless(304);
    validators(r);
    return r;
  }

  Response r;
  r.status = 200;
  r.content_type = options.content_type;
  validators(r);
  if (!options.download_name.empty())
    r.set_header("Content-Disposition",
                 content_disposition(options.download_name, options.inline_disposition));
  ByteRange range{};
  auto ask = RangeAsk::none;
  if (auto header = req.header("Range")) {
    bool current = true;  // If-Range: the range only while the client's copy is this one
    if (auto if_range = req.header("If-Range")) {
      if (if_range->starts_with("\"") || if_range->starts_with("W/"))
        current = *if_range == etag;  // a strong comparison: a weak tag never matches
      else
        current = parse_http_date(*if_range) == modified;
    }
    if (current) ask = parse_range(*header, size, range);
  }
  if (ask == RangeAsk::unsatisfiable) {
    Response refused = Response::problem(
        Error(416, "about:blank", "Range Not Satisfiable", "the range is outside the file"),
        req.request_id(), req.path());
    refused.set_header("Content-Range", "bytes */" + std::to_string(size));
    return refused;
  }
  if (ask == RangeAsk::one) {
    r.status = 206;
    r.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                      std::to_string(range.last) + "/" + std::to_string(size));
    body->offset = range.first;
    body->length = range.last - range.first + 1;
  }
  // A small answer is read now and goes out with its head in one write: no sendfile, and no
  // coroutine of the server's waiting on it.
  if (body->length <= kInline) {
    r.body.resize(body->length);
    std::size_t done = 0;
    while (done < body->length) {
      auto n = ::pread(body->fd, r.body.data() + done, body->length - done,
                       static_cast<off_t>(body->offset + done));
      if (n <= 0) throw std::runtime_error("cannot read " + path.string());
      done += static_cast<std::size_t>(n);
    }
    return r;
  }
  r.file = std::move(body);
  return r;
}

}  // namespace svckit::http
