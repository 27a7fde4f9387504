#pragma once
// The OpenAPI 3.1 document of a router's routes, from what they declare (route_doc.hpp): paths,
// path and query parameters, request and response schemas of their models, the permissions and
// security their middleware asks for, and their problem+json error answers. App serves it as
// /openapi.json and Swagger UI over it as /docs.
#include <string>

#include <nlohmann/json.hpp>

#include "svckit/http/router.hpp"

namespace svckit::http {

struct OpenApiInfo {
  std::string title;
  std::string version = "1.0.0";
  std::string description;
};

nlohmann::json openapi_document(const Router& router, const OpenApiInfo& info);

// The RFC 9457 problem+json schema every error answer follows.
nlohmann::json problem_schema();

}  // namespace svckit::http
