#pragma once
// A service is a Module installed into an App. Its static declare(Settings&), when it has one,
// declares the settings it reads (settings.hpp), so --help lists them and a mistyped flag is
// refused before anything starts; install() registers routes, checks, metrics and migrations;
// start() runs before the App reports ready; stop() runs during shutdown, in reverse install
// order, after the HTTP server has drained.
#include "svckit/settings.hpp"
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

// A module type that declares settings: `static void declare(svckit::Settings&)`.
template <class M>
concept DeclaresSettings = requires(Settings& settings) {
  M::declare(settings);
};

}  // namespace svckit
