#include "svckit/http/json_body.hpp"

#include <charconv>

#include "svckit/error.hpp"

namespace svckit::http {
namespace {

std::string type_name(const nlohmann::json& v) {
  return v.type_name();
}

}  // namespace

JsonBody::JsonBody(nlohmann::json value) : value_(std::move(value)) {
  if (!value_.is_object())
    throw ValidationError("body", "expected a JSON object, got " + type_name(value_));
}

const nlohmann::json* JsonBody::find(std::string_view field) const {
  auto it = value_.find(field);
  if (it == value_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonBody::has(std::string_view field) const {
  return find(field) != nullptr;
}

std::optional<std::string> JsonBody::optional_string(std::string_view field) const {
  const auto* v = find(field);
  if (!v) return std::nullopt;
  if (!v->is_string())
    throw ValidationError(std::string(field), "expected a string, got " + type_name(*v));
  return v->get<std::string>();
}

std::string JsonBody::required_string(std::string_view field) const {
  auto v = optional_string(field);
  if (!v) throw ValidationError(std::string(field), "field required");
  return *v;
}

std::optional<std::int64_t> JsonBody::optional_int(std::string_view field) const {
  const auto* v = find(field);
  if (!v) return std::nullopt;
  if (!v->is_number_integer())
    throw ValidationError(std::string(field), "expected an integer, got " + type_name(*v));
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > INT64_MAX)
    throw ValidationError(std::string(field), "integer out of range");
  return v->get<std::int64_t>();
}

std::int64_t JsonBody::required_int(std::string_view field) const {
  auto v = optional_int(field);
  if (!v) throw ValidationError(std::string(field), "field required");
  return *v;
}

std::optional<double> JsonBody::optional_number(std::string_view field) const {
  const auto* v = find(field);
  if (!v) return std::nullopt;
  if (!v->is_number())
    throw ValidationError(std::string(field), "expected a number, got " + type_name(*v));
  return v->get<double>();
}

std::optional<bool> JsonBody::optional_bool(std::string_view field) const {
  const auto* v = find(field);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    throw ValidationError(std::string(field), "expected a boolean, got " + type_name(*v));
  return v->get<bool>();
}

std::optional<nlohmann::json> JsonBody::optional_object(std::string_view field) const {
  const auto* v = find(field);
  if (!v) return std::nullopt;
  if (!v->is_object())
    throw ValidationError(std::string(field), "expected an object, got " + type_name(*v));
  return *v;
}

void require_length(std::string_view field, std::string_view value, std::size_t min,
                    std::size_t max) {
  // Length in characters (UTF-8 code points), as a Python monolith counted it.
  std::size_t chars = 0;
  for (unsigned char c : value) chars += (c & 0xC0) != 0x80;
  if (chars < min)
    throw ValidationError(
        std::string(field),
        min == 1 ? "must not be empty" : "must be at least " + std::to_string(min) + " characters");
  if (chars > max)
    throw ValidationError(std::string(field),
                          "must be at most " + std::to_string(max) + " characters");
}

void require_one_of(std::string_view field, std::string_view value,
                    std::span<const std::string_view> allowed) {
  std::string list;
  for (auto a : allowed) {
    if (a == value) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw ValidationError(std::string(field), "must be one of: " + list);
}

void require_iso8601(std::string_view field, std::string_view value) {
  if (!is_iso8601(value))
    throw ValidationError(std::string(field),
                          "must be an ISO 8601 date or date-time, such as 2025-11-24T03:26:05Z");
}

std::optional<std::string> query_one_of(std::string_view field,
                                        const std::optional<std::string>& value,
                                        std::span<const std::string_view> allowed) {
  if (value) require_one_of(field, *value, allowed);
  return value;
}

std::int64_t query_int(std::string_view field, const std::optional<std::string>& value,
                       std::int64_t fallback, std::int64_t min, std::int64_t max) {
  if (!value) return fallback;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
  if (ec != std::errc() || end != value->data() + value->size() || value->empty())
    throw ValidationError(std::string(field), "expected an integer");
  if (v < min || v > max)
    throw ValidationError(std::string(field),
                          "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

}  // namespace svckit::http
