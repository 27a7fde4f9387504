#pragma once
// The AETHER-AI Integration Hub (seed 000 §4.2.5) as a svckit module: connects GitHub, Slack and
// Discord integrations (credentials stored, never returned), receives their webhooks with each
// service's own signature scheme, publishes `integration.webhook.received`, and calls their APIs
// through svckit's resilient client.
#include <cstdint>
#include <string>

#include <svckit/app/module.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>
#include <svckit/messaging/outbox.hpp>

#include "integrations.hpp"

namespace svckit::sql {
class Database;
}

namespace aether::integration_hub {

class IntegrationHub : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> list(Request& req);
  svckit::Task<Response> connect(Request& req);
  svckit::Task<Response> github_repos(Request& req);
  svckit::Task<Response> slack_message(Request& req);
  svckit::Task<Response> webhook(Request& req);
  svckit::Task<Response> share(Request& req);
  // The integration `id`, of `service` when one is named (a 422 on `field` when it is another).
  svckit::Task<IntegrationRow> load(std::string id, std::string_view service = {});
  // load() for a caller: 404 unless `req`'s principal owns it, is shared it, or is an admin.
  svckit::Task<IntegrationRow> load_for(const Request& req, std::string id,
                                        std::string_view service);

  svckit::sql::Database* db_ = nullptr;
  svckit::messaging::Outbox* outbox_ = nullptr;
  std::int64_t window_ = 300;               // INTEGRATION_WEBHOOK_WINDOW_SECONDS
  svckit::http::Client* github_ = nullptr;  // GITHUB_API_URL
  svckit::http::Client* slack_ = nullptr;   // SLACK_API_URL
};

}  // namespace aether::integration_hub
