#pragma once
// Role → permissions (seed 000 §7.2: admin, developer, user, guest), from configuration.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace svckit::auth {

class RolePermissions {
 public:
  // admin: everything; developer: read and write tasks, use AI, read analytics; user: read and
  // write tasks, use AI; guest: read tasks.
  static RolePermissions defaults();
  // "admin=*;developer=tasks:read,tasks:write;guest=tasks:read" (AUTH_ROLES). Throws
  // std::invalid_argument naming the bad part.
  static RolePermissions parse(std::string_view text);

  // The union of the permissions of `roles`; unknown roles grant nothing.
  std::vector<std::string> permissions_of(const std::vector<std::string>& roles) const;
  bool knows(std::string_view role) const { return table_.count(std::string(role)) > 0; }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> table_;
};

// The roles of client-certificate identities (mTLS), from configuration (AUTH_CERT_ROLES):
// "spiffe://aether/gateway=admin;orders.svc.local=user;*=guest". "*" stands for any other
// verified certificate; without it, unlisted identities get no roles.
class CertificateRoles {
 public:
  // Throws std::invalid_argument naming the bad part.
  static CertificateRoles parse(std::string_view text);
  const std::vector<std::string>& roles_of(std::string_view identity) const;

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> table_;
};

}  // namespace svckit::auth
