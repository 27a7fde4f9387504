#include "agent_service.hpp"

#include <charconv>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/describe/class.hpp>
#include <svckit/ai/model.hpp>
#include <svckit/app/ai_models.hpp>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/comma_list.hpp>
#include <svckit/error.hpp>
#include <svckit/http/event_stream.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>

#include "agent_store.hpp"
#include "planner.hpp"
#include "run_engine.hpp"
#include "toolbox.hpp"

namespace raptorflow::agent {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct AgentBody {
  std::string name;
  std::string instructions;
  std::vector<std::string> skills;
  std::optional<std::string> model;  // default: local
  std::optional<json> limits;
  static void rules(svckit::model::Rules<AgentBody>& r) {
    r.field(&AgentBody::name).length(1, 100);
    r.field(&AgentBody::instructions).length(0, 8000);
    r.field(&AgentBody::model).length(1, 64);
    r.field(&AgentBody::limits)
        .describe("max_steps (1-200), max_seconds (1-3600), max_tokens, max_tool_calls (1-100)");
  }
};
BOOST_DESCRIBE_STRUCT(AgentBody, (), (name, instructions, skills, model, limits))

struct SkillBody {
  std::string name;
  std::string description;
  json input_schema;
  std::optional<json> output_schema;
  std::string kind;  // http | builtin
  json config;
  static void rules(svckit::model::Rules<SkillBody>& r) {
    r.field(&SkillBody::name).length(1, 64).pattern("[a-z][a-z0-9_-]*");
    r.field(&SkillBody::description).length(1, 2000);
    r.field(&SkillBody::kind).one_of({"http", "builtin"});
    r.field(&SkillBody::config).describe("http: {url, method, timeout_ms}; builtin: {builtin}");
  }
};
BOOST_DESCRIBE_STRUCT(SkillBody, (), (name, description, input_schema, output_schema, kind, config))

struct RunBody {
  std::string input;
  static void rules(svckit::model::Rules<RunBody>& r) { r.field(&RunBody::input).length(1, 32768); }
};
BOOST_DESCRIBE_STRUCT(RunBody, (), (input))

struct DocumentBody {
  std::string title;
  std::string text;
  static void rules(svckit::model::Rules<DocumentBody>& r) {
    r.field(&DocumentBody::title).length(1, 500);
    r.field(&DocumentBody::text).length(1, 1 << 20);
  }
};
BOOST_DESCRIBE_STRUCT(DocumentBody, (), (title, text))

json agent_json(const Agent& a) {
  return {{"id", a.id},
          {"owner", a.owner},
          {"name", a.name},
          {"instructions", a.instructions},
          {"skills", a.skills},
          {"model", a.model},
          {"limits", Limits::from(a.limits).to_json()},
          {"created_at", svckit::utc_iso8601(a.created_ms / 1000)},
          {"updated_at", svckit::utc_iso8601(a.updated_ms / 1000)}};
}

json skill_json(const Skill& s) {
  return {{"name", s.name},
          {"description", s.description},
          {"input_schema", s.input_schema},
          {"output_schema", s.output_schema},
          {"kind", s.kind},
          {"config", s.config}};
}

json step_json(const Step& s) {
  return {{"seq", s.seq}, {"kind", s.kind}, {"content", s.content}, {"at_ms", s.at_ms}};
}

json run_json(const Run& r) {
  json out = {{"id", r.id},
              {"agent_id", r.agent_id},
              {"user_id", r.user_id},
              {"input", r.input},
              {"status", r.status},
              {"planner", r.planner},
              {"created_ms", r.created_ms},
              {"started_ms", r.started_ms},
              {"finished_ms", r.finished_ms},
              {"step_count", r.steps},
              {"tool_calls", r.tool_calls},
              {"tokens", r.tokens},
              {"cancel_requested", r.cancel_requested}};
  if (r.output) out["output"] = *r.output;
  if (r.error) out["error"] = *r.error;
  return out;
}

bool finished(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "cancelled";
}

}  // namespace

struct AgentService::Impl {
  svckit::App* app = nullptr;
  std::unique_ptr<AgentStore> store;
  std::unique_ptr<Toolbox> toolbox;
  std::unique_ptr<RunEngine> engine;
  std::vector<std::unique_ptr<svckit::ai::Model>> models;
  std::map<std::string, std::unique_ptr<Planner>, std::less<>> planners;  // by model id

  Planner* planner_for(const std::string& model) {
    auto it = planners.find(model);
    return it == planners.end() ? nullptr : it->second.get();
  }

  // A run the caller may see: theirs, or anyone's with agents:write.
  Task<Run> visible_run(const Request& req, std::string id) {
    auto run = co_await store->run(id);
    const auto& who = *svckit::auth::principal(req);
    if (!run || (run->user_id != who.id && !who.has("agents:write")))
      throw svckit::NotFound("no run '" + id + "'");
    co_return *run;
  }

  Task<void> check_agent(const AgentBody& body) {
    if (body.skills.size() > 50) throw svckit::ValidationError("skills", "at most 50");
    for (const auto& name : body.skills)
      if (!co_await store->skill(name))
        throw svckit::ValidationError("skills", "no skill '" + name.substr(0, 64) + "'");
    auto model = body.model.value_or("local");
    if (!planner_for(model))
      throw svckit::ValidationError("model", "no model '" + model + "' (AI_MODELS names them)");
    Limits::from(body.limits.value_or(json()));
  }

  Task<Response> add_agent(Request& req) {
    auto body = req.json<AgentBody>();
    co_await check_agent(body);
    Agent a{svckit::uuid_v4(),
            svckit::auth::principal(req)->id,
            body.name,
            body.instructions,
            body.skills,
            body.model.value_or("local"),
            body.limits.value_or(json::object()),
            now_ms(),
            now_ms()};
    co_await store->put_agent(a);
    auto answer = Response::json(201, agent_json(a));
    answer.set_header("Location", "/api/v1/agents/" + a.id);
    co_return answer;
  }

  Task<Response> put_agent(Request& req) {
    auto body = req.json<AgentBody>();
    auto a = co_await store->agent(req.param("id"));
    if (!a) throw svckit::NotFound("no agent '" + req.param("id") + "'");
    co_await check_agent(body);
    a->name = body.name;
    a->instructions = body.instructions;
    a->skills = body.skills;
    a->model = body.model.value_or("local");
    a->limits = body.limits.value_or(json::object());
    a->updated_ms = now_ms();
    co_await store->put_agent(*a);
    co_return Response::json(200, agent_json(*a));
  }

  Task<Response> get_agent(Request& req) {
    auto a = co_await store->agent(req.param("id"));
    if (!a) throw svckit::NotFound("no agent '" + req.param("id") + "'");
    co_return Response::json(200, agent_json(*a));
  }

  Task<Response> list_agents(Request&) {
    json out = json::array();
    auto agents = co_await store->agents();
    for (const auto& a : agents) out.push_back(agent_json(a));
    co_return Response::json(200, {{"agents", out}});
  }

  Task<Response> delete_agent(Request& req) {
    if (!co_await store->remove_agent(req.param("id")))
      throw svckit::NotFound("no agent '" + req.param("id") + "'");
    co_return Response::empty(204);
  }

  Task<Response> add_skill(Request& req) {
    auto body = req.json<SkillBody>();
    Skill s{body.name, body.description, body.input_schema, body.output_schema.value_or(json()),
            body.kind, body.config,      now_ms()};
    toolbox->check(s);
    if (!co_await store->add_skill(s)) throw svckit::Conflict("a skill '" + s.name + "' exists");
    co_return Response::json(201, skill_json(s));
  }

  Task<Response> list_skills(Request&) {
    json out = json::array();
    auto skills = co_await store->skills();
    for (const auto& s : skills) out.push_back(skill_json(s));
    co_return Response::json(200, {{"skills", out}});
  }

  Task<Response> get_skill(Request& req) {
    auto s = co_await store->skill(req.param("name"));
    if (!s) throw svckit::NotFound("no skill '" + req.param("name") + "'");
    co_return Response::json(200, skill_json(*s));
  }

  Task<Response> delete_skill(Request& req) {
    auto name = req.param("name");
    for (const auto& b : Toolbox::builtins())
      if (b.name == name) throw svckit::Conflict("'" + name + "' is built in");
    if (!co_await store->remove_skill(name)) throw svckit::NotFound("no skill '" + name + "'");
    co_return Response::empty(204);
  }

  Task<Response> start_run(Request& req) {
    auto body = req.json<RunBody>();
    auto agent = co_await store->agent(req.param("id"));
    if (!agent) throw svckit::NotFound("no agent '" + req.param("id") + "'");
    const auto& who = *svckit::auth::principal(req);
    engine->reserve(who.id);  // 429 past the bounds
    Run run;
    run.id = svckit::uuid_v4();
    run.agent_id = agent->id;
    run.user_id = who.id;
    run.input = body.input;
    run.status = "queued";
    run.planner = agent->model;  // (no conditional temporaries in a coroutine: GCC 12)
    if (auto* planner = planner_for(agent->model)) run.planner = planner->label();
    run.created_ms = now_ms();
    try {
      co_await store->add_run(run, engine->holder(), engine->lease_until());
    } catch (...) {
      engine->unreserve(who.id);
      throw;
    }
    engine->submit(run.id, who.id);
    auto answer = Response::json(202, run_json(run));
    answer.set_header("Location", "/api/v1/runs/" + run.id);
    co_return answer;
  }

  Task<Response> get_run(Request& req) {
    auto run = co_await visible_run(req, req.param("id"));
    json out = run_json(run);
    out["steps"] = json::array();
    auto steps = co_await store->steps(run.id, 0);
    for (const auto& s : steps) out["steps"].push_back(step_json(s));
    co_return Response::json(200, out);
  }

  Task<Response> list_runs(Request& req) {
    const auto& who = *svckit::auth::principal(req);
    bool everyone = req.query_param("all") == "true";
    if (everyone && !who.has("agents:write"))
      throw svckit::Forbidden("everyone's runs need the permission agents:write");
    auto limit = svckit::http::query_int("limit", req.query_param("limit"), 50, 1, 500);
    json out = json::array();
    // Named: no temporary (a conditional's, an optional's) in a co_await expression (GCC 12
    // destroys them twice).
    std::string user;
    if (!everyone) user = who.id;
    std::string agent = req.query_param("agent_id").value_or("");
    auto runs = co_await store->runs(std::move(user), std::move(agent), limit);
    for (const auto& r : runs) out.push_back(run_json(r));
    co_return Response::json(200, {{"runs", out}});
  }

  Task<Response> cancel_run(Request& req) {
    auto run = co_await visible_run(req, req.param("id"));
    if (finished(run.status)) throw svckit::Conflict("the run has " + run.status + " already");
    co_await store->request_cancel(run.id);
    co_return Response::json(202, {{"id", run.id}, {"cancel_requested", true}});
  }

  Task<Response> add_document(Request& req) {
    auto body = req.json<DocumentBody>();
    Document d{svckit::uuid_v4(), body.title, body.text};
    co_await store->add_document(d);
    co_return Response::json(201, {{"id", d.id}, {"title", d.title}});
  }

  // Server-sent events: every step after Last-Event-ID (the step's seq), then each new one as
  // it is written, then the run's end ("end" event, the stream closes).
  Task<void> events(svckit::http::EventStream stream, Request& req) {
    auto run = co_await visible_run(req, req.param("id"));
    std::int64_t after = 0;
    if (const auto& last = stream.last_event_id(); !last.empty()) {
      auto [p, ec] = std::from_chars(last.data(), last.data() + last.size(), after);
      if (ec != std::errc()) after = 0;
    }
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor);
    std::weak_ptr<asio::steady_timer> weak = timer;
    auto watching = engine->watch(run.id, [weak] {
      if (auto t = weak.lock())
        asio::post(t->get_executor(), [weak] {
          if (auto t2 = weak.lock()) t2->cancel();
        });
    });
    while (stream.is_open()) {
      auto fresh = co_await store->steps(run.id, after);
      for (const auto& s : fresh) {
        stream.send({step_json(s).dump(), s.kind, std::to_string(s.seq)});
        after = s.seq;
      }
      auto now = co_await store->run(run.id);
      if (!now || finished(now->status)) {
        // The last step may have been written between the two reads.
        auto last = co_await store->steps(run.id, after);
        for (const auto& s : last) {
          stream.send({step_json(s).dump(), s.kind, std::to_string(s.seq)});
          after = s.seq;
        }
        json end = {{"status", "gone"}};
        if (now) end["status"] = now->status;
        if (now && now->output) end["output"] = *now->output;
        if (now && now->error) end["error"] = *now->error;
        stream.send({end.dump(), "end", ""});
        stream.close();
        break;
      }
      // Woken by a step written here, or a second later (a run another replica executes).
      timer->expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_await stream.closed();
  }
};

AgentService::AgentService() : impl_(std::make_unique<Impl>()) {}
AgentService::~AgentService() = default;

void AgentService::declare(svckit::Settings& settings) {
  auto integer = [&settings](const char* name, std::int64_t fallback, std::int64_t max,
                             const char* help) {
    settings.declare("agent", {.name = name,
                               .type = svckit::SettingType::integer,
                               .default_value = std::to_string(fallback),
                               .min = 1,
                               .max = max,
                               .help = help});
  };
  integer("AGENT_CONCURRENCY", 1000, 100000, "runs executing at once in this replica");
  integer("AGENT_QUEUE", 1000, 1000000, "runs waiting for room beyond those; past it, 429");
  integer("AGENT_RUNS_PER_USER", 200, 100000, "runs one user may have queued or executing");
  settings.declare("agent", {.name = "AGENT_LEASE",
                             .type = svckit::SettingType::duration,
                             .default_value = "15s",
                             .min = 500,
                             .max = 3'600'000,
                             .help = "how long a replica holds a run without writing a step; "
                                     "a run whose holder died resumes elsewhere after it"});
  settings.declare("agent", {.name = "AGENT_FILES_URL",
                             .type = svckit::SettingType::url,
                             .choices = {"http://", "https://"},
                             .help = "the File Storage service the files skill reads from, as "
                                     "the run's user (needs JWT_SECRET_KEY to sign for them)"});
  settings.declare("agent", {.name = "AGENT_TOOL_URLS",
                             .help = "URL prefixes HTTP skills may call, comma-separated (none: "
                                     "no HTTP skills)"});
  svckit::declare_ai_models(settings);
}

void AgentService::install(svckit::App& app) {
  Impl& s = *impl_;
  s.app = &app;
  const auto& config = app.settings();
  auto& db = app.database("agent");
  s.store = std::make_unique<AgentStore>(db, app.outbox("agent"));
  s.store->migrate();
  FilesAccess files;
  files.url = config.text("AGENT_FILES_URL");
  while (files.url.ends_with('/')) files.url.pop_back();
  if (auto secret = config.text("JWT_SECRET_KEY"); !secret.empty())
    files.signer = svckit::auth::Key::hmac(svckit::auth::Algorithm::HS256, secret);
  if (config.is_set("JWT_ISSUER")) files.issuer = config.text("JWT_ISSUER");
  if (auto aud = config.text("JWT_AUDIENCE"); !aud.empty())
    files.audience = aud.substr(0, aud.find(','));
  s.toolbox =
      std::make_unique<Toolbox>(*s.store, svckit::comma_list(config.text("AGENT_TOOL_URLS")),
                                std::move(files), &app.metrics());
  s.models = svckit::ai_models_from_settings(app);
  for (auto& m : s.models)
    s.planners.emplace(m->spec.id,
                       m->spec.provider == "local" ? directive_planner() : model_planner(*m));
  EngineOptions options;
  options.concurrency = static_cast<std::size_t>(config.integer("AGENT_CONCURRENCY"));
  options.queue = static_cast<std::size_t>(config.integer("AGENT_QUEUE"));
  options.per_user = static_cast<std::size_t>(config.integer("AGENT_RUNS_PER_USER"));
  options.lease = config.duration("AGENT_LEASE");
  s.engine = std::make_unique<RunEngine>(
      app, *s.store, *s.toolbox, [&s](const std::string& model) { return s.planner_for(model); },
      options);

  auto auth = svckit::required_bearer_options_from_settings(app, "the Agent service");
  auto api = app.http().group("/api/v1", {svckit::auth::bearer(auth)});
  auto write = svckit::auth::require("agents:write");
  using svckit::http::bind;
  api.post("/skills", write, bind(&s, &Impl::add_skill))
      .summary("Add a skill: a tool with a JSON Schema for its input (agents:write)")
      .accepts<SkillBody>()
      .responds(201)
      .errors({409, 422});
  api.get("/skills", bind(&s, &Impl::list_skills)).summary("The skills, built-ins included");
  api.get("/skills/{name}", bind(&s, &Impl::get_skill)).summary("A skill").errors({404});
  api.del("/skills/{name}", write, bind(&s, &Impl::delete_skill))
      .summary("Remove a skill (agents:write)")
      .responds(204)
      .errors({404, 409});
  api.post("/agents", write, bind(&s, &Impl::add_agent))
      .summary("Define an agent: name, instructions, skills, model, limits (agents:write)")
      .accepts<AgentBody>()
      .responds(201)
      .errors({422});
  api.get("/agents", bind(&s, &Impl::list_agents)).summary("The agents");
  api.get("/agents/{id}", bind(&s, &Impl::get_agent)).summary("An agent").errors({404});
  api.put("/agents/{id}", write, bind(&s, &Impl::put_agent))
      .summary("Change an agent (agents:write)")
      .accepts<AgentBody>()
      .errors({404, 422});
  api.del("/agents/{id}", write, bind(&s, &Impl::delete_agent))
      .summary("Remove an agent (agents:write)")
      .responds(204)
      .errors({404});
  api.post("/agents/{id}/runs", bind(&s, &Impl::start_run))
      .summary("Run an agent on an input: 202, the run queued or started")
      .accepts<RunBody>()
      .responds(202)
      .errors({404, 429});
  api.get("/runs", bind(&s, &Impl::list_runs))
      .summary("The caller's runs, newest first")
      .query("agent_id", "only this agent's")
      .query("all", "true: everyone's (agents:write)")
      .query("limit", "1-500 (default 50)");
  api.get("/runs/{id}", bind(&s, &Impl::get_run)).summary("A run and its steps").errors({404});
  api.post("/runs/{id}/cancel", bind(&s, &Impl::cancel_run))
      .summary("Cancel a run: it ends at its next step")
      .responds(202)
      .errors({404, 409});
  // Whose run it is is checked before the stream's head goes out: another user's is a 404.
  svckit::http::Middleware visible = [&s](Request& req,
                                          const svckit::http::Handler& next) -> Task<Response> {
    co_await s.visible_run(req, req.param("id"));
    co_return co_await next(req);
  };
  api.events("/runs/{id}/events",
             [&s](svckit::http::EventStream stream, Request& req) {
               return s.events(std::move(stream), req);
             },
             {}, {visible})
      .summary("A run's steps as server-sent events (Last-Event-ID resumes), then \"end\"");
  api.post("/documents", write, bind(&s, &Impl::add_document))
      .summary("Add a document the retrieval skill searches (agents:write)")
      .accepts<DocumentBody>()
      .responds(201);
}

Task<void> AgentService::start(svckit::App& app) {
  Impl& s = *impl_;
  for (auto& b : Toolbox::builtins()) {
    b.created_ms = 1;
    co_await s.store->add_skill(b);  // once; kept as they were
  }
  app.run_in_background("agent runs", [&s] { return s.engine->adopt_orphans(); });
  app.run_in_background("agent leases", [&s] { return s.engine->keep_leases(); });
  co_return;
}

Task<void> AgentService::stop(svckit::App&) {
  impl_->engine->stop();
  // Runs waiting here give their leases up: another replica (or the next process) takes them
  // at once rather than after the lease.
  try {
    co_await impl_->store->release_queued(impl_->engine->holder());
  } catch (const std::exception&) {
  }
}

}  // namespace raptorflow::agent
