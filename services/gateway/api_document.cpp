#include "api_document.hpp"

#include "svckit/http/openapi.hpp"

namespace svckit::gateway {

using nlohmann::json;

json merge_api_documents(const std::string& title, const std::vector<UpstreamDocument>& documents,
                         const UpstreamOf& upstream_of) {
  json paths = json::object();
  json schemas = {{"Problem", http::problem_schema()}};
  json conflicts = json::array();
  json sources = json::array();
  for (const auto& [upstream, document] : documents) {
    if (!document.is_object() || !document.contains("paths") || !document["paths"].is_object())
      continue;
    sources.push_back(upstream);
    for (const auto& [path, operations] : document["paths"].items()) {
      if (!operations.is_object()) continue;
      for (const auto& [method, operation] : operations.items())
        if (upstream_of(path, method) == upstream) paths[path][method] = operation;
    }
    auto theirs = document.find("components");
    if (theirs == document.end() || !theirs->contains("schemas")) continue;
    for (const auto& [name, schema] : (*theirs)["schemas"].items()) {
      if (!schemas.contains(name))
        schemas[name] = schema;
      else if (schemas[name] != schema)
        conflicts.push_back(upstream + ": " + name);
    }
  }
  json doc = {{"openapi", "3.1.0"},
              {"info",
               {{"title", title},
                {"version", "1.0.0"},
                {"description",
                 "The system's API through its gateway, merged from the "
                 "documents of its upstreams"}}},
              {"paths", std::move(paths)},
              {"components",
               {{"schemas", std::move(schemas)},
                {"securitySchemes",
                 {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}}}}}},
              {"x-upstreams", std::move(sources)}};
  if (!conflicts.empty()) doc["x-schema-conflicts"] = std::move(conflicts);
  return doc;
}

}  // namespace svckit::gateway
