// multipart/form-data as it arrives: the same parts whatever the pieces the body comes in, and
// malformed or oversized forms refused with 400 or 413.
#include <gtest/gtest.h>

#include "svckit/error.hpp"
#include "svckit/http/form_data.hpp"

namespace svckit::http {
namespace {

struct Seen {
  std::vector<FormParser::Part> parts;
  std::vector<std::string> bodies;
};

Seen parse(const std::string& body, std::size_t piece, FormLimits limits = {},
           const std::string& boundary = "XyZ") {
  Seen seen;
  FormParser::Sink sink{[&](const FormParser::Part& p) {
                          seen.parts.push_back(p);
                          seen.bodies.emplace_back();
                        },
                        [&](const char* d, std::size_t n) { seen.bodies.back().append(d, n); },
                        [] {}};
  FormParser parser(boundary, limits, sink);
  for (std::size_t i = 0; i < body.size(); i += piece)
    parser.feed(body.data() + i, std::min(piece, body.size() - i));
  parser.finish();
  return seen;
}

const std::string kForm =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"key\"\r\n\r\n"
    "reports/q4.pdf\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=\"file\"; filename=\"C:\\Users\\me\\q4 "
    "%22final%22.pdf\"\r\n"
    "Content-Type: application/pdf\r\n\r\n"
    "%PDF\r\nnot a boundary: --XyZ\r\n--Xy\r\n\r\n"
    "--XyZ--\r\n"
    "epilogue";

TEST(FormParser, TheSamePartsWhateverThePieces) {
  for (std::size_t piece : {1, 2, 3, 7, 13, 64, 1000}) {
    auto seen = parse(kForm, piece);
    ASSERT_EQ(seen.parts.size(), 2u) << piece;
    EXPECT_EQ(seen.parts[0].name, "key");
    EXPECT_FALSE(seen.parts[0].is_file);
    EXPECT_EQ(seen.bodies[0], "reports/q4.pdf");
    EXPECT_EQ(seen.parts[1].name, "file");
    EXPECT_TRUE(seen.parts[1].is_file);
    EXPECT_EQ(seen.parts[1].filename, "q4 %22final%22.pdf");  // a browser's quote, as it sent it
    EXPECT_EQ(seen.parts[1].content_type, "application/pdf");
    EXPECT_EQ(seen.bodies[1], "%PDF\r\nnot a boundary: --XyZ\r\n--Xy\r\n") << piece;
  }
}

TEST(FormParser, BoundaryFromContentType) {
  EXPECT_EQ(form_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(form_boundary("Multipart/Form-Data;boundary=\"a b;c\""), "a b;c");
  EXPECT_FALSE(form_boundary("multipart/mixed; boundary=abc"));
  EXPECT_FALSE(form_boundary("multipart/form-data"));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary="));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary=" + std::string(71, 'a')));
}

TEST(FormParser, MalformedFormsAre400) {
  const std::string part = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n";
  for (const std::string& bad : {
           std::string(""),                                         // no boundary at all
           part,                                                    // never closed
           std::string("--XyZ\r\n\r\nv\r\n--XyZ--"),                // no headers
           std::string("--XyZ\r\nX-Other: 1\r\n\r\nv\r\n--XyZ--"),  // no Content-Disposition
           std::string("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--"),
           std::string("--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--"),
           std::string("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--"),
           std::string("--XyZ\r\nno colon\r\n\r\nv\r\n--XyZ--"),
           std::string("--XyZjunk\r\n"),
           // A line break inside a header: it would travel into a stored Content-Type.
           std::string("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n"
                       "Content-Type: text/html\nSet-Cookie: a=b\r\n\r\nv\r\n--XyZ--"),
           std::string(
               "--XyZ\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\nv\r\n--XyZ--"),
       }) {
    EXPECT_THROW(parse(bad, 5), BadRequest) << bad;
  }
}

TEST(FormParser, PaddingAfterABoundaryIsAllowedAndAFailedParserStaysFailed) {
  auto seen =
      parse("--XyZ  \t\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--  \r\n", 1);
  ASSERT_EQ(seen.parts.size(), 1u);
  EXPECT_EQ(seen.bodies[0], "v");
  std::string got;
  FormParser::Sink sink{[](const FormParser::Part&) {},
                        [&](const char* d, std::size_t n) { got.append(d, n); }, [] {}};
  FormParser parser("XyZ", {}, sink);
  std::string bad = "--XyZ\r\nno colon\r\n\r\n";
  EXPECT_THROW(parser.feed(bad.data(), bad.size()), BadRequest);
  std::string more = "v\r\n--XyZ--";
  EXPECT_THROW(parser.feed(more.data(), more.size()), BadRequest);
  EXPECT_EQ(got, "");
}

TEST(FormParser, LimitsAre413) {
  FormLimits small{.max_field = 16, .max_headers = 64, .max_parts = 2, .max_files = 1};
  auto field = [](const std::string& name, const std::string& filename) {
    std::string d = "Content-Disposition: form-data; name=\"" + name + "\"";
    if (!filename.empty()) d += "; filename=\"" + filename + "\"";
    return "--XyZ\r\n" + d + "\r\n\r\nvalue\r\n";
  };
  EXPECT_NO_THROW(parse(field("a", "") + field("f", "x") + "--XyZ--", 3, small));
  EXPECT_THROW(parse(field("a", "") + field("b", "") + field("c", "") + "--XyZ--", 3, small),
               PayloadTooLarge);
  EXPECT_THROW(parse(field("f", "x") + field("g", "y") + "--XyZ--", 3, small), PayloadTooLarge);
  EXPECT_THROW(parse(field(std::string(100, 'n'), "") + "--XyZ--", 3, small), PayloadTooLarge);
  // A header block that never ends is refused once it passes the limit, not read for ever.
  EXPECT_THROW(
      parse("--XyZ\r\nContent-Disposition: form-data; name=" + std::string(1000, 'a'), 3, small),
      PayloadTooLarge);
}

}  // namespace
}  // namespace svckit::http
