#pragma once
// The AETHER-AI Integration Hub (seed 000 §4.2.5) as a svckit module: connects GitHub, Slack and
// Discord integrations (credentials stored, never returned), receives their webhooks with each
// service's own signature scheme, publishes `integration.webhook.received`, and calls their APIs
// through svckit's resilient client.
#include <memory>

#include <svckit/app/module.hpp>
#include <svckit/http/client.hpp>

namespace aether::integration_hub {

class IntegrationHub : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  svckit::http::Client* github_ = nullptr;  // GITHUB_API_URL
  svckit::http::Client* slack_ = nullptr;   // SLACK_API_URL
};

}  // namespace aether::integration_hub
