// svckit.metrics: the C++ registry (prometheus-cpp, text format 0.0.4) for Python, and the
// HTTP series with prometheus-fastapi-instrumentator's names for the FastAPI middleware.
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "runtime.hpp"
#include "svckit/metrics/http_metrics.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::python {
namespace py = pybind11;

namespace {

// A registry: the runtime's (what svckit's own bus and client count into) or a new one.
struct PyRegistry {
  std::shared_ptr<metrics::Registry> owned;
  metrics::Registry* registry;
};

PyRegistry default_registry() {
  return PyRegistry{nullptr, &Runtime::get().registry()};
}

// One metric family with its label names; children are found by label values.
template <class Metric>
struct PyFamily {
  prometheus::Family<Metric>* family;
  std::vector<std::string> label_names;
  std::optional<prometheus::Histogram::BucketBoundaries> buckets;
  std::shared_ptr<metrics::Registry> keep;  // a registry made from Python lives while we do

  prometheus::Labels labels_of(const py::args& args, const py::kwargs& kwargs) const {
    prometheus::Labels out;
    if (args.size() && kwargs.size())
      throw py::value_error("give label values by position or by name");
    if (args.size()) {
      if (args.size() != label_names.size())
        throw py::value_error("expected " + std::to_string(label_names.size()) + " label values");
      for (std::size_t i = 0; i < args.size(); ++i)
        out[label_names[i]] = std::string(py::str(args[i]));
      return out;
    }
    for (auto [k, v] : kwargs) out[py::cast<std::string>(k)] = std::string(py::str(v));
    if (out.size() != label_names.size()) throw py::value_error("expected labels " + joined());
    for (const auto& name : label_names)
      if (!out.count(name))
        throw py::value_error("missing label '" + name + "'; expected " + joined());
    return out;
  }

  std::string joined() const {
    std::string s;
    for (const auto& n : label_names) s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? "none" : s;
  }

  // The one child of a family without labels (inc/set/observe called on the family itself).
  Metric& unlabelled(const char* kind) {
    if (!label_names.empty())
      throw py::value_error(std::string("this ") + kind + " has labels: use .labels(...)");
    return child({});
  }

  Metric& child(const prometheus::Labels& labels) {
    if constexpr (std::is_same_v<Metric, prometheus::Histogram>)
      return family->Add(labels, *buckets);
    else
      return family->Add(labels);
  }
};

void check_name(const std::string& name) {
  bool ok = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':');
  if (!ok) throw py::value_error("not a metric name: '" + name + "' ([a-zA-Z_:][a-zA-Z0-9_:]*)");
}

void check_labels(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    bool ok = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
              !name.starts_with("__");
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) throw py::value_error("not a label name: '" + name + "'");
  }
}

using Counter = PyFamily<prometheus::Counter>;
using Gauge = PyFamily<prometheus::Gauge>;
using Histogram = PyFamily<prometheus::Histogram>;

}  // namespace

void bind_metrics(py::module_& root) {
  auto m = root.def_submodule("metrics", "Prometheus metrics in the registry svckit renders.");

  py::class_<prometheus::Counter>(m, "CounterChild")
      .def(
          "inc",
          [](prometheus::Counter& c, double amount) {
            if (!(amount >= 0)) throw py::value_error("a counter only goes up (amount >= 0)");
            c.Increment(amount);
          },
          py::arg("amount") = 1.0)
      .def_property_readonly("value", &prometheus::Counter::Value);
  py::class_<prometheus::Gauge>(m, "GaugeChild")
      .def("set", &prometheus::Gauge::Set, py::arg("value"))
      .def(
          "inc", [](prometheus::Gauge& g, double v) { g.Increment(v); }, py::arg("amount") = 1.0)
      .def(
          "dec", [](prometheus::Gauge& g, double v) { g.Decrement(v); }, py::arg("amount") = 1.0)
      .def_property_readonly("value", &prometheus::Gauge::Value);
  py::class_<prometheus::Histogram>(m, "HistogramChild")
      .def(
          "observe",
          [](prometheus::Histogram& h, double v) {
            if (std::isnan(v)) throw py::value_error("cannot observe NaN");
            h.Observe(v);
          },
          py::arg("value"));

  auto family = [&m]<class F>(const char* name, F*) {
    return py::class_<F>(m, name)
        .def(
            "labels",
            [](F & f, py::args a, py::kwargs k) -> auto& { return f.child(f.labels_of(a, k)); },
            py::return_value_policy::reference_internal)
        .def_readonly("label_names", &F::label_names);
  };
  family("Counter", static_cast<Counter*>(nullptr))
      .def(
          "inc",
          [](Counter& f, double amount) {
            if (!(amount >= 0)) throw py::value_error("a counter only goes up (amount >= 0)");
            f.unlabelled("counter").Increment(amount);
          },
          py::arg("amount") = 1.0);
  family("Gauge", static_cast<Gauge*>(nullptr))
      .def(
          "set", [](Gauge& f, double v) { f.unlabelled("gauge").Set(v); }, py::arg("value"));
  family("Histogram", static_cast<Histogram*>(nullptr))
      .def(
          "observe",
          [](Histogram& f, double v) {
            if (std::isnan(v)) throw py::value_error("cannot observe NaN");
            f.unlabelled("histogram").Observe(v);
          },
          py::arg("value"));

  py::class_<metrics::HttpMetrics, std::shared_ptr<metrics::HttpMetrics>>(m, "HttpMetrics")
      .def("started", &metrics::HttpMetrics::started, py::arg("handler"), py::arg("method"))
      .def("finished", &metrics::HttpMetrics::finished, py::arg("handler"), py::arg("method"),
           py::arg("status"), py::arg("seconds"), py::arg("request_bytes"),
           py::arg("response_bytes"));

  py::class_<PyRegistry>(m, "Registry")
      .def(py::init([] {
        auto r = std::make_shared<metrics::Registry>();
        return PyRegistry{r, r.get()};
      }))
      .def_static("default", &default_registry, "The registry svckit's own metrics go to.")
      .def(
          "counter",
          [](PyRegistry& r, const std::string& name, const std::string& help,
             std::vector<std::string> labels) {
            check_name(name);
            check_labels(labels);
            return Counter{&r.registry->counter(name, help), std::move(labels), std::nullopt,
                           r.owned};
          },
          py::arg("name"), py::arg("help"), py::arg("labels") = std::vector<std::string>{})
      .def(
          "gauge",
          [](PyRegistry& r, const std::string& name, const std::string& help,
             std::vector<std::string> labels) {
            check_name(name);
            check_labels(labels);
            return Gauge{&r.registry->gauge(name, help), std::move(labels), std::nullopt, r.owned};
          },
          py::arg("name"), py::arg("help"), py::arg("labels") = std::vector<std::string>{})
      .def(
          "histogram",
          [](PyRegistry& r, const std::string& name, const std::string& help,
             std::vector<std::string> labels, std::optional<std::vector<double>> buckets) {
            check_name(name);
            check_labels(labels);
            auto bounds = buckets ? *buckets : metrics::default_latency_buckets();
            for (std::size_t i = 0; i < bounds.size(); ++i)
              if (std::isnan(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
                throw py::value_error("buckets must be increasing numbers");
            return Histogram{&r.registry->histogram(name, help), std::move(labels), bounds,
                             r.owned};
          },
          py::arg("name"), py::arg("help"), py::arg("labels") = std::vector<std::string>{},
          py::arg("buckets") = py::none())
      .def("http_metrics",
           [](PyRegistry& r) {
             // One per registry: its series are registered once.
             static std::mutex mutex;
             static std::map<metrics::Registry*, std::shared_ptr<metrics::HttpMetrics>> made;
             std::lock_guard lock(mutex);
             auto& slot = made[r.registry];
             if (!slot) slot = std::make_shared<metrics::HttpMetrics>(*r.registry);
             return slot;
           })
      .def(
          "render", [](const PyRegistry& r) { return r.registry->render(); },
          "Everything in Prometheus text format 0.0.4.");
  m.attr("CONTENT_TYPE") = metrics::kContentType;
}

}  // namespace svckit::python
