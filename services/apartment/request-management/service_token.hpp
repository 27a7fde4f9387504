#pragma once
// The token Request Management calls AI Processing and Decision & Simulation with: its own, not
// a resident's (the background retry has no resident to borrow one from). SERVICE_TOKEN when
// set (issued by whoever signs the system's tokens); otherwise minted here with JWT_SECRET_KEY
// (HS256, the key the services already share): sub "request-management", role "service", ten
// minutes, made again at half-life.
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include <svckit/auth/key.hpp>

namespace svckit {
class Settings;
}

namespace apartment::requests {

class ServiceToken {
 public:
  // Throws svckit::ConfigError naming SERVICE_TOKEN when neither setting gives a token.
  explicit ServiceToken(const svckit::Settings& settings);
  static void declare(svckit::Settings& settings);
  // "Bearer ...": from any thread.
  std::string authorization();

 private:
  std::optional<std::string> fixed_;
  std::optional<svckit::auth::Key> key_;
  std::string issuer_;
  std::string audience_;
  std::mutex mutex_;
  std::string current_;
  std::chrono::system_clock::time_point renew_at_{};
};

}  // namespace apartment::requests
