#include "svckit/app/run.hpp"

#include <cstdio>

namespace svckit {

int run_app(std::string default_service_name, int argc, char** argv,
            const std::function<void(App&)>& install_modules) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf("%s: a svckit service\n\n%s", default_service_name.c_str(),
                  Config::usage().c_str());
      return 0;
    }
  }
  try {
    App app(Config::load(default_service_name, args));
    install_modules(app);
    return app.run();
  } catch (const ConfigError& e) {
    // One line naming the variable, exit code 2: the operator's mistake, not the program's.
    std::fprintf(stderr, "%s: %s\n", default_service_name.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: start-up failed: %s\n", default_service_name.c_str(), e.what());
    return 1;
  }
}

}  // namespace svckit
