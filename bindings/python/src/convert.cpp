#include "convert.hpp"

#include <cmath>
#include <string>

namespace svckit::python {
namespace py = pybind11;

namespace {

constexpr int kMaxDepth = 64;

nlohmann::json convert(py::handle value, const std::string& where, int depth) {
  if (depth > kMaxDepth)
    throw py::value_error(where + " nests deeper than " + std::to_string(kMaxDepth) + " levels");
  if (value.is_none()) return nullptr;
  if (PyBool_Check(value.ptr())) return value.ptr() == Py_True;
  if (PyLong_Check(value.ptr())) {
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(value.ptr());
      if (PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error(where + " is an integer beyond 64 bits");
      }
      return u;
    }
    if (overflow < 0) throw py::value_error(where + " is an integer beyond 64 bits");
    return n;
  }
  if (PyFloat_Check(value.ptr())) {
    double d = PyFloat_AS_DOUBLE(value.ptr());
    if (!std::isfinite(d)) throw py::value_error(where + " is not a finite number (JSON has none)");
    return d;
  }
  if (PyUnicode_Check(value.ptr())) {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (!text) {
      PyErr_Clear();
      throw py::value_error(where + " is not valid Unicode (lone surrogates)");
    }
    return std::string(text, static_cast<std::size_t>(size));
  }
  if (PyDict_Check(value.ptr())) {
    nlohmann::json out = nlohmann::json::object();
    for (auto [k, v] : py::reinterpret_borrow<py::dict>(value)) {
      if (!PyUnicode_Check(k.ptr()))
        throw py::type_error(where + " has a key that is not a str: " + std::string(py::repr(k)));
      std::string key = k.cast<std::string>();
      out[key] = convert(v, where + "[" + std::string(py::repr(k)) + "]", depth + 1);
    }
    return out;
  }
  if (PyList_Check(value.ptr()) || PyTuple_Check(value.ptr())) {
    nlohmann::json out = nlohmann::json::array();
    std::size_t i = 0;
    for (auto item : value) {
      out.push_back(convert(item, where + "[" + std::to_string(i) + "]", depth + 1));
      ++i;
    }
    return out;
  }
  throw py::type_error(
      where + " is not JSON: " + std::string(py::str(py::type::handle_of(value).attr("__name__"))));
}

}  // namespace

nlohmann::json to_json(py::handle value, const char* what) {
  return convert(value, what, 0);
}

std::chrono::milliseconds seconds_arg(double seconds, const char* what, bool zero_ok) {
  if (!(seconds >= 0) || (!zero_ok && seconds == 0) || seconds > 86'400)
    throw py::value_error(std::string(what) + " must be a number of seconds in " +
                          (zero_ok ? "[0, 86400]" : "(0, 86400]"));
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(seconds));
}

py::object from_json(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return py::none();
    case nlohmann::json::value_t::boolean:
      return py::bool_(value.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(value.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(value.get<double>());
    case nlohmann::json::value_t::string:
      return py::str(value.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list out(value.size());
      std::size_t i = 0;
      for (const auto& item : value) out[i++] = from_json(item);
      return std::move(out);
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [k, v] : value.items()) out[py::str(k)] = from_json(v);
      return std::move(out);
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  return py::none();
}

}  // namespace svckit::python
