#include "svckit/app/auth_settings.hpp"

#include <stdexcept>

#include "svckit/auth/jwks_fetcher.hpp"

namespace svckit {

auth::Revocations& revocations(App& app) {
  if (auto* kept = app.kept<auth::Revocations>("auth:revocations")) return *kept;
  auto& made = app.keep("auth:revocations", std::make_shared<auth::Revocations>(app.kv()));
  app.run_in_background("revocations", [&made] { return made.keep_fresh(); });
  return made;
}

auth::BearerOptions bearer_options_from_settings(App& app) {
  auto get = [&app](std::string_view name) { return app.settings().text(name); };
  auth::BearerOptions options;
  auto verifier = auth::verifier_from_settings(get);
  options.roles = auth::roles_from_settings(get);
  options.certificate_roles = auth::certificate_roles_from_settings(get);
  if (auto url = get("JWKS_URL"); !url.empty() && verifier) {
    auth::JwksFetcherOptions fetch;
    fetch.ca_file = get("JWKS_CA_FILE");
    fetch.allow_plain_http = app.settings().boolean("JWKS_ALLOW_HTTP");
    fetch.allow_symmetric = app.settings().boolean("JWKS_ALLOW_SYMMETRIC");
    fetch.refresh_interval = std::chrono::seconds(app.settings().integer("JWKS_REFRESH_SECONDS"));
    fetch.min_refresh_interval = std::min(fetch.min_refresh_interval, fetch.refresh_interval);
    fetch.static_keys = *verifier->keys();
    std::shared_ptr<auth::JwksFetcher> fetcher;
    try {
      fetcher = std::make_shared<auth::JwksFetcher>(url, verifier, std::move(fetch), app.logger());
    } catch (const std::invalid_argument& e) {
      throw ConfigError("JWKS_URL", e.what());
    }
    verifier->set_on_unknown_kid([weak = std::weak_ptr(fetcher)] {
      if (auto f = weak.lock()) f->refresh_soon();
    });
    app.run_in_background("jwks", [fetcher] { return fetcher->run(); });
    // A flag read, so not cached: /ready turns UP the moment the first set has arrived.
    app.health().readiness(
        "jwks",
        [fetcher]() -> Task<bool> {
          if (!fetcher->loaded())
            throw std::runtime_error("no key set from " + fetcher->url() + " yet");
          co_return true;
        },
        {.cache_for = std::chrono::milliseconds(0)});
  }
  options.verifier = std::move(verifier);
  options.revocations = &revocations(app);
  return options;
}

auth::BearerOptions required_bearer_options_from_settings(App& app, std::string_view service) {
  auto options = bearer_options_from_settings(app);
  if (!options.verifier)
    throw ConfigError("JWT_SECRET_KEY", std::string(service) +
                                            " checks tokens: set JWT_SECRET_KEY, "
                                            "JWT_PUBLIC_KEY_FILE, JWKS_FILE or JWKS_URL");
  return options;
}

}  // namespace svckit
