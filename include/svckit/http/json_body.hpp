#pragma once
// Typed access to a JSON object body. Every failure names the field: a missing required field or
// a wrong type is a 422 ValidationError whose `errors[0].field` is the field's name.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"
#include "svckit/ids.hpp"
#include "svckit/model/json.hpp"

namespace svckit::http {

class JsonBody {
 public:
  // Throws ValidationError (field "body") when `value` is not an object.
  explicit JsonBody(nlohmann::json value);

  bool has(std::string_view field) const;
  std::string required_string(std::string_view field) const;
  std::optional<std::string> optional_string(std::string_view field) const;
  std::int64_t required_int(std::string_view field) const;
  std::optional<std::int64_t> optional_int(std::string_view field) const;
  std::optional<double> optional_number(std::string_view field) const;
  std::optional<bool> optional_bool(std::string_view field) const;
  // An object member (metadata, config...); nullopt when absent or null.
  std::optional<nlohmann::json> optional_object(std::string_view field) const;

  const nlohmann::json& value() const { return value_; }

 private:
  const nlohmann::json* find(std::string_view field) const;
  nlohmann::json value_;
};

// Field rules shared by services; each throws ValidationError naming `field`.
void require_length(std::string_view field, std::string_view value, std::size_t min,
                    std::size_t max);
void require_one_of(std::string_view field, std::string_view value,
                    std::span<const std::string_view> allowed);
inline void require_one_of(std::string_view field, std::string_view value,
                           std::initializer_list<std::string_view> allowed) {
  require_one_of(field, value, std::span<const std::string_view>(allowed.begin(), allowed.size()));
}
using svckit::is_iso8601;  // ids.hpp
void require_iso8601(std::string_view field, std::string_view value);
// A query parameter that must be one of `allowed` (a filter: ?status=...); nullopt when absent.
std::optional<std::string> query_one_of(std::string_view field,
                                        const std::optional<std::string>& value,
                                        std::span<const std::string_view> allowed);
// A query parameter as an integer in [min, max]; `fallback` when absent.
std::int64_t query_int(std::string_view field, const std::optional<std::string>& value,
                       std::int64_t fallback, std::int64_t min, std::int64_t max);

template <class T>
T Request::json() const {
  return model::from_json<T>(json());
}

// A described model as a JSON answer, written without a DOM.
template <model::Described T>
Response json_response(int status, const T& body) {
  return Response::json_text(status, model::to_json_text(body));
}

}  // namespace svckit::http
