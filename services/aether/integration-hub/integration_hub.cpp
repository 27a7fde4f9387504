#include "integration_hub.hpp"

#include <algorithm>
#include <ctime>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/principal.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/error.hpp>
#include <svckit/http/ascii.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/sql/mapping.hpp>

#include "webhook_signatures.hpp"

namespace aether::integration_hub {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

const svckit::sql::Migration kMigrations[] = {
    {1, "integrations and webhook deliveries",
     "CREATE TABLE integrations ("
     "  id TEXT PRIMARY KEY,"
     "  service TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  credentials TEXT NOT NULL,"  // never returned by the API
     "  config TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  created_by TEXT,"
     "  created_at TEXT NOT NULL);"
     // Deliveries already taken, known by their signature (lower-case), so that a
     // replayed webhook is refused even inside the timestamp window.
     "CREATE TABLE webhook_deliveries ("
     "  integration_id TEXT NOT NULL,"
     "  delivery_id TEXT NOT NULL,"
     "  received_at TEXT NOT NULL,"
     "  PRIMARY KEY (integration_id, delivery_id));",
     "DROP TABLE webhook_deliveries; DROP TABLE integrations"},
    // Credentials are their owner's unless shared. Rows from before have no owner on record
    // (created_by may be NULL): only admins see those, and can share them.
    {2, "integrations shared with",
     "ALTER TABLE integrations ADD COLUMN shared_with TEXT NOT NULL DEFAULT '[]'",
     "ALTER TABLE integrations DROP COLUMN shared_with"},
};

// Sees every integration and may share any.
constexpr const char* kAdminPermission = "integrations:admin";

bool may_use(const svckit::auth::Principal& who, const std::optional<std::string>& owner,
             const std::vector<std::string>& shared_with) {
  if (who.has(kAdminPermission) || owner == who.id) return true;
  return std::any_of(shared_with.begin(), shared_with.end(),
                     [&](const std::string& s) { return s == "*" || s == who.id; });
}

void check_sharing(const std::vector<std::string>& users) {
  for (const auto& user : users) svckit::http::require_length("shared_with[]", user, 1, 128);
}

constexpr std::size_t kMaxObjectBytes = 16 * 1024;

// The credentials each service needs: required names, then optional ones.
struct CredentialSpec {
  std::vector<std::string> required, optional;
};
CredentialSpec spec_of(std::string_view service) {
  if (service == "github") return {{"token"}, {"webhook_secret"}};
  if (service == "slack") return {{"bot_token", "signing_secret"}, {}};
  return {{"public_key"}, {"bot_token"}};  // discord
}

void check_credentials(std::string_view service, const std::map<std::string, std::string>& given) {
  auto spec = spec_of(service);
  for (const auto& [name, value] : given) {
    bool known =
        std::find(spec.required.begin(), spec.required.end(), name) != spec.required.end() ||
        std::find(spec.optional.begin(), spec.optional.end(), name) != spec.optional.end();
    if (!known)
      throw svckit::ValidationError("credentials." + name,
                                    "not a " + std::string(service) + " credential");
    if (value.empty() || value.size() > 4096)
      throw svckit::ValidationError("credentials." + name, "must be a string of 1-4096 characters");
  }
  for (const auto& name : spec.required)
    if (!given.contains(name)) throw svckit::ValidationError("credentials." + name, "is required");
  if (service == "discord" && !is_ed25519_public_key(given.at("public_key")))
    throw svckit::ValidationError("credentials.public_key", "must be 64 hex digits (Ed25519)");
}

std::string credential(const IntegrationRow& i, const char* name) {
  auto it = i.credentials.find(name);
  return it != i.credentials.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string header(const Request& req, std::string_view name) {
  return std::string(req.header(name).value_or(""));
}

// What a webhook says happened, by each service's conventions.
std::string event_type_of(const IntegrationRow& i, const Request& req, const nlohmann::json& p) {
  if (i.service == "github") return header(req, "X-GitHub-Event").substr(0, 128);
  if (i.service == "slack" && p.contains("event") && p["event"].is_object() &&
      p["event"].contains("type") && p["event"]["type"].is_string())
    return p["event"]["type"].get<std::string>().substr(0, 128);
  if (p.contains("type") && (p["type"].is_string() || p["type"].is_number_integer()))
    return (p["type"].is_string() ? p["type"].get<std::string>() : p["type"].dump()).substr(0, 128);
  return "unknown";
}

// An upstream's answer other than 2xx: a 502 naming it (the caller did nothing wrong).
[[noreturn]] void upstream_refused(std::string_view upstream,
                                   const svckit::http::ClientResponse& r) {
  throw svckit::Error(502, "about:blank", "Bad Gateway",
                      std::string(upstream) + " answered " + std::to_string(r.status));
}

const auto kInsert = svckit::sql::insert_sql<IntegrationRow>("integrations");
const auto kSelect = svckit::sql::select_sql<IntegrationRow>("integrations", " WHERE id = ?");

}  // namespace

void IntegrationHub::declare(svckit::Settings& settings) {
  using svckit::SettingType;
  settings.declare("integration-hub", {.name = "GITHUB_API_URL",
                                       .type = SettingType::url,
                                       .default_value = "https://api.github.com",
                                       .choices = {"http://", "https://"},
                                       .help = "where GitHub's API is"});
  settings.declare("integration-hub", {.name = "SLACK_API_URL",
                                       .type = SettingType::url,
                                       .default_value = "https://slack.com/api",
                                       .choices = {"http://", "https://"},
                                       .help = "where Slack's API is"});
  settings.declare("integration-hub",
                   {.name = "INTEGRATION_WEBHOOK_WINDOW_SECONDS",
                    .type = SettingType::integer,
                    .default_value = "300",
                    .min = 1,
                    .max = 3600,
                    .help = "how old a signed webhook's timestamp may be, in seconds"});
}

void IntegrationHub::install(svckit::App& app) {
  db_ = &app.database("integration-hub");
  db_->migrate("integration-hub", kMigrations);
  outbox_ = &app.outbox("integration-hub");
  github_ = &app.client("github", app.settings().text("GITHUB_API_URL"));
  slack_ = &app.client("slack", app.settings().text("SLACK_API_URL"));
  window_ = app.settings().integer("INTEGRATION_WEBHOOK_WINDOW_SECONDS");

  auto auth = svckit::required_bearer_options_from_settings(app, "Integration Hub");
  auto api = app.http().group("/api/v1/integrations", {svckit::auth::bearer(std::move(auth))});
  auto read = svckit::auth::require("integrations:read");
  auto write = svckit::auth::require("integrations:write");
  using svckit::http::bind;
  api.get("/", read, bind(this, &IntegrationHub::list))
      .summary("The integrations the caller may use, oldest first (never their credentials)")
      .returns<IntegrationList>();
  api.post("/connect", write, bind(this, &IntegrationHub::connect))
      .summary("Connect a GitHub, Slack or Discord integration")
      .accepts<Connection>()
      .returns<Connected>(201);
  api.put("/{id}/sharing", write, bind(this, &IntegrationHub::share))
      .summary("Who else may use an integration's credentials (its owner or an admin sets it)")
      .accepts<Sharing>()
      .returns<Sharing>()
      .errors({403, 404});
  api.post("/github/repos", read, bind(this, &IntegrationHub::github_repos))
      .summary("The repositories a GitHub integration's token sees")
      .accepts<RepoQuery>()
      .returns<RepoList>()
      .errors({404, 502});
  api.post("/slack/message", write, bind(this, &IntegrationHub::slack_message))
      .summary("Post a message to a Slack channel")
      .accepts<SlackMessage>()
      .returns<SlackSent>()
      .errors({404, 502});

  // Webhooks carry no bearer token: the signature is their authentication. They have a prefix
  // of their own, so that a gateway can make it public while /api/v1/integrations needs a token.
  auto hooks = app.http().group("/api/v1/webhooks");
  hooks.post("/{integration}", bind(this, &IntegrationHub::webhook))
      .summary("A webhook, signed by the integration's service (GitHub, Slack or Discord)")
      .returns<WebhookReceived>()
      .errors({400, 401, 404, 409});
}

Task<IntegrationRow> IntegrationHub::load(std::string id, std::string_view service) {
  auto r = co_await db_->read(kSelect, id);
  if (r.empty()) throw svckit::NotFound("no integration " + id.substr(0, 64));
  auto integration = svckit::sql::from_row<IntegrationRow>(r.rows[0]);
  if (!service.empty() && integration.service != service)
    throw svckit::ValidationError(
        "integration_id",
        "is a " + integration.service + " integration, not " + std::string(service));
  co_return integration;
}

Task<IntegrationRow> IntegrationHub::load_for(const Request& req, std::string id,
                                              std::string_view service) {
  auto integration = co_await load(id);
  // Someone else's is as absent as one that does not exist (its kind included): no probing.
  if (!may_use(*svckit::auth::principal(req), integration.created_by, integration.shared_with))
    throw svckit::NotFound("no integration " + id.substr(0, 64));
  if (!service.empty() && integration.service != service)
    throw svckit::ValidationError(
        "integration_id",
        "is a " + integration.service + " integration, not " + std::string(service));
  co_return integration;
}

Task<Response> IntegrationHub::list(Request& req) {
  auto r = co_await db_->read(
      "SELECT id AS integration_id, name, service AS type, status, created_at,"
      " created_by AS owner, shared_with FROM integrations ORDER BY created_at");
  const auto& who = *svckit::auth::principal(req);
  IntegrationList answer;
  for (const auto& row : r.rows) {
    auto summary = svckit::sql::from_row<IntegrationSummary>(row);
    if (may_use(who, summary.owner, summary.shared_with))
      answer.integrations.push_back(std::move(summary));
  }
  co_return svckit::http::json_response(200, answer);
}

Task<Response> IntegrationHub::share(Request& req) {
  auto sharing = req.json<Sharing>();
  check_sharing(sharing.shared_with);
  std::string id = req.param("id");
  auto integration = co_await load_for(req, std::move(id), {});
  const auto& who = *svckit::auth::principal(req);
  if (!who.has(kAdminPermission) && integration.created_by != who.id)
    throw svckit::Forbidden("only its owner or an admin shares an integration");
  std::string list = nlohmann::json(sharing.shared_with).dump();
  co_await db_->execute("UPDATE integrations SET shared_with = ? WHERE id = ?", list,
                        integration.id);
  req.log(svckit::log::Level::info, "integration shared",
          {{"integration_id", integration.id}, {"shared_with", list}});
  co_return svckit::http::json_response(200, sharing);
}

Task<Response> IntegrationHub::connect(Request& req) {
  auto input = req.json<Connection>();
  check_credentials(input.service, input.credentials);
  check_sharing(input.shared_with);
  IntegrationRow row{.id = svckit::uuid_v4(),
                     .service = input.service,
                     .name = input.service,
                     .credentials = input.credentials,
                     .config = input.config,
                     .status = "connected",
                     .created_by = req.user_id(),
                     .created_at = svckit::utc_now_iso8601(),
                     .shared_with = input.shared_with};
  if (row.config.dump().size() > kMaxObjectBytes)
    throw svckit::ValidationError("config", "larger than 16 KiB");
  if (auto n = input.config.find("name"); n != input.config.end()) {
    if (!n->second.is_string()) throw svckit::ValidationError("config.name", "must be a string");
    row.name = n->second.get<std::string>();
    svckit::http::require_length("config.name", row.name, 1, 128);
  }
  auto values = svckit::sql::values(row);  // named: GCC 12 and temporaries passed to coroutines
  co_await db_->execute(kInsert, std::move(values));
  req.log(svckit::log::Level::info, "integration connected",
          {{"integration_id", row.id}, {"service", row.service}});
  co_return svckit::http::json_response(201, Connected{row.id, row.status});
}

Task<Response> IntegrationHub::github_repos(Request& req) {
  auto input = req.json<RepoQuery>();
  auto integration = co_await load_for(req, std::move(input.integration_id), "github");
  svckit::http::ClientRequest call;
  call.target = "/user/repos?per_page=100";
  call.headers = {{"Authorization", "Bearer " + credential(integration, "token")},
                  {"Accept", "application/vnd.github+json"},
                  {"User-Agent", "aether-integration-hub"}};
  call.context = &req.context();
  auto answer = co_await github_->send(std::move(call));
  if (answer.status / 100 != 2) upstream_refused("GitHub", answer);
  auto repos = nlohmann::json::parse(answer.body, nullptr, false);
  if (!repos.is_array())
    throw svckit::Error(502, "about:blank", "Bad Gateway",
                        "GitHub's answer is not a list of repositories");
  RepoList list{repos.get<std::vector<nlohmann::json>>()};
  co_return svckit::http::json_response(200, list);
}

Task<Response> IntegrationHub::slack_message(Request& req) {
  auto input = req.json<SlackMessage>();
  auto integration = co_await load_for(req, input.integration_id, "slack");
  nlohmann::json text = {{"channel", input.channel}, {"text", input.message}};
  auto call = svckit::http::ClientRequest::json(svckit::http::Method::post, "/chat.postMessage",
                                                std::move(text));
  call.headers = {{"Authorization", "Bearer " + credential(integration, "bot_token")}};
  call.context = &req.context();
  call.idempotent = false;  // a retried post could send the message twice
  auto answer = co_await slack_->send(std::move(call));
  if (answer.status / 100 != 2) upstream_refused("Slack", answer);
  auto reply = nlohmann::json::parse(answer.body, nullptr, false);
  if (!reply.is_object() || !reply.value("ok", false))
    throw svckit::Error(502, "about:blank", "Bad Gateway",
                        "Slack refused the message: " +
                            (reply.is_object() ? reply.value("error", std::string("no reason"))
                                               : std::string("an answer that is not JSON")));
  co_return svckit::http::json_response(200, SlackSent{true, reply.value("ts", "")});
}

Task<Response> IntegrationHub::webhook(Request& req) {
  auto id = req.param("integration");
  if (id.size() > 64) throw svckit::NotFound("no such integration");
  auto integration = co_await load(id);
  const std::string& body = req.body();
  std::int64_t now = std::time(nullptr);
  Refusal refusal;
  // A delivery is known by its signature, the one thing a replayer cannot change: GitHub's
  // X-GitHub-Delivery is not signed (a captured delivery resent with a new id is the same
  // delivery), and hex is compared in one case (Discord's verifies in either).
  std::string signature;
  if (integration.service == "github") {
    signature = header(req, "X-Hub-Signature-256");
    if (credential(integration, "webhook_secret").empty())
      refusal = "the integration has no webhook_secret";
    else
      refusal = check_github(credential(integration, "webhook_secret"), signature, body);
  } else if (integration.service == "slack") {
    signature = header(req, "X-Slack-Signature");
    refusal = check_slack(credential(integration, "signing_secret"),
                          header(req, "X-Slack-Request-Timestamp"), signature, body, now, window_);
  } else {
    signature = header(req, "X-Signature-Ed25519");
    refusal = check_discord(credential(integration, "public_key"),
                            header(req, "X-Signature-Timestamp"), signature, body, now, window_);
  }
  if (!refusal.empty()) {
    req.log(svckit::log::Level::warning, "webhook refused",
            {{"integration_id", id}, {"service", integration.service}, {"reason", refusal}});
    throw svckit::Unauthorized("the webhook's signature is missing or wrong");
  }
  auto payload = nlohmann::json::parse(body, nullptr, false);
  if (payload.is_discarded()) throw svckit::BadRequest("the webhook's body is not JSON");
  // Handshakes the services expect answered, not recorded.
  if (integration.service == "discord" && payload.value("type", 0) == 1)
    co_return Response::json(200, {{"type", 1}});
  if (integration.service == "slack" && payload.value("type", "") == "url_verification")
    co_return Response::json(200, {{"challenge", payload.value("challenge", "")}});
  std::string delivery = svckit::http::ascii_lowered(signature.substr(0, 256));
  auto received_at = svckit::utc_now_iso8601();
  std::string event_type = event_type_of(integration, req, payload);
  nlohmann::json data = {{"integration_id", id},
                         {"service", integration.service},
                         {"event_type", event_type},
                         {"payload", std::move(payload)},
                         {"timestamp", received_at}};
  // The delivery is recorded and announced together (the transactional outbox): a replay is
  // refused, and a delivery taken is never left unannounced.
  auto record = [&](svckit::sql::Transaction& tx) -> Task<bool> {
    auto inserted = co_await tx.execute(
        "INSERT INTO webhook_deliveries (integration_id, delivery_id, received_at) "
        "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        id, delivery, received_at);
    if (inserted.changes == 0) co_return false;
    co_await outbox_->add(tx, "integration.webhook.received", std::move(data), &req.context());
    co_return true;
  };
  bool recorded = co_await db_->transaction(record);
  if (!recorded) throw svckit::Conflict("this webhook delivery was received already");
  outbox_->wake();
  co_return svckit::http::json_response(200, WebhookReceived{});
}

}  // namespace aether::integration_hub
