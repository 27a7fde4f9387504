#include "svckit/http/response.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"

namespace svckit::http {

FileBody::~FileBody() {
  if (fd >= 0) ::close(fd);
}

namespace {

Response with_body(int status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

}  // namespace

Response Response::json(int status, const nlohmann::json& body) {
  // Invalid UTF-8 from stored data is replaced rather than throwing mid-response.
  return with_body(status, "application/json",
                   body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response Response::json_text(int status, std::string body) {
  return with_body(status, "application/json", std::move(body));
}

Response Response::text(int status, std::string body) {
  return with_body(status, "text/plain; charset=utf-8", std::move(body));
}

Response Response::empty(int status) {
  return with_body(status, {}, {});
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

Response Response::upgrade(Takeover::Run run, int status) {
  Response r;
  r.status = status;
  r.takeover = std::make_shared<const Takeover>(Takeover{true, std::move(run)});
  return r;
}

Response Response::stream(int status, std::string content_type, Takeover::Run run) {
  Response r = with_body(status, std::move(content_type), {});
  r.takeover = std::make_shared<const Takeover>(Takeover{false, std::move(run)});
  return r;
}

Response& Response::set_header(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace svckit::http
