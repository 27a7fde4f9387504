#include "secrets_api.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/auth/principal.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_group.hpp>
#include <svckit/http/server.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

#include "configuration_models.hpp"
#include "conventions.hpp"

namespace raptorflow::configuration {

namespace {

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// The path's service and name, checked (422 naming which).
std::pair<std::string, std::string> address_of(const svckit::http::Request& req, bool with_name) {
  auto service = service_param(req);
  std::string name;
  if (with_name) {
    name = req.param("name");
    if (!valid_name(name))
      throw svckit::ValidationError("name", "must be 1-128 of A-Z a-z 0-9 - _ .");
  }
  return {service, name};
}

std::string who(const svckit::http::Request& req) {
  return req.context().user_id();
}

// The service a secret belongs to reads it; so does whoever holds secrets:read:<service>.
void check_reader(const svckit::http::Request& req, const std::string& service) {
  const auto* p = svckit::auth::principal(req.context());
  if (p && (p->id == service || p->has("secrets:read:" + service))) return;
  throw svckit::Forbidden("only the service " + service + " (or secrets:read:" + service +
                          ") reads its secrets");
}

std::string associated(const std::string& service, const std::string& name) {
  return "secret:" + service + "/" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw svckit::ConfigError("CONFIG_KEK_FILE", "cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void SecretsApi::declare(svckit::Settings& settings) {
  settings.declare("configuration",
                   {.name = "CONFIG_KEK_FILE",
                    .type = svckit::SettingType::file,
                    .help = "the key-encryption keys secrets are sealed with: one per line, "
                            "64 hex digits (openssl rand -hex 32), the first current"});
  settings.declare("configuration",
                   {.name = "CONFIG_KEK",
                    .type = svckit::SettingType::secret,
                    .help = "the same keys comma-separated (instead of CONFIG_KEK_FILE)"});
}

void SecretsApi::install(svckit::App& app) {
  const auto& s = app.settings();
  const auto file = s.text("CONFIG_KEK_FILE");
  const auto inline_keys = s.is_set("CONFIG_KEK") ? s.text("CONFIG_KEK") : std::string();
  const char* setting = file.empty() ? "CONFIG_KEK" : "CONFIG_KEK_FILE";
  try {
    box_.emplace(SecretBox::from_text(file.empty() ? inline_keys : read_file(file)));
  } catch (const std::invalid_argument& e) {
    throw svckit::ConfigError(setting, e.what());
  }
  if (!box_->ready())
    app.logger().warning(
        "no key-encryption key (CONFIG_KEK_FILE, CONFIG_KEK): the secrets API answers 503");
  store_ = std::make_unique<SecretStore>(app.database("configuration"));
  store_->migrate();

  using svckit::http::bind;
  auto auth = svckit::required_bearer_options_from_settings(app, "the Configuration service");
  auto api = app.http().group("/api/v1/config", {svckit::auth::bearer(auth)});
  auto write = svckit::auth::require("secrets:write");
  api.put("/secrets/{service}/{name}", write, bind(this, &SecretsApi::put))
      .summary(
          "Set a service's secret (secrets:write); sealed at rest, the value never answered back")
      .accepts<SecretWrite>()
      .returns<SecretInfo>()
      .errors({503});
  api.get("/secrets/{service}/{name}", bind(this, &SecretsApi::get))
      .summary("A secret's value: for the service it belongs to, or secrets:read:<service>")
      .returns<SecretValue>()
      .errors({403, 404, 503});
  api.get("/secrets/{service}", write, bind(this, &SecretsApi::list))
      .summary("A service's secrets: names and versions, no values (secrets:write)")
      .returns<SecretList>();
  api.del("/secrets/{service}/{name}", write, bind(this, &SecretsApi::remove))
      .summary("Remove a secret (secrets:write)")
      .responds(204)
      .errors({404});
  api.get("/secret-events/{service}", write, bind(this, &SecretsApi::events))
      .summary(
          "Who set, read, removed or re-sealed a service's secrets, newest first (secrets:write)")
      .returns<SecretEvents>();
  api.post("/secret-keys/rotate", svckit::auth::require("secrets:admin"),
           bind(this, &SecretsApi::rotate))
      .summary("Seal every data key again with the current key-encryption key (secrets:admin)")
      .returns<Rotation>()
      .errors({503});
}

const SecretBox& SecretsApi::box() const {
  if (!box_ || !box_->ready())
    throw svckit::ServiceUnavailable("no key-encryption key is configured (CONFIG_KEK_FILE)", 60);
  return *box_;
}

SecretsApi::Task SecretsApi::put(Request& req) {
  auto [service, name] = address_of(req, true);
  const auto& sealer = box();
  auto body = req.json<SecretWrite>();
  auto sealed = sealer.seal(body.value, associated(service, name));
  auto version = co_await store_->put(service, name, std::move(sealed), who(req));
  SecretInfo info{name, version, who(req), svckit::utc_now_iso8601(), sealer.current_id()};
  co_return Response::json(200, svckit::model::to_json(info));
}

SecretsApi::Task SecretsApi::get(Request& req) {
  auto [service, name] = address_of(req, true);
  check_reader(req, service);
  const auto& opener = box();
  auto found = co_await store_->get(service, name);
  if (!found) throw svckit::NotFound("no secret " + name + " for " + service);
  SecretValue value{service, name, opener.open(found->sealed, associated(service, name)),
                    found->version, iso8601(found->updated_at)};
  co_await store_->record(service, name, "read", who(req));
  co_return Response::json(200, svckit::model::to_json(value));
}

SecretsApi::Task SecretsApi::list(Request& req) {
  auto [service, name] = address_of(req, false);
  auto found = co_await store_->list(service);
  SecretList out{service, {}};
  for (const auto& f : found)
    out.secrets.push_back(
        {f.name, f.version, f.updated_by, iso8601(f.updated_at), f.sealed.kek_id});
  co_return Response::json(200, svckit::model::to_json(out));
}

SecretsApi::Task SecretsApi::remove(Request& req) {
  auto [service, name] = address_of(req, true);
  if (!co_await store_->remove(service, name, who(req)))
    throw svckit::NotFound("no secret " + name + " for " + service);
  co_return Response::empty(204);
}

SecretsApi::Task SecretsApi::events(Request& req) {
  auto [service, name] = address_of(req, false);
  auto found = co_await store_->events(service, 100);
  SecretEvents out;
  for (const auto& e : found) out.events.push_back({e.name, e.action, e.by, iso8601(e.at)});
  co_return Response::json(200, svckit::model::to_json(out));
}

SecretsApi::Task SecretsApi::rotate(Request& req) {
  const auto& sealer = box();
  auto stale = co_await store_->sealed_by_other_than(sealer.current_id());
  Rotation out{sealer.current_id(), 0, 0};
  for (const auto& secret : stale) {
    std::optional<Sealed> resealed;
    try {
      resealed = sealer.rewrap(secret.sealed, associated(secret.service, secret.name));
    } catch (const SealError&) {
      ++out.unreadable;  // its key is not loaded, or it was tampered with: left as it is
      continue;
    }
    if (co_await store_->reseal(secret, std::move(*resealed), who(req))) ++out.resealed;
  }
  co_return Response::json(200, svckit::model::to_json(out));
}

}  // namespace raptorflow::configuration
