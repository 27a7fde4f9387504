#include "svckit/auth/jose_object.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "strict_json.hpp"

namespace svckit::auth {

namespace {

constexpr int kMaxDepth = 8;

nlohmann::json value_of(const JoseObject::Member& m) {
  if (m.kind == JoseObject::Kind::string) return m.text;
  // The text passed the strict parser already; this only builds it.
  std::string error;
  return detail::parse_strict_json(m.text, kMaxDepth, error).value_or(nullptr);
}

}  // namespace

std::optional<JoseObject> JoseObject::parse(std::string_view text, std::string& error) {
  JoseObject out;
  out.members_.reserve(12);
  if (!detail::parse_strict_flat_object(text, kMaxDepth, out.members_, error)) return std::nullopt;
  return out;
}

const JoseObject::Member* JoseObject::find(std::string_view name) const {
  // Claim names are a few bytes: compared inline rather than through memcmp.
  for (const auto& m : members_)
    if (m.name.size() == name.size() && std::equal(name.begin(), name.end(), m.name.begin()))
      return &m;
  return nullptr;
}

std::optional<std::string_view> JoseObject::string(std::string_view name) const {
  const Member* m = find(name);
  if (!m || m->kind != Kind::string) return std::nullopt;
  return std::string_view(m->text);
}

std::optional<double> JoseObject::number(std::string_view name) const {
  const Member* m = find(name);
  if (!m || m->kind != Kind::number) return std::nullopt;
  return m->number;
}

std::optional<std::vector<std::string>> JoseObject::strings(std::string_view name) const {
  const Member* m = find(name);
  if (!m || m->kind != Kind::array) return std::nullopt;
  return detail::parse_string_array(m->text);
}

nlohmann::json JoseObject::value(std::string_view name) const {
  const Member* m = find(name);
  return m ? value_of(*m) : nlohmann::json(nullptr);
}

nlohmann::json JoseObject::json() const {
  auto out = nlohmann::json::object();
  for (const auto& m : members_) out[m.name] = value_of(m);
  return out;
}

}  // namespace svckit::auth
