#include "delivery.hpp"

#include <optional>

#include "svckit/trace/span.hpp"

namespace svckit::bus::detail {

bool traced(const Event& event) {
  if (!trace::installed_sink()) return false;  // the common case: one atomic load
  const auto& traceparent = event.extension("traceparent");
  auto parsed = trace::parse_traceparent(traceparent);
  // A trace starting here (no usable traceparent) is sampled as the sampler says.
  return parsed ? trace::sampler().samples_child(parsed->trace_id, parsed->flags & 1)
                : trace::sampler().kind != trace::Sampler::Kind::always_off &&
                      trace::sampler().kind != trace::Sampler::Kind::parentbased_always_off;
}

Task<HandlerResult> run_handler(const Handler& handler, Event& event, std::string_view system,
                                bool traced) {
  std::optional<trace::Span> span;
  if (traced) {
    event.delivery_trace.reset();  // a retry's copy, or a replay: this delivery's own
    auto context = event.context();
    if (trace::recording(context.trace())) {
      span = trace::Span::of(context.trace(), event.type + " process", trace::SpanKind::consumer);
      span->set("messaging.system", std::string(system))
          .set("messaging.operation", std::string("process"))
          .set("messaging.destination.name", event.type)
          .set("messaging.message.id", event.id)
          .set("messaging.delivery.attempt", static_cast<std::int64_t>(event.attempt));
      event.delivery_trace = context.trace();  // the handler's context() is the span's
    }
  }
  HandlerResult result;
  try {
    result.outcome = co_await handler(event);
  } catch (const std::exception& e) {
    result.outcome = Outcome::retry;
    result.reason = e.what();
  }
  if (result.outcome == Outcome::retry && result.reason.empty())
    result.reason = "the handler asked for a retry";
  if (traced) event.delivery_trace.reset();
  if (span) {
    span->end();
    if (result.outcome == Outcome::retry) span->fail(result.reason);
    if (result.outcome == Outcome::drop) span->fail("dropped by the handler");
    trace::record(std::move(*span));
  }
  co_return result;
}

Verdict judge(Outcome outcome, int attempts, const RetryPolicy& retry) {
  if (outcome != Outcome::retry) return {Verdict::acknowledge};
  if (attempts >= retry.max_attempts) return {Verdict::dead_letter};
  return {Verdict::retry, retry.backoff(attempts)};
}

}  // namespace svckit::bus::detail
