#pragma once
// A method called once per request (Verifier.verify), installed as a plain CPython vectorcall
// method instead of through pybind11's dispatcher. The dispatcher allocates two vectors per call
// and walks the overloads: about 100 ns, a tenth of an HS256 verification from Python. Such a
// method takes one argument, by position or by name, and its C++ exceptions reach Python
// through the same translators as every other method's.
#include <string_view>

#include <pybind11/pybind11.h>

namespace svckit::python {

// What a fast method does: `self` is the bound C++ object, `argument` the one argument.
template <class T>
using FastBody = pybind11::object (*)(const T& self, pybind11::handle argument);

namespace detail {

// The argument of a call made with one argument, positional or named `name`; nullptr with a
// TypeError set otherwise.
PyObject* only_argument(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                        const char* method, const char* name);

// Sets the Python exception for the C++ exception being handled, as pybind11 would.
void set_python_error() noexcept;

template <class T, FastBody<T> Body, const char* Method, const char* Argument>
PyObject* fast_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                    PyObject* kwnames) noexcept {
  PyObject* argument = only_argument(args, nargs, kwnames, Method, Argument);
  if (!argument) return nullptr;
  try {
    const T& object = pybind11::cast<const T&>(pybind11::handle(self));
    return Body(object, argument).release().ptr();
  } catch (...) {
    set_python_error();
    return nullptr;
  }
}

}  // namespace detail

// Installs Body as `cls.Method(Argument)`, replacing what pybind11 defined under that name.
template <class T, FastBody<T> Body, const char* Method, const char* Argument>
void def_fast_method(pybind11::class_<T>& cls, const char* doc) {
  static PyMethodDef def{Method,
                         reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(
                             &detail::fast_call<T, Body, Method, Argument>)),
                         METH_FASTCALL | METH_KEYWORDS, doc};
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  auto descriptor = pybind11::reinterpret_steal<pybind11::object>(PyDescr_NewMethod(type, &def));
  if (!descriptor) throw pybind11::error_already_set();
  cls.attr(Method) = descriptor;
}

}  // namespace svckit::python
