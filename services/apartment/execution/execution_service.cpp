#include "execution_service.hpp"

#include <chrono>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

#include "apartment/roles.hpp"
#include "apartment/text.hpp"

namespace apartment::execution {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

struct ActionTarget {
  const char* action;
  const char* setting;
  const char* path;
  const char* help;
};
constexpr ActionTarget kTargets[] = {
    {"maintenance", "MAINTENANCE_SYSTEM_URL", "/work-orders",
     "the maintenance system: POST /work-orders"},
    {"billing", "BILLING_SYSTEM_URL", "/adjustments", "the billing system: POST /adjustments"},
    {"delivery", "DELIVERY_SYSTEM_URL", "/traces", "the delivery system: POST /traces"},
    {"notify", "NOTIFICATION_SYSTEM_URL", "/notifications",
     "the notification system: POST /notifications (POST /api/v1/notify too)"},
};

// The external system's reference for what it made: its answer's `id` or `reference`.
std::optional<std::string> reference_in(const svckit::http::ClientResponse& answer) {
  auto body = nlohmann::json::parse(answer.body, nullptr, false);
  if (!body.is_object()) return std::nullopt;
  for (const char* key : {"id", "reference"}) {
    auto it = body.find(key);
    if (it == body.end()) continue;
    if (it->is_string()) return utf8_prefix(it->get<std::string>(), 128);
    if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  }
  return std::nullopt;
}

// How long an attempt's claim lasts: the external call's timeout with room to record it.
constexpr std::chrono::milliseconds kAttemptClaim{30000};

// Another delivery of the order is calling out: 409 over HTTP, a retry on the bus.
struct AttemptUnderWay : svckit::Conflict {
  explicit AttemptUnderWay(const std::string& id)
      : svckit::Conflict("execution '" + id + "' has an attempt under way") {}
};

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

void ExecutionService::declare(svckit::Settings& settings) {
  settings.set_default("AUTH_ROLES", kRoles);
  for (const auto& t : kTargets)
    settings.declare("execution", {.name = t.setting,
                                   .type = svckit::SettingType::url,
                                   .choices = {"http://", "https://"},
                                   .help = std::string(t.help) +
                                           "; unset: the execution is recorded here only"});
  settings.declare("execution",
                   {.name = "EXECUTION_MAX_ATTEMPTS",
                    .type = svckit::SettingType::integer,
                    .default_value = "5",
                    .min = 1,
                    .max = 100,
                    .help = "attempts of an execution before it is failed and dead-lettered"});
  settings.declare("execution",
                   {.name = "EXECUTION_RETRY_BACKOFF",
                    .type = svckit::SettingType::duration,
                    .default_value = "1s",
                    .min = 10,
                    .max = 3'600'000,
                    .help = "the wait before the second attempt; it doubles up to 60 s"});
}

void ExecutionService::install(svckit::App& app) {
  app_ = &app;
  max_attempts_ = static_cast<int>(app.settings().integer("EXECUTION_MAX_ATTEMPTS"));
  store_ = std::make_unique<ExecutionStore>(app.database("execution"), app.outbox("execution"));
  store_->migrate();
  for (const auto& t : kTargets) {
    Target target{.path = t.path};
    if (auto url = app.settings().text(t.setting); !url.empty()) {
      // One call per attempt: the bus retries the execution with its backoff (each attempt
      // recorded), and the Idempotency-Key makes the repeats safe.
      svckit::http::ClientOptions options{.name = t.action};
      options.retry = svckit::RetryPolicy::none();
      target.client = &app.client(t.action, url, std::move(options));
      target.url = url;
    }
    targets_.emplace(t.action, std::move(target));
  }
  auto backoff = app.settings().duration("EXECUTION_RETRY_BACKOFF");
  svckit::bus::SubscribeOptions options{
      .retry = {.max_attempts = max_attempts_,
                .initial_backoff = backoff,
                .max_backoff = std::max(backoff, std::chrono::milliseconds(60000))}};
  app.bus().subscribe(
      "execution", kOptionSelected,
      [this](const svckit::bus::Event& e) { return on_option_selected(e); }, options);

  auto auth = svckit::required_bearer_options_from_settings(app, "Execution");
  auto api = app.http().group("/api/v1", {svckit::auth::bearer(std::move(auth))});
  using svckit::http::bind;
  api.post("/execute", svckit::auth::require("executions:write"),
           bind(this, &ExecutionService::execute))
      .summary("Carry out an order now (once per execution_id)")
      .accepts<ExecutionOrder>()
      .returns<Execution>()
      .errors({409});
  api.post("/notify", svckit::auth::require("executions:write"),
           bind(this, &ExecutionService::notify))
      .summary("Send a notification through the notification system")
      .accepts<NotifyRequest>()
      .returns<NotificationSent>(202)
      .errors({502, 503, 504});
  api.get("/executions/{id}", svckit::auth::require("executions:read"),
          bind(this, &ExecutionService::get))
      .summary("An execution and its attempts")
      .returns<Execution>();
  auto root = app.http().group("");
  app.health().serve_readiness_at(root, "/api/v1/health");
}

Task<Execution> ExecutionService::run(ExecutionOrder order, const svckit::Context& context,
                                      bool last_attempt) {
  const Target& target = targets_.at(order.action);
  std::string where = "local";  // no ?: here: GCC 12 mishandles class temporaries from one
  if (target.client) where = target.url + target.path;
  auto id = order.execution_id;
  auto claim = co_await store_->claim(order, std::move(where), kAttemptClaim, &context);
  if (claim.kind == Claim::Kind::done) {  // executed once, however often it is asked
    context.log(svckit::log::Level::info, "execution already done", {{"execution_id", id}});
    co_return std::move(claim.execution);
  }
  if (claim.kind == Claim::Kind::busy) throw AttemptUnderWay(id);
  Attempt attempt{.at = svckit::utc_now_iso8601()};
  std::optional<std::string> reference;
  auto started = std::chrono::steady_clock::now();
  if (!target.client) {
    // No system configured for this action (the embedded defaults): recorded here only.
    attempt.outcome = "succeeded";
    reference = "local-" + id;
  } else {
    auto call = svckit::http::ClientRequest::json(svckit::http::Method::post, target.path,
                                                  svckit::model::to_json(order));
    call.headers.emplace_back("Idempotency-Key", id);
    call.context = &context;
    call.idempotent = true;
    try {
      auto answer = co_await target.client->send(std::move(call));
      attempt.status = answer.status;
      if (answer.status >= 200 && answer.status < 300) {
        attempt.outcome = "succeeded";
        reference = reference_in(answer);
        if (!reference) reference = id;
      } else {
        attempt.outcome = "failed";
        attempt.error = order.action + " system answered " + std::to_string(answer.status);
      }
    } catch (const svckit::http::UpstreamError& failure) {
      attempt.outcome = "failed";
      attempt.error = failure.detail();
    }
  }
  attempt.duration_ms = std::round(milliseconds_since(started) * 1000) / 1000;
  auto level = svckit::log::Level::info;
  if (attempt.outcome != "succeeded") level = svckit::log::Level::warning;
  auto error = attempt.error.value_or("");
  auto outcome = attempt.outcome;
  auto e =
      co_await store_->finish(id, std::move(attempt), std::move(reference), last_attempt, &context);
  context.log(level, "execution attempt",
              {{"execution_id", id},
               {"attempt", static_cast<std::int64_t>(e.attempts.size())},
               {"outcome", outcome},
               {"error", error}});
  co_return e;
}

Task<svckit::bus::Outcome> ExecutionService::on_option_selected(const svckit::bus::Event& event) {
  ExecutionOrder order;
  try {
    order = svckit::model::from_json<ExecutionOrder>(event.data);
  } catch (const svckit::Error& bad) {
    // Retrying cannot mend it: logged and dropped.
    app_->logger().error("an execution order that cannot be read",
                         {{"event_id", event.id}, {"detail", bad.detail()}});
    co_return svckit::bus::Outcome::drop;
  }
  auto context = event.context(&app_->logger());
  // The bus's last attempt fails the execution: it is dead-lettered after it, and a replay
  // starts the count again.
  bool last = event.attempt >= max_attempts_;
  auto e = co_await run(std::move(order), context, last);
  if (e.status == "succeeded") co_return svckit::bus::Outcome::success;
  co_return svckit::bus::Outcome::retry;
}

Task<Response> ExecutionService::execute(Request& req) {
  auto order = req.json<ExecutionOrder>();
  // One attempt now; a failure leaves it executing for the caller (or the bus) to try again.
  auto e = co_await run(std::move(order), req.context(), false);
  co_return svckit::http::json_response(200, e);
}

Task<Response> ExecutionService::notify(Request& req) {
  auto in = req.json<NotifyRequest>();
  NotificationSent sent{.notification_id = svckit::uuid_v4(), .status = "sent"};
  const Target& target = targets_.at("notify");
  if (!target.client) {
    sent.target = "local";
    req.log(svckit::log::Level::info, "notification recorded (no NOTIFICATION_SYSTEM_URL)",
            {{"notification_id", sent.notification_id}, {"channel", in.channel}});
    co_return svckit::http::json_response(202, sent);
  }
  sent.target = target.url + target.path;
  auto body = svckit::model::to_json(in);
  body["notification_id"] = sent.notification_id;
  auto call = svckit::http::ClientRequest::json(svckit::http::Method::post, target.path, body);
  call.headers.emplace_back("Idempotency-Key", sent.notification_id);
  call.context = &req.context();
  call.idempotent = true;
  auto answer = co_await target.client->send(std::move(call));
  if (answer.status < 200 || answer.status >= 300)
    throw svckit::Error(502, "about:blank", "Bad Gateway",
                        "the notification system answered " + std::to_string(answer.status));
  co_return svckit::http::json_response(202, sent);
}

Task<Response> ExecutionService::get(Request& req) {
  auto id = req.param("id");
  auto e = co_await store_->find(id);
  if (!e) throw svckit::NotFound("no execution '" + id + "'");
  co_return svckit::http::json_response(200, *e);
}

}  // namespace apartment::execution
