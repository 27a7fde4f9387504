// Decodes an OTLP/HTTP protobuf trace export (ExportTraceServiceRequest) with OpenTelemetry's own
// generated protobufjs code, independent of svckit's encoder, and prints it as JSON: ids as
// lowercase hex, 64-bit integers as decimal strings, enums as numbers.
//
//   node tools/npm/decode-otlp.cjs BODY_FILE...    # one JSON document per line
const fs = require('fs');
const root = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root');

const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
for (const file of process.argv.slice(2)) {
  const message = Request.decode(fs.readFileSync(file));
  const object = Request.toObject(message, { longs: String, enums: Number, bytes: Array, defaults: false });
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  for (const rs of object.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const span of ss.spans || []) {
        span.traceId = hex(span.traceId);
        span.spanId = hex(span.spanId);
        if (span.parentSpanId) span.parentSpanId = hex(span.parentSpanId);
      }
  process.stdout.write(JSON.stringify(object) + '\n');
}
