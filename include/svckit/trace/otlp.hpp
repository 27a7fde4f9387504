#pragma once
// Spans as OTLP's ExportTraceServiceRequest (opentelemetry-proto, trace/v1), the body of a POST
// to a collector's /v1/traces: protobuf ("application/x-protobuf"), or OTLP/JSON
// ("application/json": ids as hex, 64-bit integers as strings). Written directly from the
// published field numbers: no generated code, no message objects.
//
// A span is encoded on its own as it is recorded (append_*_span), and a request is put around
// spans encoded so (otlp_*_request): an exporter encodes on the recording thread and only
// concatenates when it sends.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/trace/span.hpp"

namespace svckit::trace {

// Who sent the spans: service.name and the rest of the resource's attributes.
struct Resource {
  std::vector<Attribute> attributes;
};

// One span as an entry of ScopeSpans.spans: the field's tag and length, then the Span message.
void append_protobuf_span(std::string& out, const SpanView& span);
// One span as an OTLP/JSON object.
void append_json_span(std::string& out, const SpanView& span);

// The request holding `spans`, each as append_protobuf_span() / append_json_span() wrote it.
std::string otlp_protobuf_request(const Resource& resource,
                                  std::span<const std::string_view> spans);
std::string otlp_json_request(const Resource& resource, std::span<const std::string_view> spans);

// Both steps at once, for owned spans (tests, tools).
std::string otlp_protobuf(const Resource& resource, std::span<const Span> spans);
std::string otlp_json(const Resource& resource, std::span<const Span> spans);

// OTEL_RESOURCE_ATTRIBUTES: "key=value,key2=value2", values percent-decoded (W3C Baggage's
// format). std::invalid_argument for an entry without '='.
std::vector<Attribute> parse_resource_attributes(std::string_view text);

}  // namespace svckit::trace
