#include "svckit/bus/event.hpp"

#include <optional>
#include <vector>

#include "svckit/ids.hpp"

namespace svckit::bus {
namespace {

bool valid_extension_name(std::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

const std::string& required_string(const nlohmann::json& json, const char* name) {
  auto it = json.find(name);
  if (it == json.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    throw BusError(std::string("CloudEvent: \"") + name + "\" must be a non-empty string");
  return it->get_ref<const std::string&>();
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    auto dot = text.find('.', start);
    out.push_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// Classic topic matching with '#' backtracking; patterns and types are a few words long.
bool match(const std::vector<std::string_view>& p, std::size_t pi,
           const std::vector<std::string_view>& t, std::size_t ti) {
  if (pi == p.size()) return ti == t.size();
  if (p[pi] == "#") {
    for (std::size_t skip = ti; skip <= t.size(); ++skip)
      if (match(p, pi + 1, t, skip)) return true;
    return false;
  }
  if (ti == t.size()) return false;
  if (p[pi] != "*" && p[pi] != t[ti]) return false;
  return match(p, pi + 1, t, ti + 1);
}

}  // namespace

const std::string& Event::extension(const std::string& name) const {
  static const std::string kNone;
  auto it = extensions.find(name);
  return it == extensions.end() ? kNone : it->second;
}

nlohmann::json Event::to_json() const {
  nlohmann::json out = {{"specversion", specversion},
                        {"id", id},
                        {"source", source},
                        {"type", type},
                        {"time", time},
                        {"datacontenttype", datacontenttype},
                        {"data", data}};
  for (const auto& [k, v] : extensions) out[k] = v;
  return out;
}

bool Event::is_cloud_event(const nlohmann::json& json) {
  return json.is_object() && json.contains("specversion") && json.contains("id") &&
         json.contains("source") && json.contains("type");
}

Event Event::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw BusError("CloudEvent: expected a JSON object");
  Event e;
  e.specversion = required_string(json, "specversion");
  if (e.specversion != "1.0")
    throw BusError("CloudEvent: specversion \"" + e.specversion.substr(0, 16) + "\" is not 1.0");
  e.id = required_string(json, "id");
  e.source = required_string(json, "source");
  e.type = required_string(json, "type");
  for (const auto& [key, value] : json.items()) {
    if (key == "specversion" || key == "id" || key == "source" || key == "type") continue;
    if (key == "data") {
      e.data = value;
    } else if (key == "data_base64") {
      throw BusError(
          "CloudEvent: binary data (data_base64) is not supported; svckit events carry JSON");
    } else if (key == "time" || key == "datacontenttype" || key == "subject" ||
               key == "dataschema") {
      if (!value.is_string()) throw BusError("CloudEvent: \"" + key + "\" must be a string");
      if (key == "time")
        e.time = value.get<std::string>();
      else if (key == "datacontenttype")
        e.datacontenttype = value.get<std::string>();
      else
        e.extensions[key] = value.get<std::string>();
    } else {
      if (!valid_extension_name(key))
        throw BusError("CloudEvent: attribute name \"" + key.substr(0, 32) +
                       "\" is not lowercase alphanumeric (at most 20)");
      if (value.is_string())
        e.extensions[key] = value.get<std::string>();
      else if (value.is_number_integer() || value.is_boolean())
        e.extensions[key] = value.dump();
      else
        throw BusError("CloudEvent: extension \"" + key +
                       "\" must be a string, integer or boolean");
    }
  }
  if (e.id.size() > 256 || e.source.size() > 1024 || e.type.size() > 255)
    throw BusError("CloudEvent: id, source or type is too long");
  return e;
}

void check_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 255)
    throw BusError("topic pattern must be 1-255 characters");
  for (auto w : words(pattern)) {
    if (w.empty()) throw BusError("topic pattern '" + std::string(pattern) + "' has an empty word");
    if ((w.find('*') != std::string_view::npos || w.find('#') != std::string_view::npos) &&
        w.size() != 1)
      throw BusError("topic pattern '" + std::string(pattern) + "': * and # must be whole words");
  }
}

void check_group(std::string_view group) {
  if (group.empty() || group.size() > 128) throw BusError("group name must be 1-128 characters");
  for (char c : group)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == ':'))
      throw BusError("group name '" + std::string(group) +
                     "' may hold only letters, digits and . _ - :");
}

bool topic_matches(std::string_view pattern, std::string_view type) {
  return match(words(pattern), 0, words(type), 0);
}

Context Event::context(const log::Logger* logger) const {
  auto present = [this](const char* name) -> std::optional<std::string_view> {
    const std::string& value = extension(name);
    if (value.empty()) return std::nullopt;
    return std::string_view(value);
  };
  auto trace = delivery_trace ? *delivery_trace
                              : trace::TraceContext::continue_from(present("traceparent"),
                                                                   present("tracestate"));
  auto rid = present("requestid");
  std::string request_id = rid && sane_request_id(*rid) ? std::string(*rid) : trace.trace_id;
  return Context(std::move(request_id), std::move(trace), logger);
}

}  // namespace svckit::bus
