#include "request_management.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/app/idempotency.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

#include "apartment/execution.hpp"
#include "apartment/roles.hpp"
#include "apartment/text.hpp"

namespace apartment::requests {
namespace {

using svckit::Task;
using svckit::auth::Principal;
using svckit::http::Request;
using svckit::http::Response;

constexpr const char* kStatusChanged = "apartment.request.status_changed";
constexpr std::int64_t kRetryBatch = 20;
// A step the services refuse (4xx) is tried this often before the request fails.
constexpr std::int64_t kRefusedTries = 5;
// The history counts a risk input takes (RiskInput's range).
constexpr std::int64_t kMaxCount = 10000;

bool in_steps(const ServiceRequest& r) {
  return r.status == "submitted" || r.status == "pending" || r.status == "classified";
}

// The statuses a request may move to from each, by the flow or by staff.
bool may_move(std::string_view from, std::string_view to) {
  struct Move {
    std::string_view from, to;
  };
  static constexpr Move kMoves[] = {{"submitted", "pending"},
                                    {"submitted", "classified"},
                                    {"submitted", "failed"},
                                    {"pending", "classified"},
                                    {"pending", "options_ready"},
                                    {"pending", "failed"},
                                    {"classified", "options_ready"},
                                    {"classified", "pending"},
                                    {"classified", "failed"},
                                    {"options_ready", "option_selected"},
                                    {"options_ready", "resolved"},
                                    {"options_ready", "failed"},
                                    {"option_selected", "executing"},
                                    {"option_selected", "resolved"},
                                    {"option_selected", "failed"},
                                    {"executing", "resolved"},
                                    {"executing", "failed"},
                                    {"failed", "options_ready"},
                                    {"failed", "resolved"}};
  return std::any_of(std::begin(kMoves), std::end(kMoves),
                     [&](const Move& m) { return m.from == from && m.to == to; });
}

// Moves `r` to `status`, recorded in its history; the event announcing it.
Outgoing move(ServiceRequest& r, const std::string& status, std::optional<std::string> reason,
              const std::string& by) {
  Outgoing event{kStatusChanged,
                 {{"request_id", r.id},
                  {"resident_id", r.resident_id},
                  {"unit", r.unit},
                  {"from", r.status},
                  {"to", status}}};
  if (reason) event.data["reason"] = *reason;
  r.status = status;
  r.updated_at = svckit::utc_now_iso8601();
  r.history.push_back({status, r.updated_at, std::move(reason), by});
  return event;
}

const Principal& who(const Request& req) {
  return *svckit::auth::principal(req);
}

bool is_staff(const Principal& p) {
  return p.has("requests:manage");
}

svckit::NotFound no_request(const std::string& id) {
  return svckit::NotFound("no request '" + id + "'");
}

// A seed per request: the same request simulates the same way however often it is retried.
std::int64_t simulation_seed(const std::string& id) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return static_cast<std::int64_t>(h >> 12);
}

}  // namespace

void RequestManagement::declare(svckit::Settings& settings) {
  settings.set_default("AUTH_ROLES", kRoles);
  ServiceToken::declare(settings);
  auto url = [&](const char* name, const char* fallback, const char* help) {
    settings.declare("request-management", {.name = name,
                                            .type = svckit::SettingType::url,
                                            .default_value = fallback,
                                            .choices = {"http://", "https://"},
                                            .help = help});
  };
  url("AI_PROCESSING_SERVICE_URL", "http://127.0.0.1:8002",
      "AI Processing: classify, predict-risk");
  url("DECISION_SIMULATION_SERVICE_URL", "http://127.0.0.1:8003",
      "Decision & Simulation: simulate, decide");
  url("EXECUTION_SERVICE_URL", "http://127.0.0.1:8004",
      "Execution: an execution's attempts (GET /api/v1/requests/{id}/execution)");
  settings.declare("request-management",
                   {.name = "STEP_TIMEOUT",
                    .type = svckit::SettingType::duration,
                    .default_value = "5s",
                    .min = 10,
                    .max = 600'000,
                    .help = "the longest one step (classify, predict-risk, simulate, decide) may "
                            "take, retries included"});
  settings.declare("request-management", {.name = "SIMULATION_REPLICATIONS",
                                          .type = svckit::SettingType::integer,
                                          .default_value = "100",
                                          .min = 1,
                                          .max = 2000,
                                          .help = "replications of the simulation per request"});
  settings.declare("request-management",
                   {.name = "PENDING_RETRY_INTERVAL",
                    .type = svckit::SettingType::duration,
                    .default_value = "5s",
                    .min = 10,
                    .max = 3'600'000,
                    .help = "how often pending requests are looked at; a request's own wait "
                            "doubles from this with each failed try, up to 5 minutes"});
}

void RequestManagement::install(svckit::App& app) {
  app_ = &app;
  const auto& s = app.settings();
  replications_ = s.integer("SIMULATION_REPLICATIONS");
  retry_interval_ = s.duration("PENDING_RETRY_INTERVAL");
  token_ = std::make_unique<ServiceToken>(s);
  auto step = s.duration("STEP_TIMEOUT");
  // Long enough for the four steps at their longest: no other replica claims it meanwhile.
  step_lease_ = std::max<std::chrono::milliseconds>(std::chrono::minutes(2),
                                                    4 * step + std::chrono::seconds(30));
  auto& ai = app.client("ai-processing", s.text("AI_PROCESSING_SERVICE_URL"), {.timeout = step});
  auto& decisions = app.client("decision-simulation", s.text("DECISION_SIMULATION_SERVICE_URL"),
                               {.timeout = step});
  execution_ = &app.client("execution", s.text("EXECUTION_SERVICE_URL"), {.timeout = step});
  steps_ = std::make_unique<Steps>(ai, decisions, *token_);
  store_ = std::make_unique<RequestStore>(app.database("request-management"),
                                          app.outbox("request-management"));
  store_->migrate();

  app.bus().subscribe("request-management", "apartment.execution.*",
                      [this](const svckit::bus::Event& e) { return on_execution(e); });
  app.run_in_background("pending requests", [this]() -> Task<void> {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor);
    for (;;) {
      try {
        co_await retry_due();
      } catch (const std::exception& e) {
        app_->logger().warning("pending requests: a round failed", {{"error", e.what()}});
      }
      timer.expires_after(retry_interval_);
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
  });

  auto auth = svckit::required_bearer_options_from_settings(app, "Request Management");
  auto bearer = svckit::auth::bearer(std::move(auth));
  // A resident who retries a submission with its Idempotency-Key gets the request they made.
  auto requests = app.http().group("/api/v1/requests", {bearer, svckit::idempotency(app)});
  auto residents = app.http().group("/api/v1/residents", {bearer});
  auto read = svckit::auth::require("requests:read");
  auto write = svckit::auth::require("requests:write");
  auto manage = svckit::auth::require("requests:manage");
  using svckit::http::bind;
  auto whole = [](int min, int max) {
    return nlohmann::json{{"type", "integer"}, {"minimum", min}, {"maximum", max}};
  };
  requests.post("/", write, bind(this, &RequestManagement::create))
      .summary("Submit a request: classified, scored, options simulated and decided")
      .accepts<NewRequest>()
      .returns<ServiceRequest>(201)
      .errors({202, 403});
  requests.get("/", manage, bind(this, &RequestManagement::list))
      .summary("Every request, newest first (staff)")
      .query("status", "only requests in this status", svckit::http::one_of_schema(kStatuses))
      .query("category", "only this category", svckit::http::one_of_schema(kCategories))
      .query("urgency", "only this urgency", svckit::http::one_of_schema(kUrgencies))
      .query("unit", "only this unit")
      .query("resident_id", "only this resident's")
      .query("page", "the page, from 1 (default 1)", whole(1, 1'000'000))
      .query("limit", "requests per page (default 20)", whole(1, 100))
      .returns<RequestList>();
  requests.get("/{id}", read, bind(this, &RequestManagement::get))
      .summary("A request (a resident's own; any for staff)")
      .returns<ServiceRequest>();
  requests.put("/{id}", manage, bind(this, &RequestManagement::update_status))
      .summary("Move a request to another status (staff)")
      .accepts<StatusUpdate>()
      .returns<ServiceRequest>()
      .errors({409});
  requests.post("/{id}/select-option", write, bind(this, &RequestManagement::select_option))
      .summary("Choose one of the request's options: Execution carries it out")
      .accepts<OptionChoice>()
      .returns<ServiceRequest>()
      .errors({409});
  requests.post("/{id}/resolve", manage, bind(this, &RequestManagement::resolve))
      .summary("Resolve a request (staff)")
      .accepts<Resolution>()
      .returns<ServiceRequest>()
      .errors({409});
  requests.get("/{id}/execution", read, bind(this, &RequestManagement::execution))
      .summary("The execution of the request's selected option, with its attempts")
      .returns<Execution>()
      .errors({502, 503, 504});
  residents.get("/{id}/requests", read, bind(this, &RequestManagement::of_resident))
      .summary("A resident's requests, newest first (their own; any for staff)")
      .query("status", "only requests in this status", svckit::http::one_of_schema(kStatuses))
      .query("page", "the page, from 1 (default 1)", whole(1, 1'000'000))
      .query("limit", "requests per page (default 20)", whole(1, 100))
      .returns<RequestList>();
  auto root = app.http().group("");
  app.health().serve_readiness_at(root, "/api/v1/health");
}

Task<Response> RequestManagement::create(Request& req) {
  auto in = req.json<NewRequest>();
  const Principal& p = who(req);
  ServiceRequest r;
  r.id = svckit::uuid_v4();
  r.message = std::move(in.message);
  if (is_staff(p)) {
    // Staff submit for a resident, naming them and their unit.
    if (!in.resident_id) throw svckit::ValidationError("resident_id", "field required");
    if (!in.unit) throw svckit::ValidationError("unit", "field required");
    r.resident_id = *in.resident_id;
    r.unit = *in.unit;
  } else {
    if (in.resident_id && *in.resident_id != p.id)
      throw svckit::Forbidden("a resident submits requests for themself");
    // A resident's unit is their token's (an admin sets it): never what the body says.
    std::optional<std::string_view> claimed;
    if (p.claims) claimed = p.claims->string("unit");
    if (!claimed || claimed->empty() || claimed->size() > 32)
      throw svckit::Forbidden("your account names no unit (an admin sets the claim 'unit')");
    if (in.unit && *in.unit != *claimed)
      throw svckit::ValidationError("unit", "is not the unit of your account");
    r.unit = std::string(*claimed);
    r.resident_id = p.id;
  }
  r.status = "submitted";
  r.created_at = r.updated_at = svckit::utc_now_iso8601();
  r.history.push_back({"submitted", r.created_at, std::nullopt, p.id});
  // Stored before any step runs, and due for the background retry should this process stop
  // before the steps are done: nothing a resident submitted is lost.
  r.retry_at = svckit::utc_iso8601_after(step_lease_);
  auto id = r.id;
  co_await store_->insert(std::move(r));
  req.log(svckit::log::Level::info, "request submitted", {{"request_id", id}});
  auto done = co_await advance(id, req.context());
  if (!done) throw no_request(id);
  int status = 201;
  if (done->status == "pending") status = 202;  // stored; finished in the background
  auto answer = svckit::http::json_response(status, *done);
  answer.set_header("Location", "/api/v1/requests/" + id);
  co_return answer;
}

Task<std::optional<ServiceRequest>> RequestManagement::advance(std::string id,
                                                               const svckit::Context& context) {
  auto r = co_await store_->find(id);
  if (!r || !in_steps(*r)) co_return r;
  std::string reason;
  bool refused = false;
  try {
    if (!r->classification) {
      auto classification = co_await steps_->classify(r->message, context);
      auto since = svckit::utc_iso8601_after(-std::chrono::hours(24 * 90));
      RiskInput risk_input{.category = classification.category,
                           .urgency = classification.urgency,
                           .confidence = classification.confidence,
                           .message = r->message,
                           .unit = r->unit,
                           .submitted_at = r->created_at};
      auto prior = co_await store_->count_since(r->resident_id, since, id);
      auto open = co_await store_->count_open(r->unit, id);
      risk_input.prior_requests_90d = std::min(prior, kMaxCount);
      risk_input.open_requests_unit = std::min(open, kMaxCount);
      auto risk = co_await steps_->predict_risk(std::move(risk_input), context);
      auto classified = [&](ServiceRequest& s) -> std::vector<Outgoing> {
        if (!in_steps(s) || s.classification) return {};
        s.classification = classification;
        s.risk = risk;
        return {move(s, "classified", std::nullopt, "ai-processing")};
      };
      r = co_await store_->update(id, classified, &context);
      if (!r || !in_steps(*r)) co_return r;
    }
    SimulateRequest simulate{.category = r->classification->category,
                             .urgency = r->classification->urgency,
                             .risk_score = r->risk->risk_score,
                             .submitted_at = r->created_at,
                             .replications = replications_,
                             .seed = simulation_seed(id)};
    auto simulation = co_await steps_->simulate(std::move(simulate), context);
    DecideRequest decide{.category = r->classification->category,
                         .urgency = r->classification->urgency,
                         .risk_score = r->risk->risk_score,
                         .options = simulation.options,
                         .message = r->message};
    auto decision = co_await steps_->decide(std::move(decide), context);
    auto ready = [&](ServiceRequest& s) -> std::vector<Outgoing> {
      if (!in_steps(s)) return {};
      s.options = simulation.options;
      s.decision = decision;
      s.pending_reason.reset();
      s.retry_at.reset();
      return {move(s, "options_ready", std::nullopt, "decision-simulation")};
    };
    co_return co_await store_->update(id, ready, &context);
  } catch (const StepFailed& failed) {
    reason = failed.what();
    refused = failed.permanent;
  }
  // A step could not run: pending, tried again after a wait that doubles with each try.
  context.log(svckit::log::Level::warning, "request pending",
              {{"request_id", id}, {"reason", reason}});
  auto pending = [&](ServiceRequest& s) -> std::vector<Outgoing> {
    if (!in_steps(s)) return {};
    s.attempts += 1;
    s.pending_reason = reason;
    if (refused && s.attempts >= kRefusedTries) {
      // Refused each time: trying again cannot help. Staff see why.
      s.retry_at.reset();
      return {move(s, "failed", reason, "request-management")};
    }
    auto wait = std::min<std::chrono::milliseconds>(
        retry_interval_ * (1LL << std::min<std::int64_t>(s.attempts - 1, 16)),
        std::chrono::minutes(5));
    s.retry_at = svckit::utc_iso8601_after(wait);
    if (s.status == "pending") {
      s.updated_at = svckit::utc_now_iso8601();
      return {};
    }
    return {move(s, "pending", reason, "request-management")};
  };
  co_return co_await store_->update(id, pending, &context);
}

Task<void> RequestManagement::retry_due() {
  auto now = svckit::utc_now_iso8601();
  auto ids = co_await store_->due(now, kRetryBatch);
  for (const auto& id : ids) {
    auto r = co_await store_->find(id);
    if (!r || !r->retry_at) continue;
    auto seen = *r->retry_at;
    auto until = svckit::utc_iso8601_after(step_lease_);
    if (!co_await store_->claim(id, seen, until)) continue;  // another replica has it
    svckit::Context context(svckit::trace::random_hex(16), svckit::trace::TraceContext::start(),
                            &app_->logger());
    if (!in_steps(*r)) {
      // Steps done but the due time left set (a stop between writes): clear it.
      auto clear = [](ServiceRequest& s) -> std::vector<Outgoing> {
        if (!in_steps(s)) s.retry_at.reset();
        return {};
      };
      co_await store_->update(id, clear, &context);
      continue;
    }
    context.log(svckit::log::Level::info, "request steps retried",
                {{"request_id", id}, {"attempts", r->attempts}});
    co_await advance(id, context);
  }
}

Task<ServiceRequest> RequestManagement::visible(Request& req, std::string id) {
  auto r = co_await store_->find(id);
  const Principal& p = who(req);
  // Another resident's request is not found: whether it exists is not theirs to learn.
  if (!r || (!is_staff(p) && r->resident_id != p.id)) throw no_request(id);
  co_return std::move(*r);
}

Task<Response> RequestManagement::get(Request& req) {
  auto id = req.param("id");
  auto r = co_await visible(req, id);
  co_return svckit::http::json_response(200, r);
}

Task<Response> RequestManagement::list(Request& req) {
  RequestFilter f;
  f.status = svckit::http::query_one_of("status", req.query_param("status"), kStatuses);
  f.category = svckit::http::query_one_of("category", req.query_param("category"), kCategories);
  f.urgency = svckit::http::query_one_of("urgency", req.query_param("urgency"), kUrgencies);
  f.unit = req.query_param("unit");
  f.resident_id = req.query_param("resident_id");
  f.page = svckit::http::query_int("page", req.query_param("page"), 1, 1, 1'000'000);
  f.limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
  auto page = co_await store_->list(std::move(f));
  co_return svckit::http::json_response(200, page);
}

Task<Response> RequestManagement::of_resident(Request& req) {
  auto resident = req.param("id");
  const Principal& p = who(req);
  if (!is_staff(p) && resident != p.id) throw svckit::NotFound("no resident '" + resident + "'");
  RequestFilter f;
  f.resident_id = resident;
  f.status = svckit::http::query_one_of("status", req.query_param("status"), kStatuses);
  f.page = svckit::http::query_int("page", req.query_param("page"), 1, 1, 1'000'000);
  f.limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
  auto page = co_await store_->list(std::move(f));
  co_return svckit::http::json_response(200, page);
}

Task<Response> RequestManagement::update_status(Request& req) {
  auto id = req.param("id");
  auto in = req.json<StatusUpdate>();
  const Principal& p = who(req);
  // The flow sets the other statuses: selecting sets option_selected, Execution executing.
  if (in.status != "resolved" && in.status != "failed" && in.status != "options_ready")
    throw svckit::ValidationError("status", "staff set resolved, failed or options_ready; '" +
                                                in.status + "' is set by the request's flow");
  auto change = [&](ServiceRequest& s) -> std::vector<Outgoing> {
    if (s.status == in.status) return {};
    if (!may_move(s.status, in.status))
      throw svckit::Conflict("a request that is " + s.status + " cannot become " + in.status);
    if (in.status == "options_ready" && s.options.empty())
      throw svckit::Conflict("the request has no options to choose from");
    if (in.status == "options_ready") s.selected_option.reset();
    if (in.status == "resolved") s.resolution = in.reason.value_or("resolved by staff");
    return {move(s, in.status, in.reason, p.id)};
  };
  auto r = co_await store_->update(id, change, &req.context());
  if (!r) throw no_request(id);
  co_return svckit::http::json_response(200, *r);
}

Task<Response> RequestManagement::select_option(Request& req) {
  auto id = req.param("id");
  auto choice = req.json<OptionChoice>();
  const Principal& p = who(req);
  auto change = [&](ServiceRequest& s) -> std::vector<Outgoing> {
    if (!is_staff(p) && s.resident_id != p.id) throw no_request(id);
    // Choosing the chosen option again changes nothing: a retried click is not a second order.
    if (s.selected_option == choice.option_id) return {};
    if (s.status != "options_ready")
      throw svckit::Conflict("the request is " + s.status +
                             ": an option is chosen once its options are ready");
    auto option = std::find_if(s.options.begin(), s.options.end(),
                               [&](const ResolutionOption& o) { return o.id == choice.option_id; });
    if (option == s.options.end()) {
      std::string offered;
      for (const auto& o : s.options) offered += (offered.empty() ? "" : ", ") + o.id;
      throw svckit::ValidationError("option_id",
                                    "is not one of this request's options: " + offered);
    }
    if (!is_staff(p) && s.decision) {
      // A resident may choose what the building's policies allow without approval; staff decide
      // the rest (docs/apartment.md).
      for (const auto& scored : s.decision->ranking)
        if (scored.option_id == choice.option_id && (!scored.compliant || scored.requires_approval))
          throw svckit::Conflict("'" + choice.option_id +
                                 "' breaks a policy or needs approval: staff choose it");
    }
    s.selected_option = choice.option_id;
    ExecutionOrder order{.execution_id = s.id + "-" + choice.option_id,
                         .request_id = s.id,
                         .option_id = choice.option_id,
                         .action = option->action,
                         .category = s.classification->category,
                         .urgency = s.classification->urgency,
                         .unit = s.unit,
                         .resident_id = s.resident_id,
                         .summary = option->title + ": " + utf8_prefix(s.message, 500)};
    auto selected = move(s, "option_selected", std::nullopt, p.id);
    return {std::move(selected), {kOptionSelected, svckit::model::to_json(order)}};
  };
  auto r = co_await store_->update(id, change, &req.context());
  if (!r) throw no_request(id);
  co_return svckit::http::json_response(200, *r);
}

Task<Response> RequestManagement::resolve(Request& req) {
  auto id = req.param("id");
  auto in = req.json<Resolution>();
  const Principal& p = who(req);
  auto change = [&](ServiceRequest& s) -> std::vector<Outgoing> {
    if (s.status == "resolved") throw svckit::Conflict("the request is resolved already");
    s.resolution = in.note;
    return {move(s, "resolved", in.note, p.id)};
  };
  auto r = co_await store_->update(id, change, &req.context());
  if (!r) throw no_request(id);
  co_return svckit::http::json_response(200, *r);
}

Task<Response> RequestManagement::execution(Request& req) {
  auto id = req.param("id");
  auto r = co_await visible(req, id);
  if (!r.execution) throw svckit::NotFound("request '" + id + "' has no execution yet");
  svckit::http::ClientRequest call;
  call.target = "/api/v1/executions/" + r.execution->execution_id;
  call.headers.emplace_back("Authorization", token_->authorization());
  call.context = &req.context();
  auto answer = co_await execution_->send(std::move(call));
  if (answer.status != 200)
    throw svckit::Error(502, "about:blank", "Bad Gateway",
                        "Execution answered " + std::to_string(answer.status));
  co_return Response::json_text(200, answer.body);
}

Task<svckit::bus::Outcome> RequestManagement::on_execution(const svckit::bus::Event& event) {
  ExecutionUpdate update;
  try {
    update = svckit::model::from_json<ExecutionUpdate>(event.data);
  } catch (const svckit::Error& bad) {
    app_->logger().error("an execution event that cannot be read",
                         {{"event_id", event.id}, {"detail", bad.detail()}});
    co_return svckit::bus::Outcome::drop;
  }
  auto context = event.context(&app_->logger());
  auto change = [&](ServiceRequest& s) -> std::vector<Outgoing> {
    // Only the execution of the option selected now: one chosen before it (and reopened since)
    // may still report.
    if (!s.selected_option || update.execution_id != s.id + "-" + *s.selected_option) return {};
    // Events may come twice or out of order: an older attempt count changes nothing.
    if (s.execution && s.execution->execution_id == update.execution_id &&
        s.execution->attempts > update.attempts)
      return {};
    s.execution =
        ExecutionSummary{update.execution_id,       update.status, update.attempts,
                         update.external_reference, update.error,  svckit::utc_now_iso8601()};
    std::vector<Outgoing> out;
    if (event.type == kExecutionStarted && s.status == "option_selected") {
      out.push_back(move(s, "executing", std::nullopt, "execution"));
    } else if (event.type == kExecutionSucceeded && may_move(s.status, "resolved") &&
               s.status != "options_ready") {
      // An execution that ended had started, whichever of its events came first: the history
      // says so either way (the late start then changes nothing).
      if (s.status == "option_selected")
        out.push_back(move(s, "executing", std::nullopt, "execution"));
      s.resolution = "executed: " + update.external_reference.value_or(update.execution_id);
      out.push_back(move(s, "resolved", s.resolution, "execution"));
    } else if (event.type == kExecutionFailed && may_move(s.status, "failed") &&
               s.status != "options_ready") {
      if (s.status == "option_selected")
        out.push_back(move(s, "executing", std::nullopt, "execution"));
      out.push_back(move(s, "failed", update.error, "execution"));
    }
    return out;
  };
  auto r = co_await store_->update(update.request_id, change, &context);
  if (!r)
    app_->logger().warning("an execution event for no request",
                           {{"event_id", event.id}, {"request_id", update.request_id}});
  co_return svckit::bus::Outcome::success;
}

}  // namespace apartment::requests
