#include <gtest/gtest.h>
#include <algorithm>

#include <string>

#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

using svckit::trace::parse_traceparent;
using svckit::trace::TraceContext;

TEST(Traceparent, ParsesTheW3cExample) {
  auto p = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(p->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(p->flags, 1);
}

TEST(Traceparent, RejectsInvalidValues) {
  for (auto bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",           // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // 00 is exact
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",        // separators
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
           "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       })
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  for (char odd : {'\xff', '\x80', '\0', 'g', 'G', '/', ':', '`'}) {  // around the hex ranges
    std::string v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (std::size_t at : {3u, 20u, 34u, 36u, 51u, 53u, 54u}) {
      std::string bad = v;
      bad[at] = odd;
      EXPECT_FALSE(parse_traceparent(bad)) << int(odd) << " at " << at;
    }
  }
}

TEST(Traceparent, FutureVersionsMayCarryMoreFields) {
  EXPECT_TRUE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what"));
}

TEST(TraceContext, ContinuesAValidTraceWithANewSpan) {
  auto t = TraceContext::continue_from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                       "congo=t61rcWkgMzE");
  EXPECT_EQ(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(t.span_id.size(), 16u);
  EXPECT_NE(t.span_id, "00f067aa0ba902b7");
  EXPECT_EQ(t.tracestate, "congo=t61rcWkgMzE");
  EXPECT_EQ(t.traceparent().substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_TRUE(parse_traceparent(t.traceparent()));
}

TEST(TraceContext, StartsANewTraceOnGarbage) {
  auto t = TraceContext::continue_from("garbage", "k=v");
  EXPECT_EQ(t.trace_id.size(), 32u);
  EXPECT_TRUE(t.parent_span_id.empty());
  EXPECT_TRUE(t.tracestate.empty());  // state belongs to the trace it came with
  EXPECT_TRUE(parse_traceparent(t.traceparent()));
}

TEST(Ids, UuidV4Shape) {
  auto id = svckit::uuid_v4();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_NE(svckit::uuid_v4(), id);
}

TEST(Ids, Iso8601Now) {
  auto now = svckit::utc_now_iso8601();
  ASSERT_EQ(now.size(), 24u);
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

TEST(Ids, Iso8601OfAUnixTime) {
  EXPECT_EQ(svckit::utc_iso8601(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(svckit::utc_iso8601(1764034565), "2025-11-25T01:36:05Z");
}

TEST(Ids, RandomHexHasTheAskedLength) {
  for (std::size_t n : {0u, 1u, 3u, 8u, 9u, 16u, 33u}) {
    auto hex = svckit::trace::random_hex(n);
    ASSERT_EQ(hex.size(), 2 * n);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  }
  EXPECT_NE(svckit::trace::random_hex(16), svckit::trace::random_hex(16));
  std::string many;  // every digit turns up, and in about equal numbers
  for (int i = 0; i < 1000; ++i) many += svckit::trace::random_hex(16);
  for (char digit : std::string_view("0123456789abcdef")) {
    auto n = std::count(many.begin(), many.end(), digit);
    EXPECT_GT(n, 1600) << digit;  // 32,000 digits: 2,000 expected of each
    EXPECT_LT(n, 2400) << digit;
  }
}
