#pragma once
// One function per submodule of svckit._svckit, called by module.cpp.
#include <pybind11/pybind11.h>

namespace svckit::python {

void bind_auth(pybind11::module_& m);
void bind_bus(pybind11::module_& m);
void bind_client(pybind11::module_& m);
void bind_flags(pybind11::module_& m);
void bind_metrics(pybind11::module_& m);
void bind_trace(pybind11::module_& m);

}  // namespace svckit::python
