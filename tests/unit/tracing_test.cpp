// Spans, the sampler and the OTLP exporter's queue (the encodings are checked against
// OpenTelemetry's own decoder in tests/integration/test_tracing.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "svckit/trace/otlp.hpp"
#include "svckit/trace/span.hpp"
#include "svckit/tracing/otlp_exporter.hpp"

using namespace svckit;
using trace::Sampler;

namespace {

// The sampler is the process's: each test puts the default back.
struct SamplerGuard {
  ~SamplerGuard() { trace::set_sampler(Sampler{}); }
};

}  // namespace

TEST(Sampler, ParsesOpenTelemetrysNamesAndRefusesTheRest) {
  EXPECT_EQ(Sampler::parse("always_off", "").kind, Sampler::Kind::always_off);
  auto s = Sampler::parse("parentbased_traceidratio", "0.25");
  EXPECT_EQ(s.kind, Sampler::Kind::parentbased_traceidratio);
  EXPECT_DOUBLE_EQ(s.ratio, 0.25);
  EXPECT_DOUBLE_EQ(Sampler::parse("traceidratio", "").ratio, 1.0);  // the specification's default
  EXPECT_THROW(Sampler::parse("sometimes", ""), std::invalid_argument);
  EXPECT_THROW(Sampler::parse("traceidratio", "1.5"), std::invalid_argument);
  EXPECT_THROW(Sampler::parse("traceidratio", "-0.1"), std::invalid_argument);
  EXPECT_THROW(Sampler::parse("traceidratio", "half"), std::invalid_argument);
  EXPECT_THROW(Sampler::parse("traceidratio", "nan"), std::invalid_argument);
}

TEST(Sampler, TheRatioDecidesByTheTraceIdAlone) {
  auto s = Sampler::parse("traceidratio", "0.5");
  // The last 16 hex digits against 2^63: the same answer wherever the id is seen.
  EXPECT_TRUE(s.samples_root("ffffffffffffffff0000000000000001"));
  EXPECT_FALSE(s.samples_root("00000000000000008000000000000000"));
  EXPECT_TRUE(s.samples_root("00000000000000007fffffffffffffff"));
  // Every digit read as it should be: against 0.75 (0xc000000000000000).
  auto three_quarters = Sampler::parse("traceidratio", "0.75");
  EXPECT_TRUE(three_quarters.samples_root("0000000000000000bfffffffffffffff"));
  EXPECT_FALSE(three_quarters.samples_root("0000000000000000c000000000000000"));
  EXPECT_TRUE(three_quarters.samples_root("ffffffffffffffffabcdef0123456789"));
  EXPECT_FALSE(three_quarters.samples_root("0000000000000000c000000000000001"));
  EXPECT_FALSE(three_quarters.samples_root("0000000000000000fedcba9876543210"));
  int sampled = 0;
  for (int i = 0; i < 10000; ++i) sampled += s.samples_root(trace::random_hex(16));
  EXPECT_GT(sampled, 4500);  // 10,000 draws at 0.5: 4,500-5,500 is 10 standard deviations wide
  EXPECT_LT(sampled, 5500);
}

TEST(Sampler, ParentBasedFollowsTheCaller) {
  SamplerGuard guard;
  trace::set_sampler(Sampler::parse("parentbased_traceidratio", "0"));
  EXPECT_EQ(trace::TraceContext::start().flags, 0);  // a new trace: the ratio, 0
  auto sampled = trace::TraceContext::continue_from(
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", std::nullopt);
  EXPECT_TRUE(sampled.sampled());
  auto unsampled = trace::TraceContext::continue_from(
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", std::nullopt);
  EXPECT_FALSE(unsampled.sampled());
  trace::set_sampler(Sampler::parse("always_off", ""));
  EXPECT_FALSE(trace::TraceContext::continue_from(
                   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", std::nullopt)
                   .sampled());
}

TEST(Spans, NothingIsRecordedWithoutASinkOrForAnUnsampledTrace) {
  auto t = trace::TraceContext::start();
  EXPECT_FALSE(trace::recording(t));  // no sink
  struct Counting : trace::SpanSink {
    int spans = 0;
    void record(const trace::SpanView&) override { ++spans; }
  } sink;
  trace::install_sink(&sink);
  EXPECT_TRUE(trace::recording(t));
  t.flags = 0;
  EXPECT_FALSE(trace::recording(t));
  trace::record(trace::Span::child_of(t, "x", trace::SpanKind::internal));
  trace::install_sink(nullptr);
  trace::record(trace::Span::child_of(t, "y", trace::SpanKind::internal));
  EXPECT_EQ(sink.spans, 1);
}

TEST(Spans, AChildIsANewSpanOfTheSameTrace) {
  auto t = trace::TraceContext::start();
  auto child = trace::Span::child_of(t, "SELECT", trace::SpanKind::client);
  EXPECT_EQ(child.trace_id, t.trace_id);
  EXPECT_EQ(child.parent_span_id, t.span_id);
  EXPECT_EQ(child.span_id.size(), 16u);
  EXPECT_NE(child.span_id, t.span_id);
  EXPECT_EQ(child.traceparent(), "00-" + t.trace_id + "-" + child.span_id + "-01");
  auto own = trace::Span::of(t, "GET /x", trace::SpanKind::server);
  EXPECT_EQ(own.span_id, t.span_id);
  EXPECT_EQ(own.parent_span_id, t.parent_span_id);
}

TEST(Otlp, JsonHasHexIdsStringIntegersAndAnErrorStatus) {
  trace::Span s;
  s.trace_id = "0af7651916cd43dd8448eb211c80319c";
  s.span_id = "b7ad6b7169203331";
  s.name = "GET \"quoted\"";
  s.kind = trace::SpanKind::server;
  s.start_unix_nano = 1700000000000000001ull;
  s.end_unix_nano = 1700000000000000002ull;
  s.set("http.response.status_code", std::int64_t{503}).fail("HTTP 503");
  trace::Resource r{{{"service.name", std::string("svc")}}};
  auto doc = nlohmann::json::parse(trace::otlp_json(r, {&s, 1}));
  const auto& span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], s.trace_id);
  EXPECT_FALSE(span.contains("parentSpanId"));
  EXPECT_EQ(span["name"], "GET \"quoted\"");
  EXPECT_EQ(span["startTimeUnixNano"], "1700000000000000001");
  EXPECT_EQ(span["attributes"][0]["value"]["intValue"], "503");
  EXPECT_EQ(span["status"]["code"], 2);
  EXPECT_EQ(doc["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "svc");
}

TEST(Otlp, ResourceAttributesAreKeyValuePairsPercentDecoded) {
  auto a = trace::parse_resource_attributes(" deployment.environment=prod , team=a%2Cb,,x=");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].key, "deployment.environment");
  EXPECT_EQ(std::get<std::string>(a[0].value), "prod");
  EXPECT_EQ(std::get<std::string>(a[1].value), "a,b");
  EXPECT_EQ(std::get<std::string>(a[2].value), "");
  EXPECT_THROW(trace::parse_resource_attributes("novalue"), std::invalid_argument);
  EXPECT_THROW(trace::parse_resource_attributes("=value"), std::invalid_argument);
  EXPECT_EQ(std::get<std::string>(trace::parse_resource_attributes("k=%zz%4")[0].value), "%zz%4");
}

TEST(OtlpExporter, SpansThatCannotBeSentAreDroppedAndCounted) {
  // A collector nobody answers for (the discard port, closed), a long delay: spans wait in the
  // queue until the flush, whose export fails; they are counted as dropped, never retried into
  // a queue that grows. (A queue full while a collector is slow: test_tracing.py.)
  tracing::OtlpExporter exporter({.endpoint = "http://127.0.0.1:9/v1/traces",
                                  .timeout = std::chrono::milliseconds(200),
                                  .max_queue = 16,
                                  .max_batch = 16,
                                  .delay = std::chrono::hours(1)});
  auto t = trace::TraceContext::start();
  trace::install_sink(&exporter);
  for (int i = 0; i < 3; ++i)
    trace::record(trace::Span::child_of(t, "s", trace::SpanKind::internal));
  trace::install_sink(nullptr);
  EXPECT_EQ(exporter.dropped(), 0u);  // queued
  exporter.flush();
  EXPECT_EQ(exporter.dropped(), 3u);
  EXPECT_EQ(exporter.exported(), 0u);
}

TEST(OtlpExporter, RefusesAnEndpointThatIsNotHttp) {
  EXPECT_THROW(tracing::OtlpExporter({.endpoint = "ftp://collector/v1/traces"}),
               std::invalid_argument);
  EXPECT_THROW(tracing::OtlpExporter({.endpoint = "collector:4318"}), std::invalid_argument);
}
