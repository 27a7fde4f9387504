#pragma once
// Sends finished spans to an OpenTelemetry collector over OTLP/HTTP. A span is encoded on the
// thread that records it, into that thread's buffer (no copy of the span, no lock another
// recording thread takes); a thread of the exporter's own takes the buffers and sends them in
// batches, so a request never waits for the collector. When the collector is slow or
// away the queue fills and further spans are dropped and counted (svckit_trace_spans_dropped_total)
// — never a blocked request, never memory that grows. An App makes one from the OTEL_* settings
// (docs/tracing.md); a program can make its own and trace::install_sink() it.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "svckit/meter.hpp"
#include "svckit/trace/otlp.hpp"
#include "svckit/trace/span.hpp"

namespace svckit::tracing {

struct OtlpExporterOptions {
  std::string endpoint;  // the traces URL: http://collector:4318/v1/traces
  bool json = false;     // OTLP/JSON (http/json) rather than protobuf (http/protobuf)
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every export
  std::chrono::milliseconds timeout{10000};                  // one export
  std::size_t max_queue = 2048;                              // spans waiting, at most
  std::size_t max_batch = 512;                               // spans per export, at most
  std::chrono::milliseconds delay{5000};  // the longest a span waits for a batch to fill
  trace::Resource resource;
  meter::Meter* metrics = nullptr;  // svckit_trace_spans_{exported,dropped}_total; none if null
};

class OtlpExporter : public trace::SpanSink {
 public:
  // std::invalid_argument for an endpoint that is not an http(s) URL.
  explicit OtlpExporter(OtlpExporterOptions options);
  // Sends what is queued (within one export's timeout), then stops.
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void record(const trace::SpanView& span) override;
  // Sends what is queued now and returns when that export is done (tests, shutdown).
  void flush();

  std::uint64_t exported() const;  // spans a collector accepted
  std::uint64_t dropped() const;   // spans lost: the queue full, or an export that failed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// OTEL_EXPORTER_OTLP_HEADERS: "key=value,key2=value2", values percent-decoded.
std::vector<std::pair<std::string, std::string>> parse_otlp_headers(std::string_view text);

}  // namespace svckit::tracing
