#pragma once
// Who a request acts for, once authenticated: the user (or service) id, roles and the
// permissions they grant. Middleware attaches it to the request; handlers read it.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/auth/jose_object.hpp"

namespace svckit {
class Context;
}
namespace svckit::http {
class Request;
}

namespace svckit::auth {

struct Principal {
  std::string id;     // the token's "sub", an API key's owner, or a client certificate's subject
  std::string email;  // when the token carries one
  std::vector<std::string> roles;
  std::vector<std::string> permissions;  // effective: the roles' and any carried in the token
  std::string method;                    // "jwt", "api_key" or "mtls"
  // The verified token's claims, for services that read claims of their own (JWT only).
  std::shared_ptr<const JoseObject> claims;

  // "*" grants everything; "tasks:*" grants every "tasks:" permission.
  bool has(std::string_view permission) const {
    return std::any_of(permissions.begin(), permissions.end(), [&](const std::string& p) {
      if (p == "*" || p == permission) return true;
      return p.size() >= 2 && p.ends_with(":*") &&
             permission.starts_with(std::string_view(p).substr(0, p.size() - 1));
    });
  }
};

// How authentication hands a principal on: shared and immutable, so the verified-token cache and
// every request it authenticates hold the same one (a copy per request cost a handful of
// allocations: id, email, roles, permissions).
using SharedPrincipal = std::shared_ptr<const Principal>;

// The principal of authenticated work (an HTTP request, a gRPC call), nullptr before
// authentication ran or when it let an anonymous caller through.
const Principal* principal(const Context& context);
const Principal* principal(const http::Request& request);

}  // namespace svckit::auth
