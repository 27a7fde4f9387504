// svckit._svckit.trace: request ids and W3C trace context, by the rules the C++ services use,
// for the FastAPI middleware and the client.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::python {
namespace py = pybind11;

void bind_trace(py::module_& root) {
  auto m = root.def_submodule("trace", "Request ids and W3C trace context.");
  m.def("new_request_id", &uuid_v4, "A new request id (a UUID v4).");
  m.def(
      "sane_request_id", [](std::string_view id) { return sane_request_id(id); }, py::arg("id"),
      "Whether an incoming X-Request-ID may be echoed and logged (short, printable, no spaces).");
  m.def(
      "continue_trace",
      [](std::optional<std::string> traceparent, std::optional<std::string> tracestate) {
        auto context = trace::TraceContext::continue_from(traceparent, tracestate);
        return py::make_tuple(context.trace_id, context.span_id, context.traceparent());
      },
      py::arg("traceparent") = py::none(), py::arg("tracestate") = py::none(),
      "(trace_id, span_id, traceparent) of this hop: the caller's trace with a new span, or a "
      "new trace when `traceparent` is absent or invalid.");
}

}  // namespace svckit::python
