#pragma once
// The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of a described model: what from_json()
// accepts and to_json() writes, from the same description and rules.
//
//   nlohmann::json schema = svckit::model::json_schema<NewTask>();
#include <nlohmann/json.hpp>

#include "svckit/model/json.hpp"

namespace svckit::model {

namespace detail {

void apply_rules(nlohmann::json& schema, const FieldRules& rules);

template <class T>
nlohmann::json schema_of(const FieldRules& rules) {
  nlohmann::json s;
  if constexpr (is_optional<T>::value) {
    s = schema_of<typename T::value_type>(rules);
    // Absent or null both read as "none".
    if (s.contains("type"))
      s["type"] = nlohmann::json::array({s["type"], "null"});
    else if (!s.empty())
      s = {{"anyOf", nlohmann::json::array({s, {{"type", "null"}}})}};
    if (s.contains("enum")) s["enum"].push_back(nullptr);
    return s;
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    s = nlohmann::json::object();
  } else if constexpr (std::is_same_v<T, std::string>) {
    s = {{"type", "string"}};
  } else if constexpr (std::is_same_v<T, bool>) {
    s = {{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<T>) {
    s = {{"type", "integer"}};
  } else if constexpr (std::is_floating_point_v<T>) {
    s = {{"type", "number"}};
  } else if constexpr (is_vector<T>::value) {
    FieldRules element = rules;
    element.min_items.reset(), element.max_items.reset(), element.description.clear();
    s = {{"type", "array"}, {"items", schema_of<typename T::value_type>(element)}};
    FieldRules own;  // the array's own: its item count and description
    own.min_items = rules.min_items, own.max_items = rules.max_items;
    own.description = rules.description;
    apply_rules(s, own);
    return s;
  } else if constexpr (is_string_map<T>::value) {
    s = {{"type", "object"}, {"additionalProperties", schema_of<typename T::mapped_type>({})}};
  } else {
    static_assert(Described<T>, "a model member must be a described struct or a JSON type");
    s = {{"type", "object"}, {"properties", nlohmann::json::object()}};
    auto required = nlohmann::json::array();
    const auto& all = rules_of<T>();
    const T defaults{};
    for_each_member<T>([&](auto d) {
      using M = std::remove_cvref_t<decltype(defaults.*d.pointer)>;
      const FieldRules& r = all.of(d.name);
      auto property = schema_of<M>(r);
      if (r.defaulted) encode(property["default"], defaults.*d.pointer);
      const char* key = all.key_of(d.name);
      s["properties"][key] = std::move(property);
      if (!is_optional<M>::value && !r.defaulted) required.push_back(key);
    });
    if (!required.empty()) s["required"] = std::move(required);
  }
  apply_rules(s, rules);
  return s;
}

}  // namespace detail

template <Described T>
nlohmann::json json_schema() {
  return detail::schema_of<T>(FieldRules{});
}

}  // namespace svckit::model
