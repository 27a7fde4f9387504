#include "svckit/app/run.hpp"

#include <cstdio>

#include "svckit/sql/database.hpp"

namespace svckit {

int run_app(std::string default_service_name, int argc, char** argv,
            const std::function<void(Settings&)>& declare_modules,
            const std::function<void(App&)>& install_modules) {
  try {
    auto settings = std::make_shared<Settings>(std::vector<std::string>(argv + 1, argv + argc));
    Config::declare(*settings);
    declare_modules(*settings);
    if (settings->help_requested()) {
      std::printf("%s: a svckit service\n\n%s", default_service_name.c_str(),
                  settings->usage().c_str());
      return 0;
    }
    settings->check();
    Config config = Config::from(settings, default_service_name);
    if (settings->print_requested()) {
      std::printf("%s", settings->effective().c_str());
      return 0;
    }
    App app(std::move(config));
    for (const auto& [variable, setting] : settings->near_misses())
      app.logger().warning("environment variable one letter away from a setting: a typo?",
                           {{"variable", variable}, {"setting", setting}});
    install_modules(app);
    return app.run();
  } catch (const ConfigError& e) {
    // One line naming the variable, exit code 2: the operator's mistake, not the program's.
    std::fprintf(stderr, "%s: %s\n", default_service_name.c_str(), e.what());
    return 2;
  } catch (const sql::MigrationFailed& e) {
    // The schema is as it was: the operator fixes the migration or the database, not a retry.
    std::fprintf(stderr, "%s: %s\n", default_service_name.c_str(), e.detail().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: start-up failed: %s\n", default_service_name.c_str(), e.what());
    return 1;
  }
}

}  // namespace svckit
