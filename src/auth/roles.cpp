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

// A certificate identity: a URI, DNS name or CN, printable and without the separators.
bool valid_identity(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != ';' && c != '=' && c != ',';
  });
}

// "key=item,item;key=item": the shared shape of AUTH_ROLES and AUTH_CERT_ROLES. The key ends at
// the entry's last '=' (items never hold one).
template <class ValidKey>
std::map<std::string, std::vector<std::string>, std::less<>> parse_table(std::string_view text,
                                                                         const char* shape,
                                                                         const char* key_kind,
                                                                         const char* item_kind,
                                                                         ValidKey valid_key) {
  std::map<std::string, std::vector<std::string>, std::less<>> table;
  for (auto entry : split(text, ';')) {
    if (entry.empty()) continue;
    auto eq = entry.rfind('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument(std::string("expected ") + shape + ", got '" +
                                  std::string(entry) + "'");
    auto key = trim(entry.substr(0, eq));
    if (!valid_key(key))
      throw std::invalid_argument(std::string("bad ") + key_kind + " '" + std::string(key) + "'");
    auto& items = table[std::string(key)];
    for (auto item : split(entry.substr(eq + 1), ',')) {
      if (item.empty()) continue;
      if (!valid_name(item))
        throw std::invalid_argument(std::string("bad ") + item_kind + " '" + std::string(item) +
                                    "'");
      items.emplace_back(item);
    }
  }
  return table;
}

}  // namespace

RolePermissions RolePermissions::defaults() {
  return parse(
      "admin=*;"
      "developer=tasks:read,tasks:write,ai:use,analytics:read,integrations:read,integrations:write,"
      "code:use,code:run;"
      "user=tasks:read,tasks:write,ai:use,code:use;"
      "guest=tasks:read");
}

RolePermissions RolePermissions::parse(std::string_view text) {
  RolePermissions r;
  r.table_ = parse_table(text, "role=permission,...", "role name", "permission", valid_name);
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

CertificateRoles CertificateRoles::parse(std::string_view text) {
  CertificateRoles r;
  r.table_ = parse_table(text, "identity=role,...", "certificate identity", "role",
                         [](std::string_view key) { return key == "*" || valid_identity(key); });
  return r;
}

const std::vector<std::string>& CertificateRoles::roles_of(std::string_view identity) const {
  static const std::vector<std::string> kNone;
  if (auto it = table_.find(identity); it != table_.end()) return it->second;
  if (auto it = table_.find("*"); it != table_.end()) return it->second;
  return kNone;
}

}  // namespace svckit::auth
