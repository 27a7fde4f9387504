#pragma once
// Raptorflow's Authentication service (seed 003) as a svckit module: users and profiles,
// sessions per device, refresh rotation with reuse detection, TOTP second factor with recovery
// codes and step-up, and an OpenID Connect provider (authorization code with PKCE). Its users
// and audit log live in the AETHER Security Service's store; password hashing, throttles and
// signing keys are the code both services share (services/common/identity).
#include <memory>

#include <svckit/app/module.hpp>

namespace raptorflow::auth {

struct AuthCore;

class AuthService : public svckit::Module {
 public:
  AuthService();
  ~AuthService() override;
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;  // the first admin, from the environment

 private:
  std::unique_ptr<AuthCore> core_;
};

}  // namespace raptorflow::auth
