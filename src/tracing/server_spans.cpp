#include "svckit/tracing/server_spans.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <string>

#include "svckit/trace/span.hpp"

namespace svckit::tracing {
namespace {

class ServerSpans : public http::RequestObserver {
 public:
  explicit ServerSpans(std::vector<std::string> untraced) : untraced_(std::move(untraced)) {}

  void started(const http::Request&) override {}

  // Made from what the request holds, by reference: nothing is copied or allocated but the
  // name (the method and the route: a small string).
  void finished(const http::Request& req, const http::Response& res, double seconds) override {
    const auto& t = req.trace();
    if (!trace::recording(t)) return;
    const auto route = req.route();
    for (const auto& r : untraced_)
      if (route == r) return;
    // "GET /api/v1/tasks/{id}", on the stack when it fits (it nearly always does).
    char text[160];
    std::string long_name;
    std::string_view name = req.method_name();
    if (!route.empty()) {
      const auto method = req.method_name();
      if (method.size() + 1 + route.size() <= sizeof text) {
        std::memcpy(text, method.data(), method.size());
        text[method.size()] = ' ';
        std::memcpy(text + method.size() + 1, route.data(), route.size());
        name = std::string_view(text, method.size() + 1 + route.size());
      } else {
        long_name.append(method).append(" ").append(route);
        name = long_name;
      }
    }
    const auto end = trace::unix_nanos();
    std::array<trace::AttributeView, 4> attributes{{
        {"http.request.method", req.method_name()},
        {"url.path", req.path()},
        {"http.response.status_code", static_cast<std::int64_t>(res.status)},
        {"http.route", route},
    }};
    char status[16] = "HTTP ";
    char* status_end = status + 5;
    if (res.status >= 500)  // the status's message: only an error has one
      status_end = std::to_chars(status + 5, status + sizeof status, res.status).ptr;
    trace::record(
        trace::SpanView{.trace_id = t.trace_id,
                        .span_id = t.span_id,
                        .parent_span_id = t.parent_span_id,
                        .tracestate = t.tracestate,
                        .name = name,
                        .kind = trace::SpanKind::server,
                        .start_unix_nano = end - static_cast<std::uint64_t>(seconds * 1e9),
                        .end_unix_nano = end,
                        .error = res.status >= 500,
                        .status_message = std::string_view(status, status_end),
                        .attributes = {attributes.data(), route.empty() ? 3u : 4u}});
  }

 private:
  std::vector<std::string> untraced_;
};

}  // namespace

std::shared_ptr<http::RequestObserver> server_spans(std::vector<std::string> untraced) {
  return std::make_shared<ServerSpans>(std::move(untraced));
}

}  // namespace svckit::tracing
