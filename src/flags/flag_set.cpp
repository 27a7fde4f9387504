#include "svckit/flags/flag_set.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "rule.hpp"

namespace svckit::flags {

using nlohmann::json;

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::kStatic:
      return "STATIC";
    case Reason::kTargetingMatch:
      return "TARGETING_MATCH";
    case Reason::kDefault:
      return "DEFAULT";
    case Reason::kDisabled:
      return "DISABLED";
    case Reason::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone:
      return "";
    case ErrorCode::kFlagNotFound:
      return "FLAG_NOT_FOUND";
    case ErrorCode::kParseError:
      return "PARSE_ERROR";
    case ErrorCode::kTypeMismatch:
      return "TYPE_MISMATCH";
    case ErrorCode::kTargetingKeyMissing:
      return "TARGETING_KEY_MISSING";
    case ErrorCode::kInvalidContext:
      return "INVALID_CONTEXT";
    case ErrorCode::kGeneral:
      return "GENERAL";
  }
  return "GENERAL";
}

namespace {

std::string join(const std::vector<std::string>& problems) {
  std::string out = "invalid flag set: ";
  for (std::size_t i = 0; i < problems.size() && i < 5; ++i) out += (i ? "; " : "") + problems[i];
  if (problems.size() > 5) out += "; and " + std::to_string(problems.size() - 5) + " more";
  return out;
}

constexpr std::size_t kMaxFlags = 10'000, kMaxVariants = 1'000, kMaxKey = 256;

bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= kMaxKey && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

std::string_view type_name(const json& v) {
  if (v.is_boolean()) return "boolean";
  if (v.is_string()) return "string";
  if (v.is_number()) return "number";
  return "object";
}

std::size_t depth_of(const json& j, std::size_t limit) {
  if (!j.is_structured() || limit == 0) return 0;
  std::size_t deepest = 0;
  for (const auto& e : j) deepest = std::max(deepest, depth_of(e, limit - 1));
  return deepest + 1;
}

}  // namespace

FlagSetError::FlagSetError(std::vector<std::string> problems)
    : std::invalid_argument(join(problems)), problems_(std::move(problems)) {}

struct FlagSet::Flag {
  std::string key;
  bool enabled = true;
  const json* variants = nullptr;
  const json* default_value = nullptr;  // null: no default variant (the caller's applies)
  std::string_view default_variant;
  std::string_view type;
  std::optional<detail::Rule> targeting;
  json metadata;
};

FlagSet::FlagSet(json document) : document_(std::move(document)) {}
FlagSet::~FlagSet() = default;

std::shared_ptr<const FlagSet> FlagSet::empty() {
  return parse(json{{"flags", json::object()}});
}

std::shared_ptr<const FlagSet> FlagSet::parse(const json& document) {
  std::vector<std::string> problems;
  auto refuse = [&](std::string where, std::string why) {
    problems.push_back(std::move(where) + ": " + std::move(why));
  };
  if (!document.is_object()) throw FlagSetError({"the document must be a JSON object"});
  if (depth_of(document, 80) >= 80) throw FlagSetError({"the document nests deeper than 80"});
  for (const auto& [name, value] : document.items())
    if (name != "flags" && name != "$evaluators" && name != "metadata" && name != "$schema")
      refuse(name, "unknown field (flags, $evaluators, metadata or $schema)");
  if (!document.contains("flags") || !document["flags"].is_object())
    throw FlagSetError({"flags: required, an object of flag definitions"});
  if (document["flags"].size() > kMaxFlags) throw FlagSetError({"flags: more than 10,000"});
  const json no_evaluators;
  const json& evaluators =
      document.contains("$evaluators") ? document["$evaluators"] : no_evaluators;
  if (!evaluators.is_null() && !evaluators.is_object()) refuse("$evaluators", "must be an object");
  const json set_metadata = document.value("metadata", json::object());
  if (!set_metadata.is_object()) refuse("metadata", "must be an object");

  // The FlagSet owns a copy of the document; every pointer below points into that copy.
  std::shared_ptr<FlagSet> set(new FlagSet(document));
  const json& flags = set->document_["flags"];
  for (const auto& [key, def] : flags.items()) {
    const std::string at = "flags." + key;
    if (!valid_key(key)) refuse(at, "a flag key is 1-256 of A-Z a-z 0-9 - _ . :");
    if (!def.is_object()) {
      refuse(at, "must be an object");
      continue;
    }
    auto flag = std::make_unique<Flag>();
    flag->key = key;
    for (const auto& [field, value] : def.items())
      if (field != "state" && field != "variants" && field != "defaultVariant" &&
          field != "targeting" && field != "metadata")
        refuse(at + "." + field,
               "unknown field (state, variants, defaultVariant, targeting, metadata)");
    auto state = def.find("state");
    if (state == def.end() || !state->is_string() || (*state != "ENABLED" && *state != "DISABLED"))
      refuse(at + ".state", "required, ENABLED or DISABLED");
    else
      flag->enabled = *state == "ENABLED";

    auto variants = def.find("variants");
    if (variants == def.end() || !variants->is_object() || variants->empty()) {
      refuse(at + ".variants", "required, an object of one or more named values");
      continue;
    }
    if (variants->size() > kMaxVariants) refuse(at + ".variants", "more than 1,000");
    flag->variants = &*variants;
    flag->type = type_name(variants->begin().value());
    for (const auto& [name, value] : variants->items()) {
      if (value.is_null())
        refuse(at + ".variants." + name, "a variant's value cannot be null");
      else if (type_name(value) != flag->type)
        refuse(at + ".variants." + name, "is " + std::string(type_name(value)) +
                                             " where the flag's other variants are " +
                                             std::string(flag->type));
    }

    auto fallback = def.find("defaultVariant");
    if (fallback == def.end()) {
      refuse(at + ".defaultVariant",
             "required, one of the variants (or null for the caller's default)");
    } else if (fallback->is_string()) {
      auto v = variants->find(fallback->get_ref<const std::string&>());
      if (v == variants->end())
        refuse(at + ".defaultVariant",
               "\"" + fallback->get<std::string>() + "\" is not one of its variants");
      else {
        flag->default_value = &*v;
        flag->default_variant = v.key();
      }
    } else if (!fallback->is_null()) {
      refuse(at + ".defaultVariant", "must be a variant's name or null");
    }

    if (auto targeting = def.find("targeting");
        targeting != def.end() && !(targeting->is_object() && targeting->empty())) {
      if (!targeting->is_object()) {
        refuse(at + ".targeting", "must be a JsonLogic rule (an object)");
      } else {
        try {
          flag->targeting = detail::Rule::compile(*targeting, evaluators);
          for (const auto& name : flag->targeting->literal_results()) {
            if (!variants->contains(name) &&
                !(flag->type == "boolean" && (name == "true" || name == "false")))
              refuse(at + ".targeting",
                     "can return \"" + name + "\", which is not one of its variants");
          }
        } catch (const std::invalid_argument& e) {
          refuse(at + ".targeting", e.what());
        }
      }
    }
    flag->metadata = set_metadata.is_object() ? set_metadata : json::object();
    if (auto meta = def.find("metadata"); meta != def.end()) {
      if (!meta->is_object())
        refuse(at + ".metadata", "must be an object");
      else
        for (const auto& [name, value] : meta->items()) {
          if (value.is_structured())
            refuse(at + ".metadata." + name, "must be a string, number or boolean");
          flag->metadata[name] = value;
        }
    }
    set->flags_.push_back(std::move(flag));
  }
  if (!problems.empty()) throw FlagSetError(std::move(problems));
  std::sort(set->flags_.begin(), set->flags_.end(),
            [](const auto& a, const auto& b) { return a->key < b->key; });
  return set;
}

const FlagSet::Flag* FlagSet::find(std::string_view key) const {
  auto it = std::lower_bound(flags_.begin(), flags_.end(), key,
                             [](const auto& f, std::string_view k) { return f->key < k; });
  return it != flags_.end() && (*it)->key == key ? it->get() : nullptr;
}

bool FlagSet::contains(std::string_view key) const {
  return find(key) != nullptr;
}

std::vector<std::string> FlagSet::keys() const {
  std::vector<std::string> out;
  out.reserve(flags_.size());
  for (const auto& f : flags_) out.push_back(f->key);
  return out;
}

std::string_view FlagSet::type_of(std::string_view key) const {
  const auto* f = find(key);
  return f ? f->type : std::string_view();
}

Evaluation FlagSet::evaluate(std::string_view key, const json& context, std::int64_t now) const {
  Evaluation e;
  const Flag* flag = find(key);
  if (!flag) {
    e.error_code = ErrorCode::kFlagNotFound;
    e.error_details = "flag \"" + std::string(key) + "\" is not in the set";
    return e;
  }
  e.metadata = &flag->metadata;
  if (!flag->enabled) {
    e.reason = Reason::kDisabled;
    return e;
  }
  auto with_default = [&](Reason reason) {
    e.reason = reason;
    e.value = flag->default_value;
    e.variant = flag->default_variant;
    return e;
  };
  if (!flag->targeting)
    return with_default(flag->default_value ? Reason::kStatic : Reason::kDefault);
  static const json no_context = json::object();
  const json& data = context.is_null() ? no_context : context;
  if (!data.is_object()) {
    e.error_code = ErrorCode::kInvalidContext;
    e.error_details = "the evaluation context must be an object";
    return e;
  }
  if (now == 0 && flag->targeting->reads_clock())
    now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  detail::Scope scope{.data = &data, .context = &data, .flag_key = flag->key, .timestamp = now};
  auto result = flag->targeting->evaluate(scope);
  const json& chosen = result.get();
  if (chosen.is_null()) return with_default(Reason::kDefault);
  std::string_view name;
  if (chosen.is_string())
    name = chosen.get_ref<const std::string&>();
  else if (chosen.is_boolean())
    name = chosen.get<bool>() ? "true" : "false";
  auto v = name.empty() && !chosen.is_string() ? flag->variants->end() : flag->variants->find(name);
  if (v == flag->variants->end()) {
    e.error_code = ErrorCode::kGeneral;
    // What is not UTF-8 (a context's bytes) replaced: evaluate() never throws.
    e.error_details = "the targeting chose " +
                      chosen.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 100) +
                      ", which is not a variant of \"" + flag->key + "\"";
    return e;
  }
  e.reason = Reason::kTargetingMatch;
  e.value = &*v;
  e.variant = v.key();
  return e;
}

}  // namespace svckit::flags
