#include "svckit/http/response.hpp"

#include <nlohmann/json.hpp>

#include "ascii.hpp"
#include "svckit/error.hpp"

namespace svckit::http {

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  // Invalid UTF-8 from stored data is replaced rather than throwing mid-response.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::json_text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  return r;
}

Response Response::problem(const Error& error, std::string_view request_id,
                           std::string_view instance) {
  nlohmann::json body = {
      {"type", error.type()},     {"title", error.title()}, {"status", error.status()},
      {"detail", error.detail()}, {"instance", instance},   {"request_id", request_id},
  };
  if (!error.field_errors().empty()) {
    auto& errors = body["errors"] = nlohmann::json::array();
    for (const auto& fe : error.field_errors())
      errors.push_back({{"field", fe.field}, {"message", fe.message}});
  }
  Response r = json(error.status(), body);
  r.content_type = "application/problem+json";
  for (const auto& [k, v] : error.headers()) r.headers.emplace_back(k, v);
  return r;
}

Response& Response::set_header(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (detail::iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace svckit::http
