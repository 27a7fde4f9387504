#pragma once
// The roles of the apartment system and what they may do: AUTH_ROLES's default in each of its
// services (a deployment may still set AUTH_ROLES). Residents act on their own requests only;
// the services check ownership beyond the permission. `service` is Request Management's own
// token: AI Processing and Decision & Simulation take any valid token, Execution's reads need it.
namespace apartment {

inline constexpr const char* kRoles =
    "admin=*;"
    "staff=requests:read,requests:write,requests:manage,executions:read,executions:write;"
    "resident=requests:read,requests:write;"
    "service=executions:read";

}  // namespace apartment
