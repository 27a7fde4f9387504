#include "errors.hpp"

#include <future>
#include <stdexcept>

#include "runtime.hpp"
#include "svckit/auth/jwt.hpp"
#include "svckit/auth/key.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/config.hpp"
#include "svckit/error.hpp"
#include "svckit/http/client.hpp"

namespace svckit::python {
namespace py = pybind11;

namespace {

PyObject* error_type = nullptr;
PyObject* auth_error_type = nullptr;
PyObject* forbidden_error_type = nullptr;
PyObject* bus_error_type = nullptr;
PyObject* timeout_error_type = nullptr;
PyObject* upstream_error_type = nullptr;
PyObject* config_error_type = nullptr;

PyObject* make_type(py::module_& m, const char* name, const char* doc, py::tuple bases) {
  std::string qualified = std::string("svckit.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!type) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module keeps a reference; so do we (never freed)
  Py_INCREF(type);
  return type;
}

// Sets `type(message)`, with `attributes` on the instance, as the pending Python error.
void raise(PyObject* type, const std::string& message, py::dict attributes = {}) {
  py::object instance = py::reinterpret_borrow<py::object>(type)(message);
  for (auto [k, v] : attributes) py::setattr(instance, k, v);
  PyErr_SetObject(type, instance.ptr());
}

void translate(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const auth::TokenError& e) {
    raise(auth_error_type, e.reason(),
          py::dict(py::arg("reason") = e.reason(), py::arg("status") = 401));
  } catch (const Forbidden& e) {
    raise(forbidden_error_type, e.detail(),
          py::dict(py::arg("reason") = e.detail(), py::arg("status") = 403));
  } catch (const Unauthorized& e) {
    raise(auth_error_type, e.detail(),
          py::dict(py::arg("reason") = e.detail(), py::arg("status") = 401));
  } catch (const bus::RequestTimeout& e) {
    raise(timeout_error_type, e.detail());
  } catch (const bus::BusError& e) {
    raise(bus_error_type, e.what());
  } catch (const http::UpstreamError& e) {
    py::dict attributes(py::arg("kind") = std::string(http::to_string(e.kind())),
                        py::arg("upstream") = e.upstream(), py::arg("status") = e.status());
    raise(e.kind() == http::UpstreamError::Kind::timeout ? timeout_error_type : upstream_error_type,
          e.detail(), attributes);
  } catch (const ConfigError& e) {
    raise(config_error_type, e.what(), py::dict(py::arg("variable") = e.variable()));
  } catch (const auth::KeyError& e) {
    raise(config_error_type, e.what());
  } catch (const ShutDown& e) {
    raise(error_type, e.what());
  } catch (const Error& e) {
    if (e.status() == 401 || e.status() == 403) {
      raise(e.status() == 401 ? auth_error_type : forbidden_error_type, e.detail(),
            py::dict(py::arg("reason") = e.detail(), py::arg("status") = e.status()));
      return;
    }
    raise(error_type, e.detail().empty() ? e.title() : e.detail(),
          py::dict(py::arg("status") = e.status()));
  } catch (const std::future_error&) {
    raise(error_type, "svckit shut down before the call finished");
  }
}

}  // namespace

void raise_auth_error(const std::string& reason, bool forbidden) {
  raise(forbidden ? forbidden_error_type : auth_error_type, reason,
        py::dict(py::arg("reason") = reason, py::arg("status") = forbidden ? 403 : 401));
  throw py::error_already_set();
}

void register_errors(py::module_& m) {
  auto builtins = py::module_::import("builtins");
  error_type = make_type(m, "Error", "Base of every svckit error.",
                         py::make_tuple(builtins.attr("Exception")));
  py::handle base(error_type);
  auth_error_type = make_type(
      m, "AuthError", "A token or credential was refused; .reason says why, .status is 401.",
      py::make_tuple(base));
  forbidden_error_type =
      make_type(m, "ForbiddenError", "Authenticated, but a permission is missing (.status 403).",
                py::make_tuple(py::handle(auth_error_type)));
  bus_error_type = make_type(m, "BusError", "The message bus refused or failed an operation.",
                             py::make_tuple(base));
  timeout_error_type =
      make_type(m, "TimeoutError", "No answer in time (a bus request, an upstream call).",
                py::make_tuple(base, builtins.attr("TimeoutError")));
  upstream_error_type =
      make_type(m, "UpstreamError",
                "A call produced no answer; .kind says how (connect, io, circuit_open, ...).",
                py::make_tuple(base));
  config_error_type = make_type(
      m, "ConfigError", "A setting or key that cannot be used; .variable names the setting.",
      py::make_tuple(base, builtins.attr("ValueError")));
  py::register_exception_translator([](std::exception_ptr p) {
    if (p) translate(p);
  });
}

}  // namespace svckit::python
