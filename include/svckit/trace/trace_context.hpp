#pragma once
// W3C Trace Context (traceparent / tracestate). A valid incoming traceparent is continued with a
// new span id; an invalid or absent one starts a new trace. See
// https://www.w3.org/TR/trace-context/ for the rules parse() enforces.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace svckit::trace {

struct TraceContext {
  std::string trace_id;        // 32 lowercase hex, not all zero
  std::string parent_span_id;  // the caller's span (16 hex), empty when this trace started here
  std::string span_id;         // this service's span (16 hex)
  std::uint8_t flags = 0;      // bit 0: sampled
  std::string tracestate;      // passed on unchanged when the traceparent was valid

  bool sampled() const { return flags & 1; }
  // "00-<trace_id>-<span_id>-<flags>": what an outgoing call carries.
  std::string traceparent() const;
  // The traceparent of a call this span makes: the same trace and flags, a new span id.
  std::string child_traceparent() const;

  // A new trace with random ids.
  static TraceContext start();
  // Continues the caller's trace, or starts a new one when `traceparent` is absent or invalid.
  static TraceContext continue_from(std::optional<std::string_view> traceparent,
                                    std::optional<std::string_view> tracestate);
};

struct ParsedTraceparent {
  std::string trace_id;
  std::string parent_id;
  std::uint8_t flags;
};
// Strict parse of a traceparent header value; nullopt when it is not valid.
std::optional<ParsedTraceparent> parse_traceparent(std::string_view value);

// `bytes` random bytes as lowercase hex, from a per-thread generator seeded by the OS.
std::string random_hex(std::size_t bytes);

}  // namespace svckit::trace
