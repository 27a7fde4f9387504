#pragma once
// main() of a service in one line:
//   int main(int argc, char** argv) { return svckit::run<TaskManager>("task-manager", argc, argv);
//   }
// Loads the config (a bad value prints one line naming the variable and exits 2), installs the
// modules and serves until SIGTERM/SIGINT.
#include <functional>
#include <string>

#include "svckit/app/app.hpp"

namespace svckit {

// Installs whatever `install_modules` installs into a configured App and runs it.
int run_app(std::string default_service_name, int argc, char** argv,
            const std::function<void(App&)>& install_modules);

template <class... Modules>
int run(std::string default_service_name, int argc, char** argv) {
  return run_app(std::move(default_service_name), argc, argv,
                 [](App& app) { (app.install<Modules>(), ...); });
}

}  // namespace svckit
