#pragma once
// A service is a Module installed into an App. install() registers routes, checks, metrics and
// migrations; start() runs before the App reports ready; stop() runs during shutdown, in reverse
// install order, after the HTTP server has drained.
#include "svckit/task.hpp"

namespace svckit {

class App;

class Module {
 public:
  virtual ~Module() = default;
  virtual void install(App& app) = 0;
  virtual Task<void> start(App&) { co_return; }
  virtual Task<void> stop(App&) { co_return; }
};

}  // namespace svckit
