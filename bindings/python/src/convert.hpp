#pragma once
// Python values ⇄ JSON, strictly: what json.dumps(allow_nan=False) accepts and nothing else, so
// an event or a body means the same on both sides. Needs the GIL.
#include <pybind11/pybind11.h>
#include <chrono>

#include <nlohmann/json.hpp>

namespace svckit::python {

// dict (str keys), list, tuple, str, int (64-bit), float (finite), bool, None. Throws
// pybind11::type_error or pybind11::value_error naming where in `value` the problem is.
nlohmann::json to_json(pybind11::handle value, const char* what = "value");
pybind11::object from_json(const nlohmann::json& value);

// A duration argument given in seconds: (0, 86400], or [0, 86400] with `zero_ok`; otherwise
// pybind11::value_error naming `what`.
std::chrono::milliseconds seconds_arg(double seconds, const char* what, bool zero_ok = false);

}  // namespace svckit::python
