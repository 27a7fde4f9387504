// HTTP request heads (the server's own fast parser) and whole requests with chunked bodies
// (Beast's parser, as the server configures it). The fast parser may decline anything, but what
// it accepts Beast must accept and read the same way: method, target, version, every field,
// Content-Length and keep-alive.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "beast_feed.hpp"
#include "fuzz_check.hpp"
#include "http/keep_alive.hpp"
#include "http/message_head.hpp"

namespace bhttp = boost::beast::http;
using svckit::fuzz::expect;
using svckit::fuzz::feed;

namespace {

constexpr std::size_t kMaxHead = 8 * 1024;  // ServerOptions::max_header_bytes
constexpr std::size_t kMaxBody = 1 << 20;   // ServerOptions::max_body

void compare_with_beast(std::string_view bytes, const svckit::http::detail::RequestHead& head) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHead);
  parser.body_limit(kMaxBody);
  auto ec = feed(parser, bytes.substr(0, head.size));
  if (ec == bhttp::error::body_limit) {  // the server leaves such a head to Beast: 413
    expect(head.content_length > kMaxBody, "Beast refused a Content-Length within the limit");
    return;
  }
  expect(!ec || ec == bhttp::error::need_more, "a head the fast parser took, Beast refused");
  expect(parser.is_header_done(), "a head the fast parser took, Beast did not finish");
  const auto& req = parser.get();
  expect(req.method_string() == head.method, "method differs from Beast's");
  expect(req.target() == head.target, "target differs from Beast's");
  expect(req.version() == 10 + head.minor_version, "version differs from Beast's");
  expect(parser.content_length().value_or(0) == head.content_length,
         "Content-Length differs from Beast's");
  expect(svckit::http::detail::keeps_alive(parser) == head.keep_alive,
         "keep-alive differs from Beast's");
  expect(svckit::fuzz::beast_fields(req) == svckit::fuzz::grouped(head.headers),
         "fields differ from Beast's");
}

// The whole input as the server's fallback reads it: any framing, chunked bodies included.
void parse_with_beast(std::string_view bytes) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHead);
  parser.body_limit(kMaxBody);
  parser.eager(true);
  auto ec = feed(parser, bytes);
  if (!ec && parser.is_done())
    expect(parser.get().body().size() <= kMaxBody, "a body past the limit was read");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto bytes = svckit::fuzz::text(data, size);
  svckit::http::detail::RequestHead head;
  auto parsed = svckit::http::detail::parse_request_head(bytes, kMaxHead, head);
  if (parsed == svckit::http::detail::HeadParse::complete) {
    expect(head.size <= bytes.size() && head.size <= kMaxHead, "head size out of range");
    compare_with_beast(bytes, head);
  }
  parse_with_beast(bytes);
  return 0;
}
