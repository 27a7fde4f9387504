#include "svckit/json_schema.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include <re2/re2.h>

namespace svckit {

using nlohmann::json;

namespace {

constexpr int kMaxRefDepth = 32;
constexpr int kMaxCallDepth = 256;  // valid() within valid(): a thread's stack, with room
constexpr std::size_t kMaxSteps = 50'000;

std::size_t characters(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string escape_pointer(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string short_text(const json& v) {
  auto text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

std::string number_text(double d) {
  auto j = json(d);
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15)
    j = static_cast<std::int64_t>(d);
  return j.dump();
}

bool is_type(const json& v, const std::string& type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    return v.is_number_float() && std::isfinite(v.get<double>()) &&
           v.get<double>() == std::floor(v.get<double>());
  }
  return false;
}

// JSON's equality, with 1 and 1.0 the same number (as the drafts say).
bool same(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !same(it.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

struct JsonSchema::Impl {
  json root;
  // Every pattern and patternProperties key, for RE2: linear in the text whatever the pattern (a
  // backtracking engine such as std::regex spends exponential time on some, A??????++++...).
  std::map<std::string, std::unique_ptr<RE2>> patterns;
  std::set<std::string> checked_refs;

  // --- compile: every keyword's form checked, patterns compiled, references resolved ------

  [[noreturn]] static void bad(const std::string& at, const std::string& why) {
    throw std::invalid_argument((at.empty() ? "the schema" : at) + ": " + why);
  }

  const json* resolve(const std::string& ref) const {
    if (ref.empty() || ref[0] != '#') return nullptr;
    if (ref == "#") return &root;
    if (ref.size() < 2 || ref[1] != '/') return nullptr;
    std::string pointer;  // the fragment is percent-encoded
    for (std::size_t i = 1; i < ref.size(); ++i) {
      if (ref[i] == '%') {
        auto hex = [](char c) {
          return c >= '0' && c <= '9'   ? c - '0'
                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                        : -1;
        };
        if (i + 2 >= ref.size() || hex(ref[i + 1]) < 0 || hex(ref[i + 2]) < 0) return nullptr;
        pointer += static_cast<char>(hex(ref[i + 1]) * 16 + hex(ref[i + 2]));
        i += 2;
      } else {
        pointer += ref[i];
      }
    }
    try {
      const json& found = root.at(json::json_pointer(pointer));
      return &found;
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  void pattern(const std::string& at, const std::string& text) {
    if (patterns.count(text)) return;
    if (text.size() > 1000) bad(at, "a pattern longer than 1,000 characters");
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(text, options);
    if (!re->ok())
      bad(at,
          "not a regular expression this validator runs (RE2: no lookaround, no backreference): " +
              re->error());
    patterns.emplace(text, std::move(re));
  }

  void check(const json& s, const std::string& at, int depth) {
    if (depth > 64) bad(at, "nests deeper than 64");
    if (s.is_boolean()) return;
    if (!s.is_object()) bad(at, "a schema is an object or a boolean");
    for (const char* unsupported :
         {"$dynamicRef", "$recursiveRef", "unevaluatedProperties", "unevaluatedItems"})
      if (s.contains(unsupported)) bad(at, std::string("unsupported keyword ") + unsupported);
    auto sub = [&](const char* key) {
      if (s.contains(key)) check(s[key], at + "/" + key, depth + 1);
    };
    auto subs_in_object = [&](const char* key) {
      if (!s.contains(key)) return;
      if (!s[key].is_object()) bad(at + "/" + key, "must be an object of schemas");
      for (const auto& [name, value] : s[key].items())
        check(value, at + "/" + key + "/" + escape_pointer(name), depth + 1);
    };
    auto subs_in_array = [&](const char* key, bool may_be_empty = false) {
      if (!s.contains(key)) return;
      if (!s[key].is_array() || (s[key].empty() && !may_be_empty))
        bad(at + "/" + key, "must be a non-empty array of schemas");
      for (std::size_t i = 0; i < s[key].size(); ++i)
        check(s[key][i], at + "/" + key + "/" + std::to_string(i), depth + 1);
    };
    auto number = [&](const char* key) {
      if (s.contains(key) && !s[key].is_number()) bad(at + "/" + key, "must be a number");
    };
    auto count = [&](const char* key) {
      if (s.contains(key) && !(s[key].is_number_unsigned() ||
                               (s[key].is_number_integer() && s[key].get<std::int64_t>() >= 0)))
        bad(at + "/" + key, "must be a non-negative integer");
    };
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) bad(at + "/$ref", "must be a string");
      const auto& ref = s["$ref"].get_ref<const std::string&>();
      const json* target = resolve(ref);
      if (!target)
        bad(at + "/$ref",
            "unsupported or unresolvable reference \"" + ref + "\" (local only: \"#/...\")");
      // What a reference points at is a schema too, checked once (a reference may point at a
      // part of the document no keyword leads to).
      if (checked_refs.insert(ref).second) check(*target, ref.substr(1), depth + 1);
    }
    if (s.contains("type")) {
      const auto& t = s["type"];
      auto known = [](const json& name) {
        static const char* kTypes[] = {"null",   "boolean", "object", "array",
                                       "string", "number",  "integer"};
        return name.is_string() && std::any_of(std::begin(kTypes), std::end(kTypes),
                                               [&](const char* k) { return name == k; });
      };
      if (!(known(t) || (t.is_array() && !t.empty() && std::all_of(t.begin(), t.end(), known))))
        bad(at + "/type", "must be a type name or an array of them");
    }
    if (s.contains("enum") && !s["enum"].is_array()) bad(at + "/enum", "must be an array");
    for (const char* k : {"maximum", "minimum"}) number(k);
    for (const char* k : {"exclusiveMaximum", "exclusiveMinimum"})
      if (s.contains(k) && !s[k].is_number())
        bad(at + "/" + k, "must be a number (draft 6 and later)");
    if (s.contains("multipleOf") &&
        (!s["multipleOf"].is_number() || s["multipleOf"].get<double>() <= 0))
      bad(at + "/multipleOf", "must be a number above 0");
    for (const char* k : {"maxLength", "minLength", "maxItems", "minItems", "maxProperties",
                          "minProperties", "minContains", "maxContains"})
      count(k);
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) bad(at + "/pattern", "must be a string");
      pattern(at + "/pattern", s["pattern"].get_ref<const std::string&>());
    }
    if (s.contains("required") &&
        (!s["required"].is_array() || !std::all_of(s["required"].begin(), s["required"].end(),
                                                   [](const json& n) { return n.is_string(); })))
      bad(at + "/required", "must be an array of names");
    if (s.contains("uniqueItems") && !s["uniqueItems"].is_boolean())
      bad(at + "/uniqueItems", "must be a boolean");
    subs_in_object("properties");
    subs_in_object("patternProperties");
    if (s.contains("patternProperties"))
      for (const auto& [p, v] : s["patternProperties"].items())
        pattern(at + "/patternProperties", p);
    subs_in_object("definitions");
    subs_in_object("$defs");
    subs_in_object("dependentSchemas");
    if (s.contains("dependencies")) {
      if (!s["dependencies"].is_object()) bad(at + "/dependencies", "must be an object");
      for (const auto& [name, value] : s["dependencies"].items())
        if (!value.is_array())
          check(value, at + "/dependencies/" + escape_pointer(name), depth + 1);
    }
    if (s.contains("dependentRequired") && !s["dependentRequired"].is_object())
      bad(at + "/dependentRequired", "must be an object of name arrays");
    for (const char* k : {"additionalProperties", "propertyNames", "additionalItems", "contains",
                          "not", "if", "then", "else"})
      sub(k);
    if (s.contains("items")) {
      if (s["items"].is_array() && s.contains("prefixItems"))
        bad(at + "/items",
            "an array of schemas (draft 7) beside prefixItems (2020-12): one or the other");
      if (s["items"].is_array())
        subs_in_array("items", true);
      else
        sub("items");
    }
    subs_in_array("prefixItems", true);
    for (const char* k : {"allOf", "anyOf", "oneOf"}) subs_in_array(k);
  }

  // --- validate ----------------------------------------------------------------------------

  struct Run {
    std::vector<Problem>* problems;  // null: only whether it is valid (inside anyOf, not, ...)
    std::size_t limit;
    std::size_t steps = 0;
    int depth = 0;  // valid() calls open now
  };

  // The budget spent (steps, nested references, recursion): the whole validation ends with a
  // problem saying so. An exception, so that no `not`, `if` or `oneOf` can turn an unfinished
  // check into a pass.
  struct Exhausted {
    std::string why;
  };

  void spend(Run& run, std::size_t steps) const {
    run.steps += steps;
    if (run.steps > kMaxSteps) throw Exhausted{"too costly to validate (over 50,000 steps)"};
  }

  // False when invalid. Adds problems when run.problems is given.
  bool valid(const json& s, const json& v, const std::string& path, Run& run, int refs) const {
    spend(run, 1);
    if (run.depth >= kMaxCallDepth)
      throw Exhausted{"the schema and the instance nest too deep to check"};
    ++run.depth;
    const bool ok = valid_here(s, v, path, run, refs);
    --run.depth;
    return ok;
  }

  bool valid_here(const json& s, const json& v, const std::string& path, Run& run, int refs) const {
    if (s.is_boolean()) return s.get<bool>() || fail(run, path, "nothing is allowed here");
    if (s.contains("$ref")) {  // draft 7: a $ref's siblings are ignored
      if (refs >= kMaxRefDepth) throw Exhausted{"references nest deeper than 32"};
      const json* target = resolve(s["$ref"].get_ref<const std::string&>());
      if (!target) throw Exhausted{"a reference resolves to nothing"};  // compile() prevents it
      return valid(*target, v, path, run, refs + 1);
    }
    bool ok = true;
    auto note = [&](bool holds, const std::string& message) {
      if (!holds) ok = fail(run, path, message) && ok;
      return holds;
    };
    if (s.contains("type")) {
      const auto& t = s["type"];
      bool any = t.is_string() ? is_type(v, t)
                               : std::any_of(t.begin(), t.end(),
                                             [&](const json& n) { return is_type(v, n); });
      note(any, "must be of type " + (t.is_string() ? t.get<std::string>() : t.dump()));
    }
    if (s.contains("enum")) spend(run, s["enum"].size());
    if (s.contains("enum"))
      note(std::any_of(s["enum"].begin(), s["enum"].end(),
                       [&](const json& e) { return same(e, v); }),
           "must be one of " + short_text(s["enum"]));
    if (s.contains("const")) note(same(s["const"], v), "must be " + short_text(s["const"]));
    if (v.is_number()) numbers(s, v, note);
    if (v.is_string()) strings(s, v.get_ref<const std::string&>(), path, run, note);
    if (v.is_array()) ok = arrays(s, v, path, run, refs, note) && ok;
    if (v.is_object()) ok = objects(s, v, path, run, refs, note) && ok;
    ok = combinations(s, v, path, run, refs, note) && ok;
    return ok;
  }

  static bool fail(Run& run, const std::string& path, std::string message) {
    if (run.problems && run.problems->size() < run.limit)
      run.problems->push_back({path, std::move(message)});
    return false;
  }

  bool quietly(const json& s, const json& v, Run& run, int refs) const {
    Run quiet{nullptr, 0, run.steps, run.depth};
    bool ok = valid(s, v, "", quiet, refs);  // Exhausted passes through: never a pass
    run.steps = quiet.steps;
    return ok;
  }

  template <class Note>
  static void numbers(const json& s, const json& v, Note& note) {
    const double x = v.get<double>();
    if (s.contains("maximum"))
      note(x <= s["maximum"].get<double>(),
           "must be at most " + number_text(s["maximum"].get<double>()));
    if (s.contains("minimum"))
      note(x >= s["minimum"].get<double>(),
           "must be at least " + number_text(s["minimum"].get<double>()));
    if (s.contains("exclusiveMaximum"))
      note(x < s["exclusiveMaximum"].get<double>(),
           "must be below " + number_text(s["exclusiveMaximum"].get<double>()));
    if (s.contains("exclusiveMinimum"))
      note(x > s["exclusiveMinimum"].get<double>(),
           "must be above " + number_text(s["exclusiveMinimum"].get<double>()));
    if (s.contains("multipleOf")) {
      const auto& divisor = s["multipleOf"];
      const double m = divisor.get<double>();
      bool holds = false;
      if (v.is_number_integer() && divisor.is_number_integer()) {  // exactly, past 2^53 too
        auto wide = [](const json& n) {
          return n.is_number_unsigned() ? static_cast<__int128>(n.get<std::uint64_t>())
                                        : static_cast<__int128>(n.get<std::int64_t>());
        };
        holds = wide(v) % wide(divisor) == 0;
      } else {  // decimal fractions are inexact in binary: a tolerance relative to the quotient
        const double q = x / m;
        holds =
            std::isfinite(q) && std::fabs(q - std::round(q)) <= 1e-12 * std::max(1.0, std::fabs(q));
      }
      note(holds, "must be a multiple of " + number_text(m));
    }
  }

  template <class Note>
  void strings(const json& s, const std::string& text, const std::string& path, Run&,
               Note& note) const {
    if (s.contains("maxLength") || s.contains("minLength")) {
      const auto n = characters(text);
      if (s.contains("maxLength"))
        note(n <= s["maxLength"].get<std::size_t>(),
             "must be at most " + s["maxLength"].dump() + " characters");
      if (s.contains("minLength"))
        note(n >= s["minLength"].get<std::size_t>(),
             "must be at least " + s["minLength"].dump() + " characters");
    }
    if (s.contains("pattern")) {
      const auto& regex = *patterns.at(s["pattern"].get_ref<const std::string&>());
      note(RE2::PartialMatch(text, regex), "must match " + short_text(s["pattern"]));
    }
    (void)path;
  }

  template <class Note>
  bool arrays(const json& s, const json& v, const std::string& path, Run& run, int refs,
              Note& note) const {
    bool ok = true;
    if (s.contains("maxItems"))
      note(v.size() <= s["maxItems"].get<std::size_t>(),
           "must have at most " + s["maxItems"].dump() + " items");
    if (s.contains("minItems"))
      note(v.size() >= s["minItems"].get<std::size_t>(),
           "must have at least " + s["minItems"].dump() + " items");
    if (s.value("uniqueItems", false)) {
      bool unique = true;
      for (std::size_t i = 0; i < v.size() && unique; ++i)
        for (std::size_t j = i + 1; j < v.size() && unique; ++j) {
          spend(run, 1);
          unique = !same(v[i], v[j]);
        }
      note(unique, "must not repeat an item");
    }
    // The leading items by position (prefixItems, or draft 7's array form of items), the rest
    // by items (2020-12) or additionalItems (draft 7).
    const json* tuple = nullptr;
    const json* rest = nullptr;
    if (s.contains("prefixItems")) {
      tuple = &s["prefixItems"];
      if (s.contains("items")) rest = &s["items"];
    } else if (s.contains("items") && s["items"].is_array()) {
      tuple = &s["items"];
      if (s.contains("additionalItems")) rest = &s["additionalItems"];
    } else if (s.contains("items")) {
      rest = &s["items"];
    }
    const std::size_t fixed = tuple ? std::min(tuple->size(), v.size()) : 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json* item = i < fixed ? &(*tuple)[i] : rest;
      if (item) ok = valid(*item, v[i], path + "/" + std::to_string(i), run, refs) && ok;
    }
    if (s.contains("contains")) {
      std::size_t matches = 0;
      for (const auto& item : v) matches += quietly(s["contains"], item, run, refs) ? 1 : 0;
      const std::size_t least = s.contains("minContains") ? s["minContains"].get<std::size_t>() : 1;
      note(matches >= least,
           "must contain " +
               std::string(least == 1 ? "an item" : std::to_string(least) + " items") +
               " matching " + short_text(s["contains"]));
      if (s.contains("maxContains"))
        note(matches <= s["maxContains"].get<std::size_t>(),
             "must contain at most " + s["maxContains"].dump() + " such items");
    }
    return ok;
  }

  template <class Note>
  bool objects(const json& s, const json& v, const std::string& path, Run& run, int refs,
               Note& note) const {
    bool ok = true;
    if (s.contains("maxProperties"))
      note(v.size() <= s["maxProperties"].get<std::size_t>(),
           "must have at most " + s["maxProperties"].dump() + " members");
    if (s.contains("minProperties"))
      note(v.size() >= s["minProperties"].get<std::size_t>(),
           "must have at least " + s["minProperties"].dump() + " members");
    if (s.contains("required"))
      for (const auto& name : s["required"])
        if (!v.contains(name.get<std::string>()))
          ok = fail(run, path + "/" + escape_pointer(name.get<std::string>()), "is required") && ok;
    auto require_all = [&](const std::string& name, const json& names) {
      for (const auto& n : names)
        if (n.is_string() && !v.contains(n.get<std::string>()))
          ok = fail(run, path + "/" + escape_pointer(n.get<std::string>()),
                    "is required with " + name) &&
               ok;
    };
    if (s.contains("dependentRequired"))
      for (const auto& [name, names] : s["dependentRequired"].items())
        if (v.contains(name) && names.is_array()) require_all(name, names);
    for (const char* k : {"dependencies", "dependentSchemas"}) {
      if (!s.contains(k)) continue;
      for (const auto& [name, dep] : s[k].items()) {
        if (!v.contains(name)) continue;
        if (dep.is_array())
          require_all(name, dep);
        else
          ok = valid(dep, v, path, run, refs) && ok;
      }
    }
    for (const auto& [name, value] : v.items()) {
      const std::string at = path + "/" + escape_pointer(name);
      bool matched = false;
      if (s.contains("properties") && s["properties"].contains(name)) {
        matched = true;
        ok = valid(s["properties"][name], value, at, run, refs) && ok;
      }
      if (s.contains("patternProperties"))
        for (const auto& [p, sub] : s["patternProperties"].items())
          if (RE2::PartialMatch(name, *patterns.at(p))) {
            matched = true;
            ok = valid(sub, value, at, run, refs) && ok;
          }
      if (!matched && s.contains("additionalProperties")) {
        const auto& extra = s["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>())
          ok = fail(run, at, "is not allowed (additionalProperties)") && ok;
        else
          ok = valid(extra, value, at, run, refs) && ok;
      }
      if (s.contains("propertyNames") && !quietly(s["propertyNames"], json(name), run, refs))
        ok = fail(run, at, "is not an allowed name") && ok;
    }
    (void)note;
    return ok;
  }

  template <class Note>
  bool combinations(const json& s, const json& v, const std::string& path, Run& run, int refs,
                    Note& note) const {
    bool ok = true;
    if (s.contains("allOf"))
      for (const auto& sub : s["allOf"]) ok = valid(sub, v, path, run, refs) && ok;
    if (s.contains("anyOf"))
      note(std::any_of(s["anyOf"].begin(), s["anyOf"].end(),
                       [&](const json& sub) { return quietly(sub, v, run, refs); }),
           "must match one of anyOf's schemas");
    if (s.contains("oneOf")) {
      std::size_t matches = 0;
      for (const auto& sub : s["oneOf"]) matches += quietly(sub, v, run, refs) ? 1 : 0;
      note(matches == 1, matches == 0 ? "must match one of oneOf's schemas"
                                      : "must match only one of oneOf's schemas");
    }
    if (s.contains("not"))
      note(!quietly(s["not"], v, run, refs), "must not match " + short_text(s["not"]));
    if (s.contains("if")) {
      if (quietly(s["if"], v, run, refs)) {
        if (s.contains("then")) ok = valid(s["then"], v, path, run, refs) && ok;
      } else if (s.contains("else")) {
        ok = valid(s["else"], v, path, run, refs) && ok;
      }
    }
    return ok;
  }
};

JsonSchema JsonSchema::compile(json schema) {
  auto impl = std::make_shared<Impl>();
  impl->root = std::move(schema);
  impl->check(impl->root, "", 0);
  return JsonSchema(std::move(impl));
}

std::vector<JsonSchema::Problem> JsonSchema::validate(const json& instance,
                                                      std::size_t limit) const {
  std::vector<Problem> problems;
  Impl::Run run{&problems, limit};
  try {
    impl_->valid(impl_->root, instance, "", run, 0);
  } catch (const Impl::Exhausted& e) {
    if (problems.size() >= limit && !problems.empty()) problems.pop_back();
    problems.push_back({"", e.why});
  }
  return problems;
}

const json& JsonSchema::document() const {
  return impl_->root;
}

}  // namespace svckit
