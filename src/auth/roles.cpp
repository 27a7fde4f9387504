#include "svckit/auth/roles.hpp"

#include <algorithm>
#include <stdexcept>

namespace svckit::auth {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  while (true) {
    auto at = text.find(by);
    parts.push_back(trim(text.substr(0, at)));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

bool valid_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-' ||
           c == '.' || c == '*';
  });
}

}  // namespace

RolePermissions RolePermissions::defaults() {
  return parse(
      "admin=*;"
      "developer=tasks:read,tasks:write,ai:use,analytics:read,integrations:read,integrations:write;"
      "user=tasks:read,tasks:write,ai:use;"
      "guest=tasks:read");
}

RolePermissions RolePermissions::parse(std::string_view text) {
  RolePermissions r;
  for (auto entry : split(text, ';')) {
    if (entry.empty()) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("expected role=permission,..., got '" + std::string(entry) + "'");
    auto role = trim(entry.substr(0, eq));
    if (!valid_name(role)) throw std::invalid_argument("bad role name '" + std::string(role) + "'");
    auto& permissions = r.table_[std::string(role)];
    for (auto p : split(entry.substr(eq + 1), ',')) {
      if (p.empty()) continue;
      if (!valid_name(p)) throw std::invalid_argument("bad permission '" + std::string(p) + "'");
      permissions.emplace_back(p);
    }
  }
  return r;
}

std::vector<std::string> RolePermissions::permissions_of(
    const std::vector<std::string>& roles) const {
  std::vector<std::string> out;
  for (const auto& role : roles) {
    auto it = table_.find(role);
    if (it == table_.end()) continue;
    for (const auto& p : it->second)
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

}  // namespace svckit::auth
