#pragma once
// Spans: the timed pieces of work a trace is made of (a request served, a call made, an event
// published or consumed, a statement run), handed to the process's span sink when they end.
//
// No sink is installed by default, and then nothing is built: instrumentation asks recording()
// (one atomic load) first. An App installs svckit::tracing's OTLP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT says where spans go (docs/tracing.md). Only spans of sampled
// traces are recorded (TraceContext::sampled(), decided by the sampler below).
//
//   if (trace::recording(context.trace())) {
//     auto span = trace::Span::child_of(context.trace(), "SELECT tasks", trace::SpanKind::client);
//     ... the work ...
//     span.end();  trace::record(std::move(span));
//   }
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "svckit/trace/trace_context.hpp"

namespace svckit::trace {

// OTLP's numbering (opentelemetry.proto.trace.v1.Span.SpanKind).
enum class SpanKind : std::uint8_t {
  internal = 1,
  server = 2,
  client = 3,
  producer = 4,
  consumer = 5
};

struct Attribute {
  std::string key;
  std::variant<std::string, std::int64_t, double, bool> value;
};

// Nanoseconds since the Unix epoch, now: what OTLP times spans in.
std::uint64_t unix_nanos();

struct Span {
  std::string trace_id;        // 32 lowercase hex
  std::string span_id;         // 16 lowercase hex
  std::string parent_span_id;  // 16 lowercase hex; empty for a trace's first span
  std::string tracestate;
  std::string name;
  SpanKind kind = SpanKind::internal;
  std::uint64_t start_unix_nano = 0;
  std::uint64_t end_unix_nano = 0;
  bool error = false;          // OTLP status ERROR (otherwise UNSET)
  std::string status_message;  // why, with error
  std::vector<Attribute> attributes;

  // The span `trace` stands for (its own span id and parent), started now.
  static Span of(const TraceContext& trace, std::string name, SpanKind kind);
  // A new span inside `trace` (a call it makes, a statement it runs), started now.
  static Span child_of(const TraceContext& trace, std::string name, SpanKind kind);

  Span& set(std::string key, std::string value);
  Span& set(std::string key, std::int64_t value);
  Span& fail(std::string message);
  void end() { end_unix_nano = unix_nanos(); }
  // "00-<trace_id>-<span_id>-01": what a call this span stands for carries.
  std::string traceparent() const;
};

// A finished span by reference, what a sink takes: it encodes the span at once, so a span
// made from what a request already holds (the server's) is recorded without a copy or an
// allocation. Attribute keys and values, like the rest, are only read during record().
struct AttributeView {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool> value;
};
struct SpanView {
  std::string_view trace_id;
  std::string_view span_id;
  std::string_view parent_span_id;
  std::string_view tracestate;
  std::string_view name;
  SpanKind kind = SpanKind::internal;
  std::uint64_t start_unix_nano = 0;
  std::uint64_t end_unix_nano = 0;
  bool error = false;
  std::string_view status_message;
  std::span<const AttributeView> attributes;
};

// `a` by reference.
AttributeView view_of(const Attribute& a);
// `span` by reference, its first attributes (as many as `room` holds) viewed in `room`.
SpanView view_of(const Span& span, std::span<AttributeView> room);

class SpanSink {
 public:
  virtual ~SpanSink() = default;
  // Takes a finished span, from any thread; never blocks, never throws (a full queue drops it).
  virtual void record(const SpanView& span) = 0;
};

namespace detail {
extern std::atomic<SpanSink*> current_sink;
}

// The process's sink, or none (nullptr). Its owner keeps it alive until it is uninstalled and
// the threads that record into it have stopped (an App: from construction to destruction).
void install_sink(SpanSink* sink);
SpanSink* installed_sink();
// Whether spans of `trace` are wanted: a sink is installed and the trace is sampled.
inline bool recording(const TraceContext& trace) {
  return trace.sampled() && detail::current_sink.load(std::memory_order_acquire) != nullptr;
}
// To the sink, if there is one. A Span's first 32 attributes are recorded.
void record(const SpanView& span);
void record(const Span& span);

// Which new traces are sampled: OTEL_TRACES_SAMPLER's values. The parent-based ones follow a
// caller's sampled flag and apply the rest to traces that start here; traceidratio decides by
// the trace id alone (the same answer in every service), as the OpenTelemetry SDKs do.
struct Sampler {
  enum class Kind {
    always_on,
    always_off,
    traceidratio,
    parentbased_always_on,
    parentbased_always_off,
    parentbased_traceidratio
  };
  Kind kind = Kind::parentbased_always_on;
  double ratio = 1.0;  // traceidratio's, in [0, 1]
  // ratio × 2^64, computed by parse(): a trace id's last 64 bits below it are sampled.
  std::uint64_t threshold = ~std::uint64_t{0};

  // From OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; std::invalid_argument naming the
  // problem for a value it does not know.
  static Sampler parse(std::string_view name, std::string_view argument);
  // Whether a trace that starts here (no caller's flag) with this id is sampled.
  bool samples_root(std::string_view trace_id) const;
  // Whether a trace continued from a caller whose flag says `parent_sampled` is.
  bool samples_child(std::string_view trace_id, bool parent_sampled) const;
};
// The process's sampler (TraceContext::start and continue_from ask it), set before any thread
// serves. Default: parentbased_always_on.
void set_sampler(const Sampler& sampler);
const Sampler& sampler();

}  // namespace svckit::trace
