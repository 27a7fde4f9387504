#include "routes.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace svckit::gateway {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& why) {
  throw std::invalid_argument(where + ": " + why);
}

// Members of `object` must be among `known`: a misspelt option is an error, not a default.
void only(const json& object, const std::string& where, std::initializer_list<const char*> known) {
  if (!object.is_object()) bad(where, "must be an object");
  for (const auto& [key, value] : object.items())
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
      bad(where, "unknown member '" + key + "'");
}

std::string text(const json& o, const char* key, const std::string& where,
                 std::string fallback = {}, bool required = false) {
  if (!o.contains(key)) {
    if (required) bad(where, std::string("'") + key + "' is required");
    return fallback;
  }
  if (!o[key].is_string() || o[key].get_ref<const std::string&>().empty())
    bad(where + "." + key, "must be a non-empty string");
  return o[key].get<std::string>();
}

double number(const json& o, const char* key, const std::string& where, double fallback, double lo,
              double hi) {
  if (!o.contains(key)) return fallback;
  if (!o[key].is_number()) bad(where + "." + key, "must be a number");
  double v = o[key].get<double>();
  if (!(v >= lo && v <= hi))
    bad(where + "." + key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

std::vector<std::string> strings(const json& o, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!o.contains(key)) return out;
  if (!o[key].is_array()) bad(where + "." + key, "must be a list of strings");
  for (const auto& item : o[key]) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty())
      bad(where + "." + key, "must be a list of non-empty strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::chrono::milliseconds seconds(const json& o, const char* key, const std::string& where,
                                  double fallback, double lo, double hi) {
  return std::chrono::milliseconds(
      static_cast<long>(number(o, key, where, fallback, lo, hi) * 1000));
}

bool header_name_ok(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

HeaderEdits header_edits(const json& o, const char* key, const std::string& where) {
  HeaderEdits out;
  if (!o.contains(key)) return out;
  std::string at = where + "." + key;
  only(o[key], at, {"add", "remove"});
  if (o[key].contains("add")) {
    if (!o[key]["add"].is_object()) bad(at + ".add", "must be an object of header: value");
    for (const auto& [name, value] : o[key]["add"].items()) {
      if (!header_name_ok(name)) bad(at + ".add", "not a header name: '" + name + "'");
      if (!value.is_string()) bad(at + ".add." + name, "must be a string");
      auto v = value.get<std::string>();
      if (v.find_first_of("\r\n") != std::string::npos) bad(at + ".add." + name, "holds CR or LF");
      out.add.emplace_back(name, v);
    }
  }
  out.remove = strings(o[key], "remove", at);
  for (const auto& name : out.remove)
    if (!header_name_ok(name)) bad(at + ".remove", "not a header name: '" + name + "'");
  return out;
}

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

UpstreamConfig upstream(const std::string& name, const json& o, const std::string& where) {
  only(o, where, {"targets", "balance", "health_check", "eject_after_failures", "eject_seconds"});
  UpstreamConfig u;
  u.name = name;
  u.targets = strings(o, "targets", where);
  if (u.targets.empty()) bad(where + ".targets", "needs at least one base URL");
  for (const auto& t : u.targets)
    if (t.rfind("http://", 0) != 0 && t.rfind("https://", 0) != 0)
      bad(where + ".targets", "not an http(s) URL: '" + t + "'");
  auto balance = text(o, "balance", where, "round_robin");
  if (balance == "round_robin")
    u.balance = Balance::round_robin;
  else if (balance == "least_outstanding")
    u.balance = Balance::least_outstanding;
  else
    bad(where + ".balance", "must be round_robin or least_outstanding");
  if (o.contains("health_check")) {
    const auto& h = o["health_check"];
    if (h.is_boolean() && !h.get<bool>()) {
      u.health_path.clear();
    } else {
      only(h, where + ".health_check", {"path", "interval_seconds"});
      u.health_path = text(h, "path", where + ".health_check", "/ready");
      if (u.health_path[0] != '/') bad(where + ".health_check.path", "must start with '/'");
      u.health_interval = seconds(h, "interval_seconds", where + ".health_check", 2, 0.05, 3600);
    }
  }
  u.eject_after_failures = static_cast<int>(number(o, "eject_after_failures", where, 3, 1, 1000));
  u.eject_for = seconds(o, "eject_seconds", where, 10, 0.01, 3600);
  return u;
}

// split, shadow and rollback of a route.
void strangler_fig(const json& o, const std::string& where,
                   const std::map<std::string, UpstreamConfig>& upstreams, RouteConfig& r) {
  if (o.contains("split")) {
    std::string at = where + ".split";
    only(o["split"], at, {"legacy", "weight", "sticky", "flag"});
    SplitConfig split;
    split.legacy = text(o["split"], "legacy", at, {}, true);
    if (!upstreams.count(split.legacy)) bad(at + ".legacy", "no upstream '" + split.legacy + "'");
    if (split.legacy == r.upstream) bad(at + ".legacy", "is the route's own upstream");
    split.weight = number(o["split"], "weight", at, 0, 0, 100);
    if (o["split"].contains("sticky")) {
      if (!o["split"]["sticky"].is_boolean()) bad(at + ".sticky", "must be true or false");
      split.sticky = o["split"]["sticky"].get<bool>();
    }
    if (o["split"].contains("flag")) {
      split.flag = text(o["split"], "flag", at, {}, true);
      if (split.flag.empty()) bad(at + ".flag", "must name a flag");
    }
    r.split = split;
  }
  if (o.contains("shadow")) {
    std::string at = where + ".shadow";
    if (!r.split) bad(at, "needs a split (the other side to shadow to)");
    only(o["shadow"], at, {"percent", "ignore_fields"});
    r.shadow = ShadowConfig{number(o["shadow"], "percent", at, 0, 0, 100),
                            strings(o["shadow"], "ignore_fields", at)};
  }
  if (o.contains("rollback")) {
    std::string at = where + ".rollback";
    if (!r.split) bad(at, "needs a split (a weight to take back)");
    const auto& b = o["rollback"];
    only(b, at,
         {"window_seconds", "min_requests", "max_error_rate", "max_latency_increase",
          "min_latency_increase_ms"});
    RollbackConfig rb;
    rb.window =
        std::chrono::seconds(static_cast<long>(number(b, "window_seconds", at, 60, 1, 3600)));
    rb.min_requests = static_cast<std::size_t>(number(b, "min_requests", at, 50, 1, 1e9));
    rb.max_error_rate = number(b, "max_error_rate", at, 0.01, 0, 1);
    rb.max_latency_increase = number(b, "max_latency_increase", at, 0.2, 0, 100);
    rb.min_latency_increase = std::chrono::milliseconds(
        static_cast<long>(number(b, "min_latency_increase_ms", at, 5, 0, 600'000)));
    r.rollback = rb;
  }
}

RouteConfig route(const json& o, const std::string& where,
                  const std::map<std::string, UpstreamConfig>& upstreams) {
  only(o, where,
       {"name", "paths", "methods", "upstream", "strip_prefix", "rewrite_prefix", "timeout_seconds",
        "retries", "auth", "rate_limit", "request_headers", "response_headers", "max_body_bytes",
        "split", "shadow", "rollback"});
  RouteConfig r;
  r.name = text(o, "name", where, {}, true);
  r.paths = strings(o, "paths", where);
  if (r.paths.empty()) bad(where + ".paths", "needs at least one path prefix");
  for (auto& p : r.paths) {
    if (p[0] != '/' || p.find("..") != std::string::npos ||
        p.find_first_of("?# \t") != std::string::npos)
      bad(where + ".paths", "not a path prefix: '" + p + "'");
    if (p.size() > 1 && p.back() == '/') p.pop_back();
  }
  r.methods = strings(o, "methods", where);
  for (const auto& m : r.methods)
    if (std::set<std::string>{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}.count(
            m) == 0)
      bad(where + ".methods", "not a method: '" + m + "'");
  r.upstream = text(o, "upstream", where, {}, true);
  if (!upstreams.count(r.upstream)) bad(where + ".upstream", "no upstream '" + r.upstream + "'");
  if (o.contains("strip_prefix")) {
    if (!o["strip_prefix"].is_boolean()) bad(where + ".strip_prefix", "must be true or false");
    r.strip_prefix = o["strip_prefix"].get<bool>();
  }
  if (o.contains("rewrite_prefix")) {
    r.rewrite_prefix = text(o, "rewrite_prefix", where);
    if ((*r.rewrite_prefix)[0] != '/') bad(where + ".rewrite_prefix", "must start with '/'");
    if (r.strip_prefix) bad(where, "strip_prefix and rewrite_prefix exclude each other");
  }
  r.timeout = seconds(o, "timeout_seconds", where, 10, 0.001, 3600);
  r.retries = static_cast<int>(number(o, "retries", where, 2, 0, 10));
  auto access = text(o, "auth", where, "authenticated");
  if (access == "public") {
    r.access = Access::public_;
  } else if (access == "authenticated") {
    r.access = Access::authenticated;
  } else if (access.rfind("permission:", 0) == 0 && access.size() > 11) {
    r.access = Access::permission;
    r.permission = access.substr(11);
  } else {
    bad(where + ".auth", "must be public, authenticated or permission:<name>");
  }
  if (o.contains("rate_limit")) {
    const auto& l = o["rate_limit"];
    only(l, where + ".rate_limit", {"minute", "by"});
    r.rate_limit_per_minute =
        static_cast<std::size_t>(number(l, "minute", where + ".rate_limit", 60, 1, 1e7));
    auto by = text(l, "by", where + ".rate_limit", "consumer");
    if (by == "consumer")
      r.rate_by = RateBy::consumer;
    else if (by == "ip")
      r.rate_by = RateBy::ip;
    else
      bad(where + ".rate_limit.by", "must be consumer or ip");
  }
  r.request_headers = header_edits(o, "request_headers", where);
  r.response_headers = header_edits(o, "response_headers", where);
  r.max_body_bytes =
      static_cast<std::size_t>(number(o, "max_body_bytes", where, 1 << 20, 0, 1 << 30));
  strangler_fig(o, where, upstreams, r);
  return r;
}

}  // namespace

RoutesConfig parse_routes(const json& document) {
  only(document, "the routes file", {"upstreams", "routes", "consumers", "cors"});
  RoutesConfig out;
  if (!document.contains("upstreams") || !document["upstreams"].is_object())
    bad("upstreams", "an object of upstream pools is required");
  for (const auto& [name, u] : document["upstreams"].items())
    out.upstreams.emplace(name, upstream(name, u, "upstreams." + name));
  if (!document.contains("routes") || !document["routes"].is_array())
    bad("routes", "a list of routes is required");
  std::set<std::string> names, prefixes;
  for (std::size_t i = 0; i < document["routes"].size(); ++i) {
    std::string where = "routes[" + std::to_string(i) + "]";
    auto r = route(document["routes"][i], where, out.upstreams);
    if (!names.insert(r.name).second) bad(where + ".name", "'" + r.name + "' is used twice");
    out.routes.push_back(std::move(r));
  }
  if (document.contains("consumers")) {
    if (!document["consumers"].is_array()) bad("consumers", "must be a list");
    for (std::size_t i = 0; i < document["consumers"].size(); ++i) {
      std::string where = "consumers[" + std::to_string(i) + "]";
      const auto& c = document["consumers"][i];
      only(c, where, {"name", "api_key_sha256", "roles"});
      Consumer consumer{text(c, "name", where, {}, true),
                        text(c, "api_key_sha256", where, {}, true), strings(c, "roles", where)};
      if (!is_hex64(consumer.api_key_sha256))
        bad(where + ".api_key_sha256", "must be 64 lower-case hex digits (the key's SHA-256)");
      out.consumers.push_back(std::move(consumer));
    }
  }
  if (document.contains("cors")) {
    const auto& c = document["cors"];
    only(c, "cors", {"allow_origins", "allow_methods", "allow_headers", "max_age_seconds"});
    out.cors.allow_origins = strings(c, "allow_origins", "cors");
    if (c.contains("allow_methods")) out.cors.allow_methods = strings(c, "allow_methods", "cors");
    if (c.contains("allow_headers")) out.cors.allow_headers = strings(c, "allow_headers", "cors");
    out.cors.max_age = std::chrono::seconds(
        static_cast<long>(number(c, "max_age_seconds", "cors", 600, 0, 86400)));
  }
  return out;
}

RoutesConfig load_routes(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot be read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto document = json::parse(buffer.str(), nullptr, false);
  if (document.is_discarded()) throw std::invalid_argument(path + ": not valid JSON");
  try {
    return parse_routes(document);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace svckit::gateway
