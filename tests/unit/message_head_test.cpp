#include <gtest/gtest.h>

#include <string>

#include "message_head.hpp"
#include "svckit/http/ascii.hpp"

using svckit::http::detail::HeadParse;
using svckit::http::detail::parse_request_head;
using svckit::http::detail::RequestHead;

namespace {

HeadParse parse(const std::string& bytes, RequestHead& head, std::size_t max = 8192) {
  return parse_request_head(bytes, max, head);
}

HeadParse parse(const std::string& bytes) {
  RequestHead head;
  return parse(bytes, head);
}

}  // namespace

TEST(RequestHead, ParsesTheCommonRequest) {
  std::string bytes =
      "GET /api/v1/tasks?page=2 HTTP/1.1\r\nHost: example\r\nX-Request-ID:  abc \r\n\r\nNEXT";
  RequestHead head;
  ASSERT_EQ(parse(bytes, head), HeadParse::complete);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/api/v1/tasks?page=2");
  EXPECT_EQ(head.minor_version, 1);
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[1].first, "X-Request-ID");
  EXPECT_EQ(head.headers[1].second, "abc");  // surrounding whitespace is not the value
  EXPECT_EQ(head.size, bytes.size() - 4);    // pipelined bytes are left alone
  EXPECT_EQ(head.content_length, 0u);
  EXPECT_TRUE(head.keep_alive);
}

TEST(RequestHead, ReadsContentLengthAndConnectionOptions) {
  RequestHead head;
  ASSERT_EQ(parse("POST /t HTTP/1.1\r\ncontent-length: 42\r\nConnection: Close\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_EQ(head.content_length, 42u);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", head), HeadParse::complete);
  EXPECT_FALSE(head.keep_alive);  // HTTP/1.0 closes unless asked
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.minor_version, 0);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_FALSE(head.keep_alive);  // close wins (RFC 9112 §9.6)
}

TEST(RequestHead, WaitsForTheBlankLine) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\r\n"), HeadParse::incomplete);
  EXPECT_EQ(parse(""), HeadParse::incomplete);
  RequestHead head;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
  EXPECT_EQ(parse(big, head, 64), HeadParse::declined);  // over the limit: the full parser's 431
  EXPECT_EQ(parse(big + "\r\n\r\n", head, 64), HeadParse::declined);
}

// Everything unusual or hostile goes to the full parser, which answers it (or serves it).
TEST(RequestHead, DeclinesAllButThePlainCase) {
  const char* declined[] = {
      "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
      "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET /a b HTTP/1.1\r\n\r\n",
      "GET /\x7f HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\n\r\n\r\n",
      "\r\n\r\n",
      // Found by fuzz_http_request_head: Beast refuses a Connection option that is not a token,
      // so the fast path must leave it to Beast (a 400) rather than serve it.
      "DELETE 4a HTTP/1.1\r\nConnection: closepgrade, 1[0.0.0.1\r\n\r\n",
      "GET / HTTP/1.1\r\nConnection: close, \"keep-alive\"\r\n\r\n",
      // Beast weighs Proxy-Connection as a Connection: left to it.
      "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
  };
  for (const char* bytes : declined) EXPECT_EQ(parse(bytes), HeadParse::declined) << bytes;
}

TEST(RequestHead, DeclinesTooManyHeaders) {
  std::string bytes = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 65; ++i) bytes += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(parse(bytes + "\r\n"), HeadParse::declined);
}

namespace {

using svckit::http::detail::parse_response_head;
using svckit::http::detail::ResponseHead;

HeadParse parse_answer(const std::string& bytes, ResponseHead& head, bool to_head = false) {
  return parse_response_head(bytes, 8192, to_head, head);
}

HeadParse parse_answer(const std::string& bytes) {
  ResponseHead head;
  return parse_answer(bytes, head);
}

}  // namespace

TEST(ResponseHead, ParsesTheCommonAnswer) {
  std::string bytes =
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  ResponseHead head;
  ASSERT_EQ(parse_answer(bytes, head), HeadParse::complete);
  EXPECT_EQ(head.status, 201);
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[0].second, "application/json");
  EXPECT_EQ(head.size, bytes.size() - 2);
  EXPECT_EQ(head.content_length, 2u);
  EXPECT_TRUE(head.keep_alive);
}

TEST(ResponseHead, KnowsWhichAnswersHaveNoBody) {
  ResponseHead head;
  // A 304 and the answer to a HEAD describe a body they do not carry.
  ASSERT_EQ(parse_answer("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_EQ(head.content_length, 0u);
  ASSERT_EQ(parse_answer("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head, /*to_head=*/true),
            HeadParse::complete);
  EXPECT_EQ(head.content_length, 0u);
  ASSERT_EQ(parse_answer("HTTP/1.1 204 \r\n\r\n", head), HeadParse::complete);  // no reason
  EXPECT_EQ(head.status, 204);
}

TEST(ResponseHead, ReadsTheConnectionsFate) {
  ResponseHead head;
  ASSERT_EQ(parse_answer("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse_answer("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", head),
            HeadParse::complete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(
      parse_answer("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", head),
      HeadParse::complete);
  EXPECT_TRUE(head.keep_alive);
}

TEST(ResponseHead, WaitsForTheWholeHead) {
  EXPECT_EQ(parse_answer("HTTP/1.1 200 OK\r\nContent-Len"), HeadParse::incomplete);
  EXPECT_EQ(parse_answer(""), HeadParse::incomplete);
  ResponseHead head;
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a'), 64, false, head),
            HeadParse::declined);  // past the limit: the full parser's too_large
}

TEST(ResponseHead, DeclinesWhatTheFullParserMustSee) {
  const char* declined[] = {
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\n\r\n",  // read to the close
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 0a0 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: a\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      // Found by fuzz_http_response_head: the space after the code is not optional (RFC 9112
      // §4), and Beast refuses the line without it.
      "HTTP/1.1 204\r\n\r\n",
  };
  for (const char* bytes : declined) EXPECT_EQ(parse_answer(bytes), HeadParse::declined) << bytes;
}

// The character checks look at eight bytes at a time: a byte the plain path must not take is
// found wherever it sits in a word or in the tail, and a tab (allowed, but below 0x20) passes.
TEST(RequestHead, FindsABadByteAtEveryPositionOfValueAndTarget) {
  for (std::size_t size = 1; size <= 24; ++size)
    for (std::size_t at = 0; at < size; ++at) {
      for (unsigned char bad : {0x00, 0x01, 0x0b, 0x1f, 0x7f, 0x80, 0xff}) {
        std::string value(size, 'v');
        value[at] = static_cast<char>(bad);
        EXPECT_EQ(parse("GET / HTTP/1.1\r\nX-V: " + value + "\r\n\r\n"), HeadParse::declined)
            << "value of " << size << " bytes, " << int(bad) << " at " << at;
        std::string target = "/" + std::string(size, 't');
        target[1 + at] = static_cast<char>(bad == 0x00 ? ' ' : bad);
        EXPECT_EQ(parse("GET " + target + " HTTP/1.1\r\n\r\n"), HeadParse::declined)
            << "target of " << size + 1 << " bytes, " << int(bad) << " at " << at + 1;
      }
      std::string tabbed(size, 'v');
      tabbed[at] = '\t';
      if (at == 0 || at == size - 1) continue;  // leading and trailing tabs are trimmed
      RequestHead head;
      std::string bytes =
          "GET / HTTP/1.1\r\nX-V: " + tabbed + "\r\n\r\n";  // head's views are into it
      ASSERT_EQ(parse(bytes, head), HeadParse::complete);
      EXPECT_EQ(head.headers[0].second, tabbed);
    }
}

TEST(Ascii, IsFieldSafeFindsCrLfAndNulAtEveryPosition) {
  using svckit::http::is_field_safe;
  static_assert(is_field_safe("plain") && !is_field_safe("a\r\nb"));  // and at compile time
  for (std::size_t size = 0; size <= 40; ++size) {
    std::string text(size, 'x');
    EXPECT_TRUE(is_field_safe(text));
    for (std::size_t at = 0; at < size; ++at)
      for (char bad : {'\r', '\n', '\0'}) {
        std::string t = text;
        t[at] = bad;
        EXPECT_FALSE(is_field_safe(t)) << size << " bytes, " << int(bad) << " at " << at;
      }
  }
  for (int c = 1; c < 256; ++c) {  // every other byte is safe, in a word and in the tail
    if (c == '\r' || c == '\n') continue;
    EXPECT_TRUE(is_field_safe(std::string(11, static_cast<char>(c)))) << c;
  }
}
