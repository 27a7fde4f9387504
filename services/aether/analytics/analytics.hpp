#pragma once
// The AETHER-AI Analytics service (seed 000 §4.2.4) as a svckit module: it records the events
// other services publish (task.*, ai.*, integration.*) and what clients post, and answers usage,
// error and system-health questions about them.
#include <memory>
#include <string>
#include <vector>

#include <svckit/app/module.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "events.hpp"
#include "reports.hpp"

namespace svckit::sql {
class Database;
}

namespace aether::analytics {

class Analytics : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<svckit::bus::Outcome> record(const svckit::bus::Event& event);
  svckit::Task<Response> post_event(Request& req);
  svckit::Task<Response> usage(Request& req);
  svckit::Task<Response> errors(Request& req);
  svckit::Task<Response> system_health(Request& req);
  svckit::Task<void> store(EventRow row);
  svckit::Task<Response> post_metric(Request& req);
  svckit::Task<Response> list_reports(Request& req);
  svckit::Task<Response> make_report(Request& req);

  struct Probe {
    std::string name;
    svckit::http::Client* client;
  };
  std::vector<Probe> probes_;  // ANALYTICS_SERVICES, asked for /ready by GET /health
  svckit::sql::Database* db_ = nullptr;
  svckit::messaging::Outbox* outbox_ = nullptr;
  std::unique_ptr<Reports> reports_;
  std::string data_dir_;
};

}  // namespace aether::analytics
