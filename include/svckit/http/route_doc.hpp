#pragma once
// What the API description (/openapi.json) says of a route: set where the route is added
//
//   tasks.post("/", write, bind(this, &Tasks::create))
//       .summary("Create a task").accepts<NewTask>().returns<TaskCreated>(201);
//
// and by its middleware, which describes itself (auth::bearer: a token and 401; auth::require:
// the permission and 403; auth::rate_limit: 429). Path parameters come from the pattern.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/core/demangle.hpp>
#include <nlohmann/json.hpp>

#include "svckit/model/schema.hpp"

namespace svckit::http {

// A JSON Schema with the name its model goes by in the document's components ("NewTask").
struct NamedSchema {
  std::string name;  // empty: written inline
  nlohmann::json schema;
};

struct QueryParameter {
  std::string name;
  nlohmann::json schema;
  std::string description;
};

struct RouteDoc {
  std::string summary;
  std::optional<NamedSchema> request_body;
  std::map<int, std::optional<NamedSchema>> responses;  // by status; nullopt: no JSON body
  std::vector<QueryParameter> query;
  std::set<int> errors;  // problem+json answers it may give
  std::vector<std::string> permissions;
  bool authenticated = false;  // needs a bearer token or an API key
  bool hidden = false;         // left out of the document (the document and /docs themselves)
  // Set: the body is read as it arrives (body_stream.hpp), up to this many bytes.
  std::optional<std::uint64_t> streamed_body_limit;
  // The path carries a secret (a capability link's token): the request log shows the route's
  // pattern instead.
  bool secret_path = false;
};

// A model's schema and its name: the unqualified name of its type.
template <model::Described T>
NamedSchema named_schema() {
  std::string name = boost::core::demangle(typeid(T).name());
  if (auto colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
  return {std::move(name), model::json_schema<T>()};
}

// The schema of a string query parameter that is one of `values`: .query("status", "...",
// one_of_schema(kStatuses)).
template <class Range>
nlohmann::json one_of_schema(const Range& values) {
  auto choices = nlohmann::json::array();
  for (const auto& v : values) choices.push_back(std::string(v));
  return {{"type", "string"}, {"enum", std::move(choices)}};
}

// What RouteGroup's get/post/... return: the route's description, to say more of it.
class Documented {
 public:
  explicit Documented(RouteDoc& doc) : doc_(doc) {}
  Documented& summary(std::string text) {
    doc_.summary = std::move(text);
    return *this;
  }
  // Its JSON body: malformed (400), not JSON (415) or invalid (422) answers come with it.
  template <model::Described T>
  Documented& accepts() {
    doc_.request_body = named_schema<T>();
    doc_.errors.insert({400, 413, 415, 422});
    return *this;
  }
  template <model::Described T>
  Documented& returns(int status = 200) {
    doc_.responses[status] = named_schema<T>();
    return *this;
  }
  // An answer without a JSON body (101 Switching Protocols, a stream).
  Documented& responds(int status) {
    doc_.responses[status] = std::nullopt;
    return *this;
  }
  // A query parameter: a string unless `schema` says otherwise ({"type": "integer"}).
  Documented& query(std::string name, std::string description,
                    nlohmann::json schema = {{"type", "string"}}) {
    doc_.query.push_back({std::move(name), std::move(schema), std::move(description)});
    return *this;
  }
  Documented& errors(std::initializer_list<int> statuses) {
    doc_.errors.insert(statuses);
    return *this;
  }
  // The body is read as it arrives (Request::body_stream(), body_stream.hpp), up to `limit`
  // bytes whatever MAX_BODY says: past it, 413.
  Documented& streams_body(std::uint64_t limit) {
    doc_.streamed_body_limit = limit;
    doc_.errors.insert({400, 413});
    return *this;
  }
  Documented& hidden() {
    doc_.hidden = true;
    return *this;
  }
  // The path holds a secret, such as a public link's token: logs show "/files/_public/{token}",
  // not the token, which would be as good as the link to anyone who reads them.
  Documented& secret_path() {
    doc_.secret_path = true;
    return *this;
  }

 private:
  RouteDoc& doc_;
};

}  // namespace svckit::http
