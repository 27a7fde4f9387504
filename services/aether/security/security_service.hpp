#pragma once
// The AETHER-AI Security Service (seed 002 §4.1) as a svckit module: login, token validation,
// refresh with rotation, logout, the current user, users, API keys and the JWKS document.
#include <memory>

#include <svckit/app/module.hpp>

namespace aether::security {

class SecurityService : public svckit::Module {
 public:
  SecurityService();
  ~SecurityService() override;
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;  // the first admin, from the environment

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aether::security
