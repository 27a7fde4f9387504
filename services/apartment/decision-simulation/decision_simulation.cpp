#include "decision_simulation.hpp"

#include <chrono>
#include <filesystem>

#include <unistd.h>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>

#include "apartment/decision.hpp"
#include "apartment/retrieval.hpp"
#include "apartment/roles.hpp"
#include "apartment/simulation.hpp"
#include "policy.hpp"
#include "simulator.hpp"

namespace apartment::decision {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

std::int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// The related documents a decision cites besides those whose rules it applied.
constexpr std::int64_t kRelatedDocuments = 3;

}  // namespace

void DecisionSimulation::declare(svckit::Settings& settings) {
  settings.set_default("AUTH_ROLES", kRoles);
  settings.declare("decision-simulation",
                   {.name = "KNOWLEDGE_DIR",
                    .type = svckit::SettingType::file,
                    .default_value = APARTMENT_KNOWLEDGE_DIR,
                    .help = "the knowledge base: one Markdown document per policy or procedure"});
  settings.declare("decision-simulation",
                   {.name = "RAG_ENABLED",
                    .type = svckit::SettingType::boolean,
                    .default_value = "true",
                    .help = "retrieval over the knowledge base (rag/retrieve, the documents a "
                            "decision cites beside the rules it applies)"});
}

void DecisionSimulation::install(svckit::App& app) {
  app_ = &app;
  rag_enabled_ = app.settings().boolean("RAG_ENABLED");
  // Documents the code cannot read, or rules it does not know, stop start-up (exit 2).
  std::vector<Document> documents;
  try {
    documents = read_documents(app.settings().text("KNOWLEDGE_DIR"));
    for (const auto& d : documents) check_rules(d);
  } catch (const std::invalid_argument& e) {
    throw svckit::ConfigError("KNOWLEDGE_DIR", e.what());
  }
  // The index is derived from the files: a SQLite file of this process's own (replicas may share
  // DATA_DIR), built at start and removed at stop.
  index_file_ = app.config().data_dir + "/decision-simulation-knowledge-" +
                std::to_string(::getpid()) + ".db";
  auto db = svckit::sql::open_database("sqlite:///" + index_file_, app.blocking(),
                                       {.loops = app.loops().size()});
  knowledge_ = std::make_unique<KnowledgeBase>(std::move(documents), std::move(db));

  auto auth = svckit::required_bearer_options_from_settings(app, "Decision & Simulation");
  auto api = app.http().group("/api/v1", {svckit::auth::bearer(std::move(auth))});
  using svckit::http::bind;
  api.post("/rag/retrieve", bind(this, &DecisionSimulation::retrieve))
      .summary("The knowledge base's documents for a question, best first (BM25)")
      .accepts<RetrieveRequest>()
      .returns<Retrieval>()
      .errors({503});
  api.get("/rag/config", bind(this, &DecisionSimulation::rag_config))
      .summary("How retrieval is set up")
      .returns<RagConfig>();
  api.post("/simulate", bind(this, &DecisionSimulation::simulate))
      .summary("Resolution options for a classified request, each simulated")
      .accepts<SimulateRequest>()
      .returns<Simulation>();
  api.post("/decide", bind(this, &DecisionSimulation::decide))
      .summary("The option to take, scored against the building's policies, with the reasons")
      .accepts<DecideRequest>()
      .returns<Decision>();
  auto root = app.http().group("");
  app.health().serve_readiness_at(root, "/api/v1/health");
}

Task<void> DecisionSimulation::start(svckit::App& app) {
  co_await knowledge_->build_index();
  app.logger().info("knowledge base indexed",
                    {{"documents", static_cast<std::int64_t>(knowledge_->documents().size())},
                     {"version", knowledge_->version()}});
}

Task<void> DecisionSimulation::stop(svckit::App&) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(index_file_ + suffix, ignored);
  co_return;
}

Task<Response> DecisionSimulation::retrieve(Request& req) {
  auto input = req.json<RetrieveRequest>();
  if (!rag_enabled_) throw svckit::ServiceUnavailable("retrieval is off (RAG_ENABLED=false)", 60);
  if (input.types)
    for (const auto& t : *input.types) svckit::http::require_one_of("types", t, kDocumentTypes);
  Retrieval answer;
  answer.query = input.query;
  auto types = input.types.value_or(std::vector<std::string>{});
  answer.documents =
      co_await knowledge_->search(input.query, input.top_k, std::move(types), input.category);
  co_return svckit::http::json_response(200, answer);
}

Task<Response> DecisionSimulation::rag_config(Request&) {
  RagConfig config;
  config.enabled = rag_enabled_;
  config.documents = static_cast<std::int64_t>(knowledge_->documents().size());
  for (const auto& d : knowledge_->documents()) ++config.by_type[d.type];
  config.index = "sqlite-fts5";
  config.ranking = "bm25";
  config.tokenizer = "porter unicode61";
  config.column_weights = {{"title", KnowledgeBase::kTitleWeight},
                           {"body", KnowledgeBase::kBodyWeight}};
  config.default_top_k = RetrieveRequest{}.top_k;
  config.version = knowledge_->version();
  co_return svckit::http::json_response(200, config);
}

Task<Response> DecisionSimulation::simulate(Request& req) {
  auto input = req.json<SimulateRequest>();
  SimulationInput in{.category = input.category,
                     .urgency = input.urgency,
                     .risk_score = input.risk_score,
                     .start = unix_now(),
                     .replications = input.replications,
                     .seed = static_cast<std::uint64_t>(input.seed)};
  if (input.submitted_at) {
    auto at = svckit::iso8601_seconds(*input.submitted_at);
    if (!at) throw svckit::ValidationError("submitted_at", "is not an ISO 8601 date-time");
    in.start = *at;
  }
  // Thousands of replications take milliseconds of CPU: off the I/O loop.
  Simulation answer;
  answer.options =
      co_await app_->blocking().run([&in] { return apartment::decision::simulate(in); });
  answer.replications = input.replications;
  answer.seed = input.seed;
  answer.model = kSimulationModel;
  co_return svckit::http::json_response(200, answer);
}

Task<Response> DecisionSimulation::decide(Request& req) {
  auto input = req.json<DecideRequest>();
  for (std::size_t i = 0; i < input.options.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (input.options[i].id == input.options[j].id)
        throw svckit::ValidationError("options", "lists '" + input.options[i].id + "' twice");
  auto policies = policies_for(knowledge_->documents(), input.category, input.urgency);
  std::vector<RetrievedDocument> related;
  if (rag_enabled_) {
    std::string query = input.message + " " + input.category;
    std::vector<std::string> any_type;  // named: a temporary coroutine argument is a GCC 12 hazard
    auto category = std::optional<std::string>(input.category);
    related = co_await knowledge_->search(std::move(query), kRelatedDocuments, std::move(any_type),
                                          std::move(category));
  }
  auto answer = apartment::decision::decide(input, policies, related, knowledge_->version());
  co_return svckit::http::json_response(200, answer);
}

}  // namespace apartment::decision
