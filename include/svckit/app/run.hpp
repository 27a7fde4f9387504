#pragma once
// main() of a service in one line:
//   int main(int argc, char** argv) { return svckit::run<TaskManager>("task-manager", argc, argv);
//   }
// Declares every module's settings, then: --help lists them and exits 0; --print-config shows
// their effective values (secrets masked) and exits 0; a bad value, a missing required one or an
// unknown flag prints one line naming it and exits 2. Otherwise installs the modules and serves
// until SIGTERM/SIGINT.
#include <functional>
#include <string>

#include "svckit/app/app.hpp"

namespace svckit {

// Declares what `declare_modules` declares, then installs whatever `install_modules` installs
// into a configured App and runs it.
int run_app(std::string default_service_name, int argc, char** argv,
            const std::function<void(Settings&)>& declare_modules,
            const std::function<void(App&)>& install_modules);

template <class... Modules>
int run(std::string default_service_name, int argc, char** argv) {
  return run_app(
      std::move(default_service_name), argc, argv,
      [](Settings& settings) {
        auto declare = [&settings]<class M>() {
          if constexpr (DeclaresSettings<M>) M::declare(settings);
        };
        (declare.template operator()<Modules>(), ...);
      },
      [](App& app) { (app.install<Modules>(), ...); });
}

}  // namespace svckit
