#include "integration_hub.hpp"

#include <ctime>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/ids.hpp>
#include <svckit/sql/database.hpp>

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
     // Deliveries already taken (GitHub's delivery id, or the signature itself), so that a
     // replayed webhook is refused even inside the timestamp window.
     "CREATE TABLE webhook_deliveries ("
     "  integration_id TEXT NOT NULL,"
     "  delivery_id TEXT NOT NULL,"
     "  received_at TEXT NOT NULL,"
     "  PRIMARY KEY (integration_id, delivery_id));"},
};

constexpr std::array<std::string_view, 3> kServices = {"github", "slack", "discord"};
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

nlohmann::json checked_credentials(std::string_view service, const nlohmann::json& given) {
  auto spec = spec_of(service);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : given.items()) {
    bool known =
        std::find(spec.required.begin(), spec.required.end(), name) != spec.required.end() ||
        std::find(spec.optional.begin(), spec.optional.end(), name) != spec.optional.end();
    if (!known)
      throw svckit::ValidationError("credentials." + name,
                                    "not a " + std::string(service) + " credential");
    if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
        value.get_ref<const std::string&>().size() > 4096)
      throw svckit::ValidationError("credentials." + name, "must be a string of 1-4096 characters");
    out[name] = value;
  }
  for (const auto& name : spec.required)
    if (!out.contains(name)) throw svckit::ValidationError("credentials." + name, "is required");
  if (service == "discord" && !is_ed25519_public_key(out["public_key"].get<std::string>()))
    throw svckit::ValidationError("credentials.public_key", "must be 64 hex digits (Ed25519)");
  return out;
}

struct Integration {
  std::string id, service, name, status;
  nlohmann::json credentials;
};

Task<Integration> load(svckit::sql::Database& db, const std::string& id) {
  std::vector<svckit::sql::Value> key{id};
  auto r = co_await db.read(
      "SELECT id, service, name, status, credentials FROM integrations WHERE id = ?",
      std::move(key));
  if (r.empty()) throw svckit::NotFound("no integration " + id.substr(0, 64));
  const auto& row = r.rows[0];
  co_return Integration{row.text("id"), row.text("service"), row.text("name"), row.text("status"),
                        nlohmann::json::parse(row.text("credentials"))};
}

Task<Integration> load_service(svckit::sql::Database& db, const Request& req,
                               std::string_view service) {
  auto id = req.json_object().required_string("integration_id");
  svckit::http::require_length("integration_id", id, 1, 64);
  auto integration = co_await load(db, id);
  if (integration.service != service)
    throw svckit::ValidationError(
        "integration_id",
        "is a " + integration.service + " integration, not " + std::string(service));
  co_return integration;
}

std::string credential(const Integration& i, const char* name) {
  auto it = i.credentials.find(name);
  return it != i.credentials.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string header(const Request& req, std::string_view name) {
  return std::string(req.header(name).value_or(""));
}

// What a webhook says happened, by each service's conventions.
std::string event_type_of(const Integration& i, const Request& req, const nlohmann::json& p) {
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
  auto& db = app.database("integration-hub");
  db.migrate("integration-hub", kMigrations);
  auto& bus = app.bus();
  github_ = &app.client("github", app.settings().text("GITHUB_API_URL"));
  slack_ = &app.client("slack", app.settings().text("SLACK_API_URL"));
  std::int64_t window = app.settings().integer("INTEGRATION_WEBHOOK_WINDOW_SECONDS");

  auto auth = svckit::required_bearer_options_from_settings(app, "Integration Hub");
  auto api = app.http().group("/api/v1/integrations", {svckit::auth::bearer(std::move(auth))});
  auto read = svckit::auth::require("integrations:read");
  auto write = svckit::auth::require("integrations:write");

  api.get("/", read, [&db](Request&) -> Task<Response> {
    auto r = co_await db.read(
        "SELECT id, service, name, status, created_at FROM integrations ORDER BY created_at");
    nlohmann::json list = nlohmann::json::array();
    for (const auto& row : r.rows)
      list.push_back({{"integration_id", row.text("id")},
                      {"name", row.text("name")},
                      {"type", row.text("service")},
                      {"status", row.text("status")},
                      {"created_at", row.text("created_at")}});
    co_return Response::json(200, {{"integrations", list}});
  });

  api.post("/connect", write, [&db](Request& req) -> Task<Response> {
    auto body = req.json_object();
    auto service = body.required_string("service");
    svckit::http::require_one_of("service", service, kServices);
    auto given = body.optional_object("credentials");
    if (!given) throw svckit::ValidationError("credentials", "is required");
    if (given->dump().size() > kMaxObjectBytes)
      throw svckit::ValidationError("credentials", "larger than 16 KiB");
    auto credentials = checked_credentials(service, *given);
    auto config = body.optional_object("config").value_or(nlohmann::json::object());
    if (config.dump().size() > kMaxObjectBytes)
      throw svckit::ValidationError("config", "larger than 16 KiB");
    std::string name = service;
    if (auto n = config.find("name"); n != config.end()) {
      if (!n->is_string()) throw svckit::ValidationError("config.name", "must be a string");
      name = n->get<std::string>();
      svckit::http::require_length("config.name", name, 1, 128);
    }
    std::string id = svckit::uuid_v4();
    std::vector<svckit::sql::Value> row{id,
                                        service,
                                        name,
                                        credentials.dump(),
                                        config.dump(),
                                        std::string("connected"),
                                        req.user_id(),
                                        svckit::utc_now_iso8601()};
    co_await db.execute(
        "INSERT INTO integrations (id, service, name, credentials, config, status, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        std::move(row));
    req.log(svckit::log::Level::info, "integration connected",
            {{"integration_id", id}, {"service", service}});
    co_return Response::json(201, {{"integration_id", id}, {"status", "connected"}});
  });

  api.post("/github/repos", read, [this, &db](Request& req) -> Task<Response> {
    auto integration = co_await load_service(db, req, "github");
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
    co_return Response::json(200, {{"repos", repos}});
  });

  api.post("/slack/message", write, [this, &db](Request& req) -> Task<Response> {
    auto integration = co_await load_service(db, req, "slack");
    auto body = req.json_object();
    auto channel = body.required_string("channel");
    auto message = body.required_string("message");
    svckit::http::require_length("channel", channel, 1, 128);
    svckit::http::require_length("message", message, 1, 40000);
    auto call = svckit::http::ClientRequest::json(svckit::http::Method::post, "/chat.postMessage",
                                                  {{"channel", channel}, {"text", message}});
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
    co_return Response::json(200, {{"success", true}, {"message_id", reply.value("ts", "")}});
  });

  // Webhooks carry no bearer token: the signature is their authentication.
  auto hooks = app.http().group("/api/v1/integrations");
  hooks.post("/{integration}/webhook", [&db, &bus, window](Request& req) -> Task<Response> {
    auto id = req.param("integration");
    if (id.size() > 64) throw svckit::NotFound("no such integration");
    auto integration = co_await load(db, id);
    const std::string& body = req.body();
    std::int64_t now = std::time(nullptr);
    Refusal refusal;
    std::string delivery;
    if (integration.service == "github") {
      if (credential(integration, "webhook_secret").empty())
        refusal = "the integration has no webhook_secret";
      else
        refusal = check_github(credential(integration, "webhook_secret"),
                               header(req, "X-Hub-Signature-256"), body);
      delivery = header(req, "X-GitHub-Delivery");
    } else if (integration.service == "slack") {
      refusal = check_slack(credential(integration, "signing_secret"),
                            header(req, "X-Slack-Request-Timestamp"),
                            header(req, "X-Slack-Signature"), body, now, window);
      delivery = header(req, "X-Slack-Signature");
    } else {
      refusal =
          check_discord(credential(integration, "public_key"), header(req, "X-Signature-Timestamp"),
                        header(req, "X-Signature-Ed25519"), body, now, window);
      delivery = header(req, "X-Signature-Ed25519");
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
    if (delivery.empty()) delivery = svckit::uuid_v4();
    std::vector<svckit::sql::Value> seen{id, delivery.substr(0, 256), svckit::utc_now_iso8601()};
    auto inserted = co_await db.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (integration_id, delivery_id, received_at) "
        "VALUES (?, ?, ?)",
        std::move(seen));
    if (inserted.changes == 0) throw svckit::Conflict("this webhook delivery was received already");
    std::string event_type = event_type_of(integration, req, payload);
    nlohmann::json data = {{"integration_id", id},
                           {"service", integration.service},
                           {"event_type", event_type},
                           {"payload", std::move(payload)},
                           {"timestamp", svckit::utc_now_iso8601()}};
    co_await bus.publish("integration.webhook.received", std::move(data), &req.context());
    co_return Response::json(200, {{"received", true}});
  });
}

}  // namespace aether::integration_hub
