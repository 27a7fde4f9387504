// svckit.Client's engine: svckit::http::Client (pooled, deadlines, retries under a budget,
// circuit breaker), driven from Python threads with the GIL released while a call is out.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "runtime.hpp"
#include "svckit/http/client.hpp"
#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::python {
namespace py = pybind11;
using namespace std::chrono;

namespace {

struct PyResponse {
  http::ClientResponse response;

  py::bytes body() const { return py::bytes(response.body); }
  py::dict headers() const {
    py::dict out;
    for (const auto& [name, value] : response.headers) {
      std::string key = name;
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      py::str k(key);
      if (out.contains(k))
        out[k] = py::str(out[k].cast<std::string>() + ", " + value);
      else
        out[k] = py::str(value);
    }
    return out;
  }
  std::optional<std::string> header(std::string_view name) const {
    auto value = response.header(name);
    return value ? std::optional<std::string>(std::string(*value)) : std::nullopt;
  }
  // The body as JSON; ValueError when it is not.
  py::object json() const {
    auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    if (parsed.is_discarded())
      throw py::value_error("the response body is not JSON (status " +
                            std::to_string(response.status) + ")");
    return from_json(parsed);
  }
};

void check_header(const std::string& name, const std::string& value) {
  auto bad_name =
      name.empty() || name.find_first_of(" \t\r\n:()<>@,;\\\"/[]?={}") != std::string::npos;
  if (bad_name) throw py::value_error("not a header name: " + std::string(py::repr(py::str(name))));
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      throw py::value_error("header " + name + " holds a control character (CR, LF, ...)");
}

bool has_header(const std::vector<http::ClientRequest::Header>& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return true;
  return false;
}

class PyClient {
 public:
  PyClient(const std::string& base_url, std::string name, double timeout, double connect_timeout,
           double attempt_timeout, int max_attempts, double initial_backoff, double max_backoff,
           bool breaker, int breaker_failures, double breaker_open, std::string ca_file,
           std::string cert_file, std::string key_file, std::size_t max_response_bytes) {
    if (max_attempts < 1 || max_attempts > 20) throw py::value_error("max_attempts must be 1-20");
    if (breaker_failures < 1) throw py::value_error("breaker_failures must be at least 1");
    auto& runtime = Runtime::get();
    http::ClientOptions options;
    options.name = std::move(name);
    options.timeout = seconds_arg(timeout, "timeout");
    options.connect_timeout = seconds_arg(connect_timeout, "connect_timeout");
    options.attempt_timeout = seconds_arg(attempt_timeout, "attempt_timeout", true);
    options.retry.max_attempts = max_attempts;
    options.retry.initial_backoff = seconds_arg(initial_backoff, "initial_backoff", true);
    options.retry.max_backoff = seconds_arg(max_backoff, "max_backoff", true);
    if (breaker) {
      CircuitBreakerOptions b;
      b.consecutive_failures = breaker_failures;
      b.open_duration = seconds_arg(breaker_open, "breaker_open");
      options.breaker = b;
    } else {
      options.breaker = std::nullopt;
    }
    options.ca_file = std::move(ca_file);
    options.certificate_file = std::move(cert_file);
    options.key_file = std::move(key_file);
    options.max_response_bytes = max_response_bytes;
    options.metrics = &runtime.registry();
    options.logger = &runtime.logger();
    client_ = std::make_shared<http::Client>(base_url, std::move(options));
  }

  PyResponse request(const std::string& method, std::string target, const py::object& body,
                     const py::object& json, const std::map<std::string, std::string>& headers,
                     std::optional<double> timeout, std::optional<bool> idempotent,
                     std::optional<std::string> request_id,
                     std::optional<std::string> traceparent) {
    if (target.empty() || target[0] != '/') throw py::value_error("the path must start with '/'");
    for (unsigned char c : target)
      if (c <= 0x20 || c == 0x7f)
        throw py::value_error("the path holds a space or control character");
    http::ClientRequest r;
    r.method = http::parse_method(method);
    if (r.method == http::Method::other) throw py::value_error("not an HTTP method: " + method);
    r.target = std::move(target);
    for (const auto& [name, value] : headers) {
      check_header(name, value);
      r.headers.emplace_back(name, value);
    }
    if (!json.is_none()) {
      if (!body.is_none()) throw py::value_error("give body or json, not both");
      r.body = to_json(json, "json").dump();
      r.content_type = "application/json";
    } else if (!body.is_none()) {
      if (py::isinstance<py::bytes>(body) || py::isinstance<py::str>(body))
        r.body = body.cast<std::string>();
      else
        throw py::type_error("body is bytes or str");
    }
    if (!has_header(r.headers, "X-Request-ID")) {
      if (request_id && !sane_request_id(*request_id))
        throw py::value_error("request_id is not a sane id");
      r.headers.emplace_back("X-Request-ID", request_id ? *request_id : uuid_v4());
    }
    if (!has_header(r.headers, "traceparent"))
      r.headers.emplace_back(
          "traceparent",
          trace::TraceContext::continue_from(traceparent, std::nullopt).traceparent());
    if (timeout) r.deadline = Deadline::after(seconds_arg(*timeout, "timeout"));
    r.idempotent = idempotent;
    auto client = client_;
    auto response = wait_for<http::ClientResponse>(
        [client, &r]() -> Task<http::ClientResponse> { co_return co_await client->send(r); });
    return PyResponse{std::move(response)};
  }

  std::string breaker_state() const { return std::string(to_string(client_->breaker_state())); }

  const std::string& name() const { return client_->name(); }

 private:
  std::shared_ptr<http::Client> client_;
};

}  // namespace

void bind_client(py::module_& root) {
  auto m = root.def_submodule("client", "The resilient HTTP client.");
  py::class_<PyResponse>(m, "Response")
      .def_property_readonly("status", [](const PyResponse& r) { return r.response.status; })
      .def_property_readonly("attempts", [](const PyResponse& r) { return r.response.attempts; })
      .def_property_readonly("body", &PyResponse::body)
      .def_property_readonly("text",
                             [](const PyResponse& r) {
                               return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(
                                   r.response.body.data(),
                                   static_cast<Py_ssize_t>(r.response.body.size()), "replace"));
                             })
      .def_property_readonly("headers", &PyResponse::headers)
      .def("header", &PyResponse::header, py::arg("name"))
      .def("json", &PyResponse::json);

  py::class_<PyClient>(m, "Client")
      .def(py::init<const std::string&, std::string, double, double, double, int, double, double,
                    bool, int, double, std::string, std::string, std::string, std::size_t>(),
           py::arg("base_url"), py::arg("name"), py::arg("timeout"), py::arg("connect_timeout"),
           py::arg("attempt_timeout"), py::arg("max_attempts"), py::arg("initial_backoff"),
           py::arg("max_backoff"), py::arg("breaker"), py::arg("breaker_failures"),
           py::arg("breaker_open"), py::arg("ca_file"), py::arg("cert_file"), py::arg("key_file"),
           py::arg("max_response_bytes"))
      .def("request", &PyClient::request, py::arg("method"), py::arg("path"), py::arg("body"),
           py::arg("json"), py::arg("headers"), py::arg("timeout"), py::arg("idempotent"),
           py::arg("request_id"), py::arg("traceparent"))
      .def_property_readonly("breaker_state", &PyClient::breaker_state)
      .def_property_readonly("name", &PyClient::name);
}

}  // namespace svckit::python
