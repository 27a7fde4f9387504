#include "svckit/trace/span.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "svckit/hex.hpp"

namespace svckit::trace {

namespace detail {
std::atomic<SpanSink*> current_sink{nullptr};
}

namespace {

Sampler process_sampler;

// The trace id's last 16 hex digits as a number: OpenTelemetry's traceidratio compares those
// (the W3C Level 2 "random" part of an id) with ratio × 2^64.
std::uint64_t random_part(std::string_view trace_id) {
  if (trace_id.size() < 16) return 0;  // ids are 32 lowercase hex digits, checked on the way in
  const char* last16 = trace_id.data() + trace_id.size() - 16;
  return static_cast<std::uint64_t>(hex8_value(last16)) << 32 | hex8_value(last16 + 8);
}

bool by_ratio(std::string_view trace_id, const Sampler& s) {
  return s.ratio >= 1 || (s.ratio > 0 && random_part(trace_id) < s.threshold);
}

}  // namespace

std::uint64_t unix_nanos() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Span Span::of(const TraceContext& trace, std::string name, SpanKind kind) {
  Span s;
  s.trace_id = trace.trace_id;
  s.span_id = trace.span_id;
  s.parent_span_id = trace.parent_span_id;
  s.tracestate = trace.tracestate;
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_nano = unix_nanos();
  return s;
}

Span Span::child_of(const TraceContext& trace, std::string name, SpanKind kind) {
  Span s = of(trace, std::move(name), kind);
  s.parent_span_id = trace.span_id;
  s.span_id = random_hex(8);
  return s;
}

Span& Span::set(std::string key, std::string value) {
  attributes.push_back({std::move(key), std::move(value)});
  return *this;
}

Span& Span::set(std::string key, std::int64_t value) {
  attributes.push_back({std::move(key), value});
  return *this;
}

Span& Span::fail(std::string message) {
  error = true;
  status_message = std::move(message);
  return *this;
}

std::string Span::traceparent() const {
  return "00-" + trace_id + "-" + span_id + "-01";  // recorded spans are sampled ones
}

void install_sink(SpanSink* sink) {
  detail::current_sink.store(sink, std::memory_order_release);
}

SpanSink* installed_sink() {
  return detail::current_sink.load(std::memory_order_acquire);
}

void record(const SpanView& span) {
  if (auto* sink = detail::current_sink.load(std::memory_order_acquire)) sink->record(span);
}

AttributeView view_of(const Attribute& a) {
  AttributeView v{.key = a.key, .value = {}};
  std::visit(
      [&v](const auto& x) {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::string>)
          v.value = std::string_view(x);
        else
          v.value = x;
      },
      a.value);
  return v;
}

SpanView view_of(const Span& s, std::span<AttributeView> room) {
  const std::size_t n = std::min(s.attributes.size(), room.size());
  for (std::size_t i = 0; i < n; ++i) room[i] = view_of(s.attributes[i]);
  return {.trace_id = s.trace_id,
          .span_id = s.span_id,
          .parent_span_id = s.parent_span_id,
          .tracestate = s.tracestate,
          .name = s.name,
          .kind = s.kind,
          .start_unix_nano = s.start_unix_nano,
          .end_unix_nano = s.end_unix_nano,
          .error = s.error,
          .status_message = s.status_message,
          .attributes = room.first(n)};
}

void record(const Span& span) {
  auto* sink = detail::current_sink.load(std::memory_order_acquire);
  if (!sink) return;
  std::array<AttributeView, 32> room;
  sink->record(view_of(span, room));
}

Sampler Sampler::parse(std::string_view name, std::string_view argument) {
  static const std::pair<std::string_view, Kind> kKinds[] = {
      {"always_on", Kind::always_on},
      {"always_off", Kind::always_off},
      {"traceidratio", Kind::traceidratio},
      {"parentbased_always_on", Kind::parentbased_always_on},
      {"parentbased_always_off", Kind::parentbased_always_off},
      {"parentbased_traceidratio", Kind::parentbased_traceidratio},
  };
  Sampler s;
  bool known = false;
  for (const auto& [text, kind] : kKinds)
    if (name == text) {
      s.kind = kind;
      known = true;
    }
  if (!known)
    throw std::invalid_argument("unknown sampler \"" + std::string(name) +
                                "\" (always_on, always_off, traceidratio, parentbased_always_on, "
                                "parentbased_always_off, parentbased_traceidratio)");
  if (s.kind == Kind::traceidratio || s.kind == Kind::parentbased_traceidratio) {
    if (argument.empty()) return s;  // the specification's default: 1.0
    double ratio = -1;
    auto [end, ec] = std::from_chars(argument.data(), argument.data() + argument.size(), ratio);
    if (ec != std::errc() || end != argument.data() + argument.size() || !(ratio >= 0) || ratio > 1)
      throw std::invalid_argument("the sampler's ratio must be a number from 0 to 1, not \"" +
                                  std::string(argument) + "\"");
    s.ratio = ratio;
    s.threshold =
        ratio >= 1 ? ~std::uint64_t{0} : static_cast<std::uint64_t>(std::ldexp(ratio, 64));
  }
  return s;
}

bool Sampler::samples_root(std::string_view trace_id) const {
  switch (kind) {
    case Kind::always_on:
    case Kind::parentbased_always_on:
      return true;
    case Kind::always_off:
    case Kind::parentbased_always_off:
      return false;
    case Kind::traceidratio:
    case Kind::parentbased_traceidratio:
      return by_ratio(trace_id, *this);
  }
  return true;
}

bool Sampler::samples_child(std::string_view trace_id, bool parent_sampled) const {
  switch (kind) {
    case Kind::always_on:
    case Kind::always_off:
    case Kind::traceidratio:
      return samples_root(trace_id);  // the caller's flag is not asked
    default:
      return parent_sampled;
  }
}

void set_sampler(const Sampler& sampler) {
  process_sampler = sampler;
}

const Sampler& sampler() {
  return process_sampler;
}

}  // namespace svckit::trace
