#pragma once
// What the Integration Hub stores and answers (seed 000 §4.2.5), each described once
// (Boost.Describe): that gives the JSON in and out, its checks, the row and the schema in
// /openapi.json. Webhook bodies are not models: their bytes are what the signature covers.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/model/rules.hpp>

namespace aether::integration_hub {

inline constexpr std::array<std::string_view, 3> kServices = {"github", "slack", "discord"};

// A row of the integrations table. Its credentials never leave the service.
struct IntegrationRow {
  std::string id;
  std::string service;
  std::string name;
  nlohmann::json credentials;
  nlohmann::json config;
  std::string status;
  std::optional<std::string> created_by;  // the owner
  std::string created_at;
  // Who else may use its credentials: user ids, or "*" for everyone with the permission.
  std::vector<std::string> shared_with;
};
BOOST_DESCRIBE_STRUCT(IntegrationRow, (),
                      (id, service, name, credentials, config, status, created_by, created_at,
                       shared_with))

// Who may use an integration's credentials besides its owner (and admins).
struct Sharing {
  std::vector<std::string> shared_with;
  static void rules(svckit::model::Rules<Sharing>& r) {
    r.field(&Sharing::shared_with)
        .items(0, 100)
        .describe("user ids (the token's sub), or \"*\" for everyone with the permission");
  }
};
BOOST_DESCRIBE_STRUCT(Sharing, (), (shared_with))

// POST /connect. Which credentials a service takes, and the 16 KiB limits, are checked by the
// handler: they depend on the service.
struct Connection {
  std::string service;
  std::map<std::string, std::string> credentials;
  std::map<std::string, nlohmann::json> config;  // "name": what the list shows (the service's)
  std::vector<std::string> shared_with;          // as Sharing: nobody else by default
  static void rules(svckit::model::Rules<Connection>& r) {
    r.field(&Connection::shared_with)
        .defaulted()
        .items(0, 100)
        .describe("who else may use it: user ids, or \"*\" for everyone with the permission");
    r.field(&Connection::service).one_of(kServices);
    r.field(&Connection::credentials)
        .describe(
            "github: token, webhook_secret; slack: bot_token, signing_secret; "
            "discord: public_key, bot_token");
    r.field(&Connection::config).defaulted().describe("any JSON object, at most 16 KiB");
  }
};
BOOST_DESCRIBE_STRUCT(Connection, (), (service, credentials, config, shared_with))

struct Connected {
  std::string integration_id;
  std::string status;
};
BOOST_DESCRIBE_STRUCT(Connected, (), (integration_id, status))

struct IntegrationSummary {
  std::string integration_id;
  std::string name;
  std::string type;  // the service
  std::string status;
  std::string created_at;
  std::optional<std::string> owner;
  std::vector<std::string> shared_with;
};
BOOST_DESCRIBE_STRUCT(IntegrationSummary, (),
                      (integration_id, name, type, status, created_at, owner, shared_with))

struct IntegrationList {
  std::vector<IntegrationSummary> integrations;
};
BOOST_DESCRIBE_STRUCT(IntegrationList, (), (integrations))

// POST /github/repos: which GitHub integration's token to use.
struct RepoQuery {
  std::string integration_id;
  static void rules(svckit::model::Rules<RepoQuery>& r) {
    r.field(&RepoQuery::integration_id).length(1, 64);
  }
};
BOOST_DESCRIBE_STRUCT(RepoQuery, (), (integration_id))

struct RepoList {
  std::vector<nlohmann::json> repos;  // as GitHub answers them
};
BOOST_DESCRIBE_STRUCT(RepoList, (), (repos))

struct SlackMessage {
  std::string integration_id;
  std::string channel;
  std::string message;
  static void rules(svckit::model::Rules<SlackMessage>& r) {
    r.field(&SlackMessage::integration_id).length(1, 64);
    r.field(&SlackMessage::channel).length(1, 128);
    r.field(&SlackMessage::message).length(1, 40000);
  }
};
BOOST_DESCRIBE_STRUCT(SlackMessage, (), (integration_id, channel, message))

struct SlackSent {
  bool success = true;
  std::string message_id;  // Slack's "ts"
};
BOOST_DESCRIBE_STRUCT(SlackSent, (), (success, message_id))

struct WebhookReceived {
  bool received = true;
};
BOOST_DESCRIBE_STRUCT(WebhookReceived, (), (received))

}  // namespace aether::integration_hub
