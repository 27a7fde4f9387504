#pragma once
// The API Gateway (seed 000 §3.1, §7.1; 002 §3.1: the Kong configuration it replaces): one
// port in front of a system's services, routing by path prefix and method to upstream pools,
// checking tokens and API keys at the edge, rate limiting, and passing the verified identity on
// in headers clients cannot forge. Its routes file is GATEWAY_ROUTES, reloaded on SIGHUP and
// when the file changes; a file that does not parse is rejected and the old routes keep serving.
#include <atomic>
#include <memory>
#include <string>

#include "svckit/app/app.hpp"
#include "svckit/app/module.hpp"

namespace svckit::gateway {

class Gateway : public Module {
 public:
  Gateway();
  ~Gateway() override;
  static void declare(Settings& settings);
  void install(App& app) override;
  Task<void> start(App& app) override;

  // Loads GATEWAY_ROUTES again; false (and the old routes kept) when it is not valid.
  bool reload();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::gateway
