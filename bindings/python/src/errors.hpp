#pragma once
// svckit's exceptions as Python sees them, all under svckit.Error:
//   AuthError (.reason, .status 401) and its ForbiddenError (403), BusError, TimeoutError (also
//   a builtins.TimeoutError), UpstreamError (.kind, .upstream), ConfigError (also a ValueError).
// C++ exceptions crossing into Python are translated here; each keeps its message.
#include <string>

#include <pybind11/pybind11.h>

namespace svckit::python {

void register_errors(pybind11::module_& m);

// Raises (throws pybind11::error_already_set) AuthError/ForbiddenError with `reason`.
[[noreturn]] void raise_auth_error(const std::string& reason, bool forbidden = false);

}  // namespace svckit::python
