#pragma once
// Feature flags for a service: a flags::FlagClient kept up to date from the Configuration
// service or a flagd file, answering in-process (svckit/flags/flag_client.hpp).
//
//   void install(svckit::App& app) override {
//     flags_ = &app.require<svckit::FeatureFlags>().client();
//   }
//   ... if (flags_->boolean("new-checkout", false, {{"targetingKey", user}})) ...
//
// Settings:
//   FLAGS_URL           the Configuration service (GET /api/v1/flags); empty: none
//   FLAGS_TOKEN         the bearer token it is called with
//   FLAGS_FILE          a flagd flag-definition file instead (re-read when it changes)
//   FLAGS_POLL_INTERVAL how often to ask again (30s); a config.flag.changed event on the bus
//                       asks at once
// Until the first set arrives, and whenever the service is away, every answer is the code's
// default or the last set held: a flag never stops a service from starting or serving.
#include <memory>

#include "svckit/app/module.hpp"
#include "svckit/flags/flag_client.hpp"

namespace svckit {

class FeatureFlags : public Module {
 public:
  static void declare(Settings& settings);
  FeatureFlags();
  ~FeatureFlags() override;
  void install(App& app) override;
  Task<void> start(App& app) override;

  flags::FlagClient& client() { return *client_; }

 private:
  struct Follower;
  std::shared_ptr<flags::FlagClient> client_;
  std::shared_ptr<Follower> follower_;
};

}  // namespace svckit
