#pragma once
// The AETHER-AI Analytics service (seed 000 §4.2.4) as a svckit module: it records the events
// other services publish (task.*, ai.*, integration.*) and what clients post, and answers usage,
// error and system-health questions about them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <svckit/app/module.hpp>
#include <svckit/http/client.hpp>

namespace svckit::sql {
class Database;
}

namespace aether::analytics {

class Analytics : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  struct Probe {
    std::string name;
    std::unique_ptr<svckit::http::Client> client;
  };
  std::vector<Probe> probes_;  // ANALYTICS_SERVICES, asked for /ready by GET /health
};

}  // namespace aether::analytics
