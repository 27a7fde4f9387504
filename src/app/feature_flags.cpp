#include "svckit/app/feature_flags.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "svckit/app/app.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/http/client.hpp"
#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"

namespace svckit {

namespace asio = boost::asio;
using nlohmann::json;

// Fetches flag sets and hands them to the client: from the service (with If-None-Match, so an
// unchanged set costs a 304) or from a file (when its modification time moves).
struct FeatureFlags::Follower {
  App* app = nullptr;
  std::shared_ptr<flags::FlagClient> client;
  http::Client* service = nullptr;
  std::string token, file, etag;
  std::filesystem::file_time_type file_time{};
  std::chrono::milliseconds interval{30'000};
  std::unique_ptr<asio::steady_timer> timer;

  void load_file() {
    std::error_code ec;
    auto when = std::filesystem::last_write_time(file, ec);
    if (ec) throw ConfigError("FLAGS_FILE", "cannot read " + file + ": " + ec.message());
    if (when == file_time) return;  // unchanged (any move, forwards or back, is a change)
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    auto doc = json::parse(text.str(), nullptr, false);
    if (doc.is_discarded()) throw ConfigError("FLAGS_FILE", file + " is not JSON");
    try {
      auto set = flags::FlagSet::parse(doc);
      file_time = when;
      client->replace(std::move(set), client->version() + 1);
    } catch (const flags::FlagSetError& e) {
      throw ConfigError("FLAGS_FILE", file + ": " + e.what());
    }
  }

  Task<void> fetch() {
    http::ClientRequest request{.target = "/api/v1/flags"};
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    if (!etag.empty()) request.headers.emplace_back("If-None-Match", etag);
    auto response = co_await service->send(std::move(request));
    if (response.status == 304) co_return;
    if (response.status != 200)
      throw std::runtime_error("GET /api/v1/flags answered " + std::to_string(response.status));
    auto body = response.json();
    auto version = body.value("version", std::int64_t{0});
    client->replace(flags::FlagSet::parse(body.at("document")), version);
    if (auto tag = response.header("ETag")) etag = std::string(*tag);
  }

  // One refresh: a failure is logged and the set held stays.
  Task<void> refresh_once() {
    try {
      if (!file.empty()) load_file();
      if (service) co_await fetch();
    } catch (const std::exception& e) {
      app->logger().warning("feature flags: keeping version " + std::to_string(client->version()) +
                            ": " + e.what());
    }
  }

  // Refreshes run one at a time, on loop 0 (the poll's; events are posted there): two at once
  // would race on the ETag and the file's time. One asked for meanwhile runs once more after.
  // An event names the version it announces: the replica asked may not have it yet (each
  // replica hears the same event), so a 304 then is asked again, a little later, a few times.
  bool running = false, again = false;
  std::int64_t wanted = 0;
  Task<void> refresh() {
    if (running) {
      again = true;
      co_return;
    }
    running = true;
    do {
      again = false;
      co_await refresh_once();
      for (int attempt = 0; client->version() < wanted && attempt < 8 && service; ++attempt) {
        asio::steady_timer pause(*app->loops()[0], std::chrono::milliseconds(100 << attempt));
        auto [ec] = co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        co_await refresh_once();
      }
    } while (again);
    wanted = 0;  // asked for long enough: the poll takes over (a stray version never haunts)
    running = false;
  }

  Task<void> poll() {
    timer = std::make_unique<asio::steady_timer>(*app->loops()[0]);
    while (true) {
      timer->expires_after(interval);
      auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted) co_return;  // the App stops
      co_await refresh();
    }
  }
};

FeatureFlags::FeatureFlags()
    : client_(std::make_shared<flags::FlagClient>()), follower_(std::make_shared<Follower>()) {}
FeatureFlags::~FeatureFlags() = default;

void FeatureFlags::declare(Settings& settings) {
  settings.declare("flags", {.name = "FLAGS_URL",
                             .type = SettingType::url,
                             .choices = {"http://", "https://"},
                             .help = "the Configuration service the feature flags come from"});
  settings.declare("flags", {.name = "FLAGS_TOKEN",
                             .type = SettingType::secret,
                             .help = "the bearer token FLAGS_URL is called with"});
  settings.declare("flags", {.name = "FLAGS_FILE",
                             .type = SettingType::file,
                             .help = "a flagd flag-definition file (instead of FLAGS_URL)"});
  settings.declare("flags", {.name = "FLAGS_POLL_INTERVAL",
                             .type = SettingType::duration,
                             .default_value = "30s",
                             .min = 100,
                             .help = "how often the flags are asked for again"});
}

void FeatureFlags::install(App& app) {
  auto& f = *follower_;
  f.app = &app;
  f.client = client_;
  f.file = app.settings().text("FLAGS_FILE");
  f.token = app.settings().text("FLAGS_TOKEN");
  f.interval = app.settings().duration("FLAGS_POLL_INTERVAL");
  if (auto url = app.settings().text("FLAGS_URL"); !url.empty())
    f.service = &app.client("flags", url);
  if (!f.file.empty()) f.load_file();  // a broken file stops start-up, naming FLAGS_FILE
  if (!f.service && f.file.empty()) return;
  // Every replica hears of a change: a group of its own, gone a minute after the replica is.
  bus::SubscribeOptions once{.expires_unused = std::chrono::minutes(1)};
  std::weak_ptr<Follower> weak = follower_;
  app.bus().subscribe(
      "flags-" + uuid_v4(), "config.flag.changed",
      [weak](const bus::Event& event) -> Task<bus::Outcome> {
        // Whatever the event says, ask (an unchanged set costs a 304); its version, when it
        // names one, is what to keep asking for.
        const auto it = event.data.is_object() ? event.data.find("version") : event.data.end();
        const std::int64_t version =
            it != event.data.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
        if (auto f = weak.lock())
          asio::co_spawn(
              *f->app->loops()[0],
              [f, version]() -> Task<void> {
                f->wanted = std::max(f->wanted, version);
                co_await f->refresh();
              },
              asio::detached);
        co_return bus::Outcome::success;
      },
      once);
  app.run_in_background("feature flags", [weak]() -> Task<void> {
    if (auto f = weak.lock()) co_await f->poll();
  });
}

Task<void> FeatureFlags::start(App&) {
  if (follower_->service) co_await follower_->refresh();  // best effort: defaults until it answers
}

}  // namespace svckit
