// svckit._svckit: the compiled half of the `svckit` Python package (bindings/python/svckit holds
// the Python half, which is what users import).
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "errors.hpp"
#include "runtime.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_svckit, m) {
  m.doc() =
      "svckit's C++ SDK for Python: auth, bus, client, flags, metrics. Import `svckit` instead.";
  svckit::python::register_errors(m);
  svckit::python::bind_auth(m);
  svckit::python::bind_bus(m);
  svckit::python::bind_client(m);
  svckit::python::bind_flags(m);
  svckit::python::bind_metrics(m);
  svckit::python::bind_trace(m);
  m.def("_shutdown", &svckit::python::Runtime::shutdown, py::call_guard<py::gil_scoped_release>(),
        "Closes open buses and stops svckit's threads (svckit registers it with atexit).");
  m.def(
      "_noop", [](py::handle value) { return value; }, py::arg("value"),
      "Returns its argument: the cost of a call into the module (benchmarks).");
}
