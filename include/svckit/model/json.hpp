#pragma once
// A described model (model/rules.hpp) to and from JSON, from its one description:
//
//   auto task = svckit::model::from_json<NewTask>(json);   // 422 naming the field on bad input
//   nlohmann::json out = svckit::model::to_json(task);
//   svckit::model::write_json(writer, task);                // no DOM: for hot responses
//
// Members may be: std::string, bool, integers, floating point, std::optional<T>,
// std::vector<T>, std::map<std::string, T>, nlohmann::json (anything), and other models.
// A bad value throws ValidationError whose field is its path in the body ("title",
// "items[2].qty", "body" for the body itself, as JsonBody names it) and whose message says what was
// expected. Members the body has but the model does not are ignored, as clients newer than the
// service send them.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/error.hpp"
#include "svckit/json_writer.hpp"
#include "svckit/model/rules.hpp"

namespace svckit::model {

namespace detail {

// Where in the body a value is: "items[2].qty"; "body" for the body itself (as JsonBody says).
class Path {
 public:
  std::string member(std::string_view name) const {
    return text_.empty() ? std::string(name) : text_ + "." + std::string(name);
  }
  std::string index(std::size_t i) const {
    return (text_.empty() ? "body" : text_) + "[" + std::to_string(i) + "]";
  }
  std::string shown() const { return text_.empty() ? "body" : text_; }
  static Path at(std::string text) {
    Path p;
    p.text_ = std::move(text);
    return p;
  }

 private:
  std::string text_;
};

[[noreturn]] void fail(const Path& path, std::string message);
// The string checks of `rules` (length, choices, pattern, format); throws naming `path`.
void check_string(const Path& path, const std::string& value, const FieldRules& rules);
void check_number(const Path& path, double value, const FieldRules& rules);
void check_items(const Path& path, std::size_t count, const FieldRules& rules);
const char* json_type_name(const nlohmann::json& value);

template <class T>
void decode(const nlohmann::json& in, T& out, const Path& path, const FieldRules& rules);

template <class T>
void decode_members(const nlohmann::json& in, T& out, const Path& path) {
  if (!in.is_object()) fail(path, std::string("must be an object, not ") + json_type_name(in));
  const auto& rules = rules_of<T>();
  for_each_member<T>([&](auto d) {
    using M = std::remove_cvref_t<decltype(out.*d.pointer)>;
    const FieldRules& r = rules.of(d.name);
    const char* key = rules.key_of(d.name);
    auto it = in.find(key);
    if (it != in.end() && it->is_null() && r.defaulted && !is_optional<M>::value)
      return;  // null on a defaulted member: absent, its default stands (as JsonBody read it)
    if (it == in.end()) {
      if (!is_optional<M>::value && !r.defaulted)
        fail(Path::at(path.member(key)), "field required");
      return;
    }
    decode(*it, out.*d.pointer, Path::at(path.member(key)), r);
  });
}

template <class T>
void decode(const nlohmann::json& in, T& out, const Path& path, const FieldRules& rules) {
  if constexpr (is_optional<T>::value) {
    if (in.is_null()) {
      out.reset();
      return;
    }
    out.emplace();
    decode(in, *out, path, rules);
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    out = in;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!in.is_string()) fail(path, std::string("must be a string, not ") + json_type_name(in));
    out = in.get_ref<const std::string&>();
    check_string(path, out, rules);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!in.is_boolean()) fail(path, std::string("must be a boolean, not ") + json_type_name(in));
    out = in.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!in.is_number_integer())
      fail(path, std::string("must be a whole number, not ") + json_type_name(in));
    if (in.is_number_unsigned()) {
      auto v = in.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        fail(path, "is out of range");
      out = static_cast<T>(v);
    } else {
      auto v = in.get<std::int64_t>();
      if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          (std::is_signed_v<T> && v > static_cast<std::int64_t>(std::numeric_limits<T>::max())))
        fail(path, "is out of range");
      out = static_cast<T>(v);
    }
    check_number(path, static_cast<double>(out), rules);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!in.is_number()) fail(path, std::string("must be a number, not ") + json_type_name(in));
    out = in.get<T>();
    check_number(path, static_cast<double>(out), rules);
  } else if constexpr (is_vector<T>::value) {
    if (!in.is_array()) fail(path, std::string("must be an array, not ") + json_type_name(in));
    check_items(path, in.size(), rules);
    out.clear();
    // The member's string rules apply to each string in it; lengths of the array are items().
    FieldRules element = rules;
    element.min_items.reset(), element.max_items.reset();
    // One at a time, not resized up front: a megabyte of "{}," would be a large allocation
    // before its first element failed.
    for (std::size_t i = 0; i < in.size(); ++i)
      decode(in[i], out.emplace_back(), Path::at(path.index(i)), element);
  } else if constexpr (is_string_map<T>::value) {
    if (!in.is_object()) fail(path, std::string("must be an object, not ") + json_type_name(in));
    check_items(path, in.size(), rules);
    out.clear();
    for (auto it = in.begin(); it != in.end(); ++it)
      decode(it.value(), out[it.key()], Path::at(path.member(it.key())), FieldRules{});
  } else {
    static_assert(Described<T>, "a model member must be a described struct or a JSON type");
    decode_members(in, out, path);
  }
}

template <class T>
void encode(nlohmann::json& out, const T& value) {
  if constexpr (is_optional<T>::value) {
    if (value)
      encode(out, *value);
    else
      out = nullptr;
  } else if constexpr (std::is_same_v<T, nlohmann::json> || std::is_arithmetic_v<T> ||
                       std::is_same_v<T, std::string>) {
    out = value;
  } else if constexpr (is_vector<T>::value) {
    out = nlohmann::json::array();
    for (const auto& v : value) encode(out.emplace_back(), v);
  } else if constexpr (is_string_map<T>::value) {
    out = nlohmann::json::object();
    for (const auto& [k, v] : value) encode(out[k], v);
  } else {
    static_assert(Described<T>, "a model member must be a described struct or a JSON type");
    out = nlohmann::json::object();
    const auto& rules = rules_of<T>();
    for_each_member<T>([&](auto d) { encode(out[rules.key_of(d.name)], value.*d.pointer); });
  }
}

template <class T>
void write(JsonWriter& out, const T& value) {
  if constexpr (is_optional<T>::value) {
    if (value)
      write(out, *value);
    else
      out.null();
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    out.raw(value.dump());
  } else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
    out.value(value);
  } else if constexpr (is_vector<T>::value) {
    out.begin_array();
    for (const auto& v : value) write(out, v);
    out.end_array();
  } else if constexpr (is_string_map<T>::value) {
    out.begin_object();
    for (const auto& [k, v] : value) {
      out.key(k);
      write(out, v);
    }
    out.end_object();
  } else {
    static_assert(Described<T>, "a model member must be a described struct or a JSON type");
    out.begin_object();
    const auto& rules = rules_of<T>();
    for_each_member<T>([&](auto d) {
      if (rules.renames())
        out.key(rules.key_of(d.name));
      else
        out.identifier_key(d.name);  // a C++ identifier: nothing to escape
      write(out, value.*d.pointer);
    });
    out.end_object();
  }
}

}  // namespace detail

// `json` as a T, every rule checked. Throws ValidationError (422) naming the first bad field.
template <Described T>
T from_json(const nlohmann::json& json) {
  T out{};
  detail::decode_members(json, out, detail::Path());
  return out;
}

template <Described T>
nlohmann::json to_json(const T& value) {
  nlohmann::json out;
  detail::encode(out, value);
  return out;
}

// Writes `value` as a JSON object into `out`, with no DOM on the way.
template <Described T>
void write_json(JsonWriter& out, const T& value) {
  detail::write(out, value);
}
template <Described T>
std::string to_json_text(const T& value) {
  JsonWriter out;
  write_json(out, value);
  return out.take();
}

}  // namespace svckit::model
