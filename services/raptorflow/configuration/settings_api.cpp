#include "settings_api.hpp"

#include <algorithm>
#include <charconv>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/auth/principal.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_group.hpp>
#include <svckit/http/server.hpp>
#include <svckit/ids.hpp>
#include <svckit/json_schema.hpp>
#include <svckit/model/json.hpp>

#include "configuration_models.hpp"
#include "conventions.hpp"
#include "flag_store.hpp"

namespace raptorflow::configuration {

using nlohmann::json;

namespace {

// The service itself reads its settings and schema; so does config:read.
void check_reader(const svckit::http::Request& req, const std::string& service) {
  const auto* p = svckit::auth::principal(req.context());
  if (p && (p->id == service || p->has("config:read"))) return;
  throw svckit::Forbidden("only the service " + service + " (or config:read) reads its settings");
}

// Each problem a field error at its place ("settings/timeout: must be at most 60").
svckit::ValidationError invalid(const std::string& field,
                                const std::vector<svckit::JsonSchema::Problem>& problems) {
  auto line = [&](const svckit::JsonSchema::Problem& p) {
    return field + p.path + ": " + p.message;
  };
  svckit::ValidationError error(field + problems.front().path, line(problems.front()));
  for (std::size_t i = 1; i < problems.size(); ++i)
    error.with_field_error(field + problems[i].path, line(problems[i]));
  return error;
}

svckit::JsonSchema compile(const json& schema) {
  try {
    return svckit::JsonSchema::compile(schema);
  } catch (const std::invalid_argument& e) {
    throw svckit::ValidationError("schema", e.what());
  }
}

SettingsReply reply_of(const std::string& environment, const SettingsVersion& v) {
  return {environment,           v.service, v.version, v.settings, v.author,
          iso8601(v.created_at), v.message};
}

}  // namespace

void SettingsApi::install(svckit::App& app, const std::string& environment) {
  environment_ = environment;
  store_ = std::make_unique<SettingsStore>(app.database("configuration"),
                                           app.outbox("configuration"), environment);
  store_->migrate();
  using svckit::http::bind;
  auto auth = svckit::required_bearer_options_from_settings(app, "the Configuration service");
  auto api = app.http().group("/api/v1/config", {svckit::auth::bearer(auth)});
  auto write = svckit::auth::require("config:write");
  api.put("/schemas/{service}", write, bind(this, &SettingsApi::put_schema))
      .summary(
          "Set the JSON Schema a service's settings must satisfy (config:write); refused while the "
          "settings in force do not")
      .accepts<SchemaWrite>()
      .returns<SchemaReply>();
  api.get("/schemas/{service}", bind(this, &SettingsApi::get_schema))
      .summary("A service's settings schema (the service itself, or config:read)")
      .returns<SchemaReply>()
      .errors({403, 404});
  api.put("/settings/{service}", write, bind(this, &SettingsApi::put_settings))
      .summary(
          "Replace a service's settings in this environment (config:write); checked by its schema, "
          "If-Match \"v<version>\" refuses a lost update")
      .accepts<SettingsWrite>()
      .returns<SettingsReply>()
      .errors({412});
  api.get("/settings/{service}", bind(this, &SettingsApi::get_settings))
      .summary(
          "A service's settings in force (the service itself, or config:read); ETag, If-None-Match "
          "304")
      .returns<SettingsReply>()
      .responds(304)
      .errors({403, 404});
  api.get("/settings/{service}/versions", svckit::auth::require("config:read"),
          bind(this, &SettingsApi::history))
      .summary("Every version of a service's settings, newest first (config:read)")
      .returns<SettingsHistory>();
}

SettingsApi::Task SettingsApi::put_schema(Request& req) {
  const auto service = service_param(req);
  auto body = req.json<SchemaWrite>();
  compile(body.schema);  // 422 naming where it is not a schema
  // A schema the settings in force fail would leave the service with settings nobody could
  // store again unchanged: refused, naming what fails (checked with the write, in one transaction).
  std::optional<SettingsSchema> stored;
  std::vector<svckit::JsonSchema::Problem> failing;
  try {
    stored = co_await store_->put_schema(service, std::move(body.schema), req.context().user_id());
  } catch (SettingsRejected& r) {
    failing = std::move(r.problems);
  }
  if (!failing.empty()) throw invalid("settings", failing);
  SchemaReply reply{service, stored->schema, stored->version, stored->updated_by,
                    iso8601(stored->updated_at)};
  co_return Response::json(200, svckit::model::to_json(reply));
}

SettingsApi::Task SettingsApi::get_schema(Request& req) {
  const auto service = service_param(req);
  check_reader(req, service);
  auto found = co_await store_->schema(service);
  if (!found) throw svckit::NotFound("no schema for " + service);
  SchemaReply reply{service, found->schema, found->version, found->updated_by,
                    iso8601(found->updated_at)};
  co_return Response::json(200, svckit::model::to_json(reply));
}

SettingsApi::Task SettingsApi::put_settings(Request& req) {
  const auto service = service_param(req);
  auto body = req.json<SettingsWrite>();
  if (!body.settings.is_object()) throw svckit::ValidationError("settings", "must be an object");
  const auto expected = if_match_version(req);
  std::optional<SettingsVersion> stored;
  std::int64_t stale = -1;
  std::vector<svckit::JsonSchema::Problem> failing;
  std::string unusable;
  try {
    stored = co_await store_->put(service, std::move(body.settings), req.context().user_id(),
                                  body.message.value_or(""), expected, &req.context());
  } catch (const StaleVersion& s) {
    stale = s.current;
  } catch (SettingsRejected& r) {
    failing = std::move(r.problems);
  } catch (const NoUsableSchema& n) {
    unusable = n.why;
  }
  if (!failing.empty()) throw invalid("settings", failing);
  if (!unusable.empty()) throw svckit::ValidationError("settings", unusable);
  if (stale >= 0)
    throw svckit::Error(412, "about:blank", "Precondition Failed",
                        service + "'s settings are at version " + std::to_string(stale) + " now");
  co_return Response::json(200, svckit::model::to_json(reply_of(environment_, *stored)));
}

SettingsApi::Task SettingsApi::get_settings(Request& req) {
  const auto service = service_param(req);
  check_reader(req, service);
  auto found = co_await store_->current(service);
  if (!found) throw svckit::NotFound("no settings for " + service + " in " + environment_);
  const auto etag = "\"v" + std::to_string(found->version) + "\"";
  if (auto match = req.header("If-None-Match"); match && *match == etag)
    co_return Response::empty(304).set_header("ETag", etag);
  co_return Response::json(200, svckit::model::to_json(reply_of(environment_, *found)))
      .set_header("ETag", etag);
}

SettingsApi::Task SettingsApi::history(Request& req) {
  const auto service = service_param(req);
  auto found = co_await store_->history(service, 100);
  SettingsHistory out;
  for (const auto& v : found) out.versions.push_back(reply_of(environment_, v));
  co_return Response::json(200, svckit::model::to_json(out));
}

}  // namespace raptorflow::configuration
