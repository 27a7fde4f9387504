#include "fast_method.hpp"

#include <pybind11/detail/internals.h>

namespace svckit::python::detail {

PyObject* only_argument(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                        const char* method, const char* name) {
  Py_ssize_t named = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs == 1 && named == 0) return args[0];
  if (nargs == 0 && named == 1 &&
      PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), name) == 0)
    return args[0];
  PyErr_Format(PyExc_TypeError, "%s() takes exactly one argument, '%s'", method, name);
  return nullptr;
}

void set_python_error() noexcept {
  try {
    throw;
  } catch (pybind11::error_already_set& e) {
    e.restore();
  } catch (...) {
    if (pybind11::detail::apply_exception_translators(
            pybind11::detail::get_local_internals().registered_exception_translators))
      return;
    if (pybind11::detail::apply_exception_translators(
            pybind11::detail::get_internals().registered_exception_translators))
      return;
    PyErr_SetString(PyExc_SystemError, "an exception escaped svckit's exception translation");
  }
}

}  // namespace svckit::python::detail
