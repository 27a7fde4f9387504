#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <regex>

#include "svckit/ids.hpp"
#include "svckit/model/json.hpp"
#include "svckit/model/schema.hpp"

namespace svckit::model::detail {
namespace {

std::size_t characters(std::string_view text) {  // UTF-8 code points, as Python counts them
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string number_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  auto text = std::to_string(v);
  while (text.back() == '0') text.pop_back();
  return text;
}

// One compiled pattern per pattern text, shared: compiling is far dearer than matching.
const std::regex& compiled(const std::string& pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::regex, std::less<>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
  return it->second;
}

// local@domain, one '@', neither part empty, no blanks: what a mail system may accept is wider
// than any stricter check, and the monolith's users include addresses such as admin@localhost.
bool is_email(std::string_view s) {
  auto at = s.find('@');
  if (at == 0 || at == std::string_view::npos || at != s.rfind('@') || at + 1 == s.size() ||
      s.size() > 320)
    return false;
  return std::none_of(s.begin(), s.end(), [](unsigned char c) {
    return c <= 0x20 || c == 0x7f || c == '<' || c == '>';
  });
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

void fail(const Path& path, std::string message) {
  throw ValidationError(path.shown(), std::move(message));
}

const char* json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_float:
      return "a fractional number";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "a number";
    default:
      return "something else";
  }
}

void check_string(const Path& path, const std::string& value, const FieldRules& rules) {
  const std::size_t n = characters(value);
  if (rules.min_length && n < *rules.min_length)
    fail(path, *rules.min_length == 1
                   ? "must not be empty"
                   : "must be at least " + std::to_string(*rules.min_length) + " characters");
  // A patterned string has a bound even when none is stated: std::regex recurses per character.
  const std::size_t max = rules.max_length.value_or(rules.pattern.empty() ? SIZE_MAX : 1024);
  if (n > max) fail(path, "must be at most " + std::to_string(max) + " characters");
  if (!rules.choices.empty() &&
      std::find(rules.choices.begin(), rules.choices.end(), value) == rules.choices.end()) {
    std::string list;
    for (const auto& c : rules.choices) list += (list.empty() ? "" : ", ") + c;
    fail(path, "must be one of: " + list);
  }
  if (!rules.pattern.empty() && !std::regex_match(value, compiled(rules.pattern)))
    fail(path, "must match " + rules.pattern);
  if (rules.format == "date-time" && !is_iso8601(value))
    fail(path, "must be an ISO 8601 date or date-time, such as 2025-11-24T03:26:05Z");
  if (rules.format == "email" && !is_email(value)) fail(path, "must be an email address");
  if (rules.format == "uuid" && !is_uuid(value)) fail(path, "must be a UUID");
}

void check_number(const Path& path, double value, const FieldRules& rules) {
  if (rules.minimum && value < *rules.minimum)
    fail(path, "must be at least " + number_text(*rules.minimum));
  if (rules.maximum && value > *rules.maximum)
    fail(path, "must be at most " + number_text(*rules.maximum));
}

void check_items(const Path& path, std::size_t count, const FieldRules& rules) {
  if (rules.min_items && count < *rules.min_items)
    fail(path, "must have at least " + std::to_string(*rules.min_items) + " items");
  if (rules.max_items && count > *rules.max_items)
    fail(path, "must have at most " + std::to_string(*rules.max_items) + " items");
}

void apply_rules(nlohmann::json& s, const FieldRules& r) {
  if (r.min_length) s["minLength"] = *r.min_length;
  if (r.max_length) s["maxLength"] = *r.max_length;
  if (r.minimum) s["minimum"] = *r.minimum;
  if (r.maximum) s["maximum"] = *r.maximum;
  if (r.min_items) s[s.value("type", "") == "object" ? "minProperties" : "minItems"] = *r.min_items;
  if (r.max_items) s[s.value("type", "") == "object" ? "maxProperties" : "maxItems"] = *r.max_items;
  if (!r.choices.empty()) s["enum"] = r.choices;
  if (!r.pattern.empty()) s["pattern"] = "^(?:" + r.pattern + ")$";
  if (!r.format.empty()) s["format"] = r.format;
  if (!r.description.empty()) s["description"] = r.description;
}

}  // namespace svckit::model::detail
