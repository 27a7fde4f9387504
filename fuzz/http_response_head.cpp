// HTTP answers as svckit::http::Client reads them: the fast parser's heads against Beast's
// (status, version, fields, Content-Length, keep-alive), and whole answers through Beast with
// the client's limits. The first byte says whether the request was a HEAD.
#include <boost/beast/http.hpp>

#include "beast_feed.hpp"
#include "fuzz_check.hpp"
#include "http/keep_alive.hpp"
#include "http/message_head.hpp"

namespace bhttp = boost::beast::http;
using svckit::fuzz::expect;
using svckit::fuzz::feed;

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;  // the client's kMaxResponseHead
constexpr std::size_t kMaxBody = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  bool to_head = data[0] & 1;
  auto bytes = svckit::fuzz::text(data + 1, size - 1);
  svckit::http::detail::ResponseHead head;
  auto parsed = svckit::http::detail::parse_response_head(bytes, kMaxHead, to_head, head);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kMaxHead);
  parser.body_limit(kMaxBody);
  if (to_head) parser.skip(true);
  if (parsed == svckit::http::detail::HeadParse::complete) {
    expect(head.size <= bytes.size(), "head size out of range");
    auto ec = feed(parser, bytes.substr(0, head.size));
    if (ec == bhttp::error::body_limit) {  // the client refuses such an answer too (too_large)
      expect(head.content_length > kMaxBody, "Beast refused a Content-Length within the limit");
      return 0;
    }
    expect(!ec || ec == bhttp::error::need_more, "a head the fast parser took, Beast refused");
    expect(parser.is_header_done(), "a head the fast parser took, Beast did not finish");
    const auto& res = parser.get();
    expect(res.result_int() == static_cast<unsigned>(head.status), "status differs from Beast's");
    expect(res.version() == 10 + head.minor_version, "version differs from Beast's");
    expect(svckit::http::detail::keeps_alive(parser) == head.keep_alive,
           "keep-alive differs from Beast's");
    if (!to_head && head.status != 204 && head.status != 304)  // bodiless whatever it says
      expect(parser.content_length().value_or(0) == head.content_length,
             "Content-Length differs from Beast's");
    expect(svckit::fuzz::beast_fields(res) == svckit::fuzz::grouped(head.headers),
           "fields differ from Beast's");
  } else {
    feed(parser, bytes);
  }
  return 0;
}
