#pragma once
// The gateway's /openapi.json: its system's API, as clients see it through the gateway. Each
// upstream describes its own (svckit services serve /openapi.json); of each, the gateway keeps
// the operations it routes to that upstream, and merges them into one document.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace svckit::gateway {

struct UpstreamDocument {
  std::string upstream;
  nlohmann::json document;  // the upstream's own /openapi.json
};

// Which upstream the gateway sends `method` (lower case, as OpenAPI writes it) on `path` to;
// nullopt when it does not route it there unchanged.
using UpstreamOf =
    std::function<std::optional<std::string>(std::string_view path, std::string_view method)>;

// One OpenAPI 3.1 document: the operations of `documents` that `upstream_of` routes to their
// own upstream, with the schemas they use. A schema name two upstreams use for different schemas
// keeps the first and is listed in `x-schema-conflicts`.
nlohmann::json merge_api_documents(const std::string& title,
                                   const std::vector<UpstreamDocument>& documents,
                                   const UpstreamOf& upstream_of);

}  // namespace svckit::gateway
