// svckit.flags' engine: svckit::flags::FlagSet and FlagClient, so that the monolith evaluates
// the same flags, with the same rules and buckets, as the C++ services.
#include <memory>
#include <string>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "svckit/flags/flag_client.hpp"

namespace svckit::python {
namespace py = pybind11;

namespace {

using flags::FlagClient;
using flags::FlagSet;

std::shared_ptr<const FlagSet> parse_set(py::handle document) {
  nlohmann::json doc;
  if (py::isinstance<py::str>(document) || py::isinstance<py::bytes>(document)) {
    doc = nlohmann::json::parse(document.cast<std::string>(), nullptr, false);
    if (doc.is_discarded()) throw py::value_error("the flag set is not JSON");
  } else {
    doc = to_json(document, "document");
  }
  try {
    return FlagSet::parse(doc);
  } catch (const flags::FlagSetError& e) {
    throw py::value_error(e.what());
  }
}

nlohmann::json context_of(py::handle context) {
  return context.is_none() ? nlohmann::json() : to_json(context, "context");
}

// The OpenFeature details as a dict: value (None: the caller's default), variant, reason,
// error_code and error_details when there is an error, metadata.
py::dict details_of(const flags::Evaluation& e) {
  py::dict out;
  out["value"] = e.value ? from_json(*e.value) : py::none();
  out["variant"] = e.value ? py::object(py::str(std::string(e.variant))) : py::none();
  out["reason"] = std::string(flags::to_string(e.reason));
  out["error_code"] =
      e.ok() ? py::none() : py::object(py::str(std::string(flags::to_string(e.error_code))));
  out["error_details"] = e.ok() ? py::none() : py::object(py::str(e.error_details));
  out["metadata"] = e.metadata ? from_json(*e.metadata) : py::dict();
  return out;
}

}  // namespace

void bind_flags(py::module_& root) {
  auto m = root.def_submodule("flags", "Feature flags in flagd's format, evaluated in-process.");

  py::class_<FlagSet, std::shared_ptr<FlagSet>>(m, "FlagSet")
      .def(py::init([](py::handle document) {
             return std::const_pointer_cast<FlagSet>(parse_set(document));
           }),
           py::arg("document"),
           "A flagd flag-definition document (dict or JSON text); ValueError naming its problems.")
      .def(
          "evaluate",
          [](const FlagSet& set, const std::string& key, py::handle context) {
            return details_of(set.evaluate(key, context_of(context)));
          },
          py::arg("key"), py::arg("context") = py::none(),
          "The details of one flag for `context` (a dict; targetingKey its subject).")
      .def("keys", &FlagSet::keys)
      .def("__contains__",
           [](const FlagSet& set, const std::string& key) { return set.contains(key); });

  py::class_<FlagClient, std::shared_ptr<FlagClient>>(m, "FlagClient", py::dynamic_attr())
      .def(py::init<>())
      .def(
          "replace",
          [](FlagClient& client, std::shared_ptr<FlagSet> set, std::int64_t version) {
            client.replace(std::move(set), version);
          },
          py::arg("set"), py::arg("version"), "Holds `set` from now on, unless `version` is older.")
      .def_property_readonly("version", &FlagClient::version)
      .def(
          "boolean",
          [](const FlagClient& c, const std::string& key, bool fallback, py::handle context) {
            return c.boolean(key, fallback, context_of(context));
          },
          py::arg("key"), py::arg("default"), py::arg("context") = py::none())
      .def(
          "text",
          [](const FlagClient& c, const std::string& key, std::string fallback,
             py::handle context) { return c.text(key, std::move(fallback), context_of(context)); },
          py::arg("key"), py::arg("default"), py::arg("context") = py::none())
      .def(
          "number",
          [](const FlagClient& c, const std::string& key, double fallback, py::handle context) {
            return c.number(key, fallback, context_of(context));
          },
          py::arg("key"), py::arg("default"), py::arg("context") = py::none())
      .def(
          "object",
          [](const FlagClient& c, const std::string& key, py::handle fallback, py::handle context) {
            return from_json(c.object(key, to_json(fallback, "default"), context_of(context)));
          },
          py::arg("key"), py::arg("default"), py::arg("context") = py::none())
      .def(
          "details",
          [](const FlagClient& c, const std::string& key, py::handle fallback, py::handle context) {
            auto d = c.details(key, to_json(fallback, "default"), context_of(context));
            py::dict out;
            out["value"] = from_json(d.value);
            out["variant"] = d.variant.empty() ? py::none() : py::object(py::str(d.variant));
            out["reason"] = std::string(flags::to_string(d.reason));
            out["error_code"] =
                d.error_code == flags::ErrorCode::kNone
                    ? py::none()
                    : py::object(py::str(std::string(flags::to_string(d.error_code))));
            out["from_default"] = d.from_default;
            return out;
          },
          py::arg("key"), py::arg("default"), py::arg("context") = py::none());
}

}  // namespace svckit::python
