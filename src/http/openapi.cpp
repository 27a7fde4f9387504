#include "svckit/http/openapi.hpp"

#include <cctype>

#include "svckit/error.hpp"
#include "svckit/http/route_doc.hpp"

namespace svckit::http {
namespace {

using nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "post_api_v1_tasks_id_complete": unique per method and path, as OpenAPI wants.
std::string operation_id(Method method, const std::string& pattern) {
  std::string id = lower(method_name(method));
  for (char c : pattern) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      id += c;
    else if (c == '/' && id.back() != '_')
      id += '_';
  }
  while (id.back() == '_') id.pop_back();
  return id;
}

// The first path segment after /api/vN: "tasks" for /api/v1/tasks/{id}; the first segment else.
std::string tag_of(std::string_view pattern) {
  std::vector<std::string_view> segments;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);
    auto slash = pattern.find('/');
    segments.push_back(pattern.substr(0, slash));
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
  }
  std::size_t i = 0;
  if (segments.size() > 2 && segments[0] == "api" && segments[1].starts_with("v")) i = 2;
  if (i >= segments.size() || segments[i].empty() || segments[i].front() == '{') return "service";
  return std::string(segments[i]);
}

// OpenAPI's path template: "{key...}" (the rest of the path) is written "{key}".
std::string openapi_path(std::string pattern) {
  for (auto at = pattern.find("...}"); at != std::string::npos; at = pattern.find("...}"))
    pattern.erase(at, 3);
  return pattern;
}

json reference(json& schemas, const NamedSchema& s) {
  if (s.name.empty()) return s.schema;
  schemas[s.name] = s.schema;  // a model is one schema, whichever routes use it
  return {{"$ref", "#/components/schemas/" + s.name}};
}

json operation(const Route& route, json& schemas) {
  const RouteDoc& doc = *route.doc;
  json op = {{"operationId", operation_id(route.method, route.pattern)},
             {"tags", {tag_of(route.pattern)}}};
  if (!doc.summary.empty()) op["summary"] = doc.summary;
  json parameters = json::array();
  bool has_path_parameters = false;
  for (std::size_t at = route.pattern.find('{'); at != std::string::npos;
       at = route.pattern.find('{', at + 1)) {
    auto end = route.pattern.find('}', at);
    auto name = route.pattern.substr(at + 1, end - at - 1);
    if (name.ends_with("...")) name.resize(name.size() - 3);  // the rest of the path
    parameters.push_back(
        {{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    has_path_parameters = true;
  }
  for (const auto& q : doc.query) {
    json p = {{"name", q.name}, {"in", "query"}, {"required", false}, {"schema", q.schema}};
    if (!q.description.empty()) p["description"] = q.description;
    parameters.push_back(std::move(p));
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  if (doc.request_body)
    op["requestBody"] = {
        {"required", true},
        {"content", {{"application/json", {{"schema", reference(schemas, *doc.request_body)}}}}}};

  json responses = json::object();
  for (const auto& [status, body] : doc.responses) {
    json r = {{"description", status_reason(status)}};
    if (body) r["content"] = {{"application/json", {{"schema", reference(schemas, *body)}}}};
    responses[std::to_string(status)] = std::move(r);
  }
  if (responses.empty()) responses["200"] = {{"description", "OK"}};
  auto errors = doc.errors;
  if (has_path_parameters) errors.insert(404);
  for (int status : errors)
    responses[std::to_string(status)] = {
        {"description", status_reason(status)},
        {"content",
         {{"application/problem+json", {{"schema", {{"$ref", "#/components/schemas/Problem"}}}}}}}};
  op["responses"] = std::move(responses);

  if (doc.authenticated) op["security"] = json::array({{{"bearer", json::array()}}});
  if (!doc.permissions.empty()) {
    std::string needs;
    for (const auto& p : doc.permissions) needs += (needs.empty() ? "" : ", ") + p;
    op["description"] = "Needs the permission " + needs + ".";
    op["x-permissions"] = doc.permissions;
  }
  return op;
}

}  // namespace

json problem_schema() {
  static const json schema = json::parse(R"({
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
      "type": {"type": "string"},
      "title": {"type": "string"},
      "status": {"type": "integer"},
      "detail": {"type": "string"},
      "instance": {"type": "string"},
      "request_id": {"type": "string"},
      "errors": {"type": "array", "items": {"type": "object", "properties": {
        "field": {"type": "string"}, "message": {"type": "string"}}}}
    }})");
  return schema;
}

json openapi_document(const Router& router, const OpenApiInfo& info) {
  json schemas = {{"Problem", problem_schema()}};
  json paths = json::object();
  for (const Route* route : router.routes()) {
    if (route->doc && route->doc->hidden) continue;
    paths[openapi_path(route->pattern)][lower(method_name(route->method))] =
        operation(*route, schemas);
  }
  json doc = {{"openapi", "3.1.0"},
              {"info", {{"title", info.title}, {"version", info.version}}},
              {"paths", std::move(paths)},
              {"components",
               {{"schemas", std::move(schemas)},
                {"securitySchemes",
                 {{"bearer",
                   {{"type", "http"},
                    {"scheme", "bearer"},
                    {"bearerFormat", "JWT"},
                    {"description", "A token from the Security Service, or an API key"}}}}}}}};
  if (!info.description.empty()) doc["info"]["description"] = info.description;
  return doc;
}

}  // namespace svckit::http
