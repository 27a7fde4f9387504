#include "agent_store.hpp"

#include <chrono>

namespace raptorflow::agent {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::sql::Row;

const svckit::sql::Migration kMigrations[] = {
    {1, "agents, skills, runs, steps, documents",
     "CREATE TABLE agents ("
     " id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, instructions TEXT NOT NULL,"
     " skills TEXT NOT NULL, model TEXT NOT NULL, limits TEXT NOT NULL,"
     " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);"
     "CREATE TABLE skills ("
     " name TEXT PRIMARY KEY, description TEXT NOT NULL, input_schema TEXT NOT NULL,"
     " output_schema TEXT NOT NULL, kind TEXT NOT NULL, config TEXT NOT NULL,"
     " created_ms BIGINT NOT NULL);"
     "CREATE TABLE runs ("
     " id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, user_id TEXT NOT NULL, input TEXT NOT NULL,"
     " status TEXT NOT NULL, planner TEXT NOT NULL, created_ms BIGINT NOT NULL,"
     " started_ms BIGINT NOT NULL DEFAULT 0, finished_ms BIGINT NOT NULL DEFAULT 0,"
     " steps BIGINT NOT NULL DEFAULT 0, tool_calls BIGINT NOT NULL DEFAULT 0,"
     " tokens BIGINT NOT NULL DEFAULT 0, output TEXT, error TEXT,"
     " cancel_requested INTEGER NOT NULL DEFAULT 0,"
     " holder TEXT NOT NULL DEFAULT '', lease_until BIGINT NOT NULL DEFAULT 0);"
     "CREATE INDEX runs_user ON runs (user_id, created_ms);"
     "CREATE INDEX runs_open ON runs (status, lease_until);"
     "CREATE TABLE run_steps ("
     " run_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, content TEXT NOT NULL,"
     " at_ms BIGINT NOT NULL, PRIMARY KEY (run_id, seq));"
     "CREATE TABLE documents ("
     " id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL);",
     "DROP TABLE documents; DROP TABLE run_steps; DROP TABLE runs; DROP TABLE skills; "
     "DROP TABLE agents"},
};

const char* kRunColumns =
    "id, agent_id, user_id, input, status, planner, created_ms, started_ms, finished_ms, steps, "
    "tool_calls, tokens, output, error, cancel_requested";

// JSON text of what a run keeps: a tool's or a model's text that is not UTF-8 is kept with
// U+FFFD rather than failing the step.
std::string text_of(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Agent agent_of(const Row& r) {
  return {r.text("id"),
          r.text("owner"),
          r.text("name"),
          r.text("instructions"),
          json::parse(r.text("skills")).get<std::vector<std::string>>(),
          r.text("model"),
          json::parse(r.text("limits")),
          r.integer("created_ms"),
          r.integer("updated_ms")};
}

Skill skill_of(const Row& r) {
  return {r.text("name"),
          r.text("description"),
          json::parse(r.text("input_schema")),
          json::parse(r.text("output_schema")),
          r.text("kind"),
          json::parse(r.text("config")),
          r.integer("created_ms")};
}

Run run_of(const Row& r) {
  Run run;
  run.id = r.text("id");
  run.agent_id = r.text("agent_id");
  run.user_id = r.text("user_id");
  run.input = r.text("input");
  run.status = r.text("status");
  run.planner = r.text("planner");
  run.created_ms = r.integer("created_ms");
  run.started_ms = r.integer("started_ms");
  run.finished_ms = r.integer("finished_ms");
  run.steps = r.integer("steps");
  run.tool_calls = r.integer("tool_calls");
  run.tokens = r.integer("tokens");
  run.output = r.optional_text("output");
  run.error = r.optional_text("error");
  run.cancel_requested = r.integer("cancel_requested") != 0;
  return run;
}

}  // namespace

void AgentStore::migrate() {
  db_.migrate("agent", kMigrations);
}

Task<void> AgentStore::put_agent(Agent a) {
  json skills = a.skills;
  co_await db_.execute(
      "INSERT INTO agents (id, owner, name, instructions, skills, model, limits, created_ms, "
      "updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
      "name = excluded.name, instructions = excluded.instructions, skills = excluded.skills, "
      "model = excluded.model, limits = excluded.limits, updated_ms = excluded.updated_ms",
      a.id, a.owner, a.name, a.instructions, skills.dump(), a.model, a.limits.dump(), a.created_ms,
      a.updated_ms);
}

Task<std::optional<Agent>> AgentStore::agent(std::string id) {
  auto r = co_await db_.read("SELECT * FROM agents WHERE id = ?", std::move(id));
  if (r.empty()) co_return std::nullopt;
  co_return agent_of(r.rows.front());
}

Task<std::vector<Agent>> AgentStore::agents() {
  auto r = co_await db_.read("SELECT * FROM agents ORDER BY created_ms, id");
  std::vector<Agent> out;
  for (const auto& row : r.rows) out.push_back(agent_of(row));
  co_return out;
}

Task<bool> AgentStore::remove_agent(std::string id) {
  auto r = co_await db_.execute("DELETE FROM agents WHERE id = ?", std::move(id));
  co_return r.changes == 1;
}

Task<bool> AgentStore::add_skill(Skill s) {
  auto r = co_await db_.execute(
      "INSERT INTO skills (name, description, input_schema, output_schema, kind, config, "
      "created_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      s.name, s.description, s.input_schema.dump(), s.output_schema.dump(), s.kind, s.config.dump(),
      s.created_ms);
  co_return r.changes == 1;
}

Task<std::optional<Skill>> AgentStore::skill(std::string name) {
  auto r = co_await db_.read("SELECT * FROM skills WHERE name = ?", std::move(name));
  if (r.empty()) co_return std::nullopt;
  co_return skill_of(r.rows.front());
}

Task<std::vector<Skill>> AgentStore::skills() {
  auto r = co_await db_.read("SELECT * FROM skills ORDER BY name");
  std::vector<Skill> out;
  for (const auto& row : r.rows) out.push_back(skill_of(row));
  co_return out;
}

Task<bool> AgentStore::remove_skill(std::string name) {
  auto r = co_await db_.execute("DELETE FROM skills WHERE name = ?", std::move(name));
  co_return r.changes == 1;
}

Task<void> AgentStore::add_run(Run run, std::string holder, std::int64_t until_ms) {
  co_await db_.execute(
      "INSERT INTO runs (id, agent_id, user_id, input, status, planner, created_ms, holder, "
      "lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      run.id, run.agent_id, run.user_id, run.input, run.status, run.planner, run.created_ms,
      std::move(holder), until_ms);
}

Task<std::optional<Run>> AgentStore::run(std::string id) {
  auto r = co_await db_.execute(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?",
                                std::move(id));
  if (r.empty()) co_return std::nullopt;
  co_return run_of(r.rows.front());
}

Task<std::vector<Run>> AgentStore::runs(std::string user_id, std::string agent_id,
                                        std::int64_t limit) {
  auto r = co_await db_.read(std::string("SELECT ") + kRunColumns +
                                 " FROM runs WHERE (? = '' OR user_id = ?) AND (? = '' OR "
                                 "agent_id = ?) ORDER BY created_ms DESC, id LIMIT ?",
                             user_id, user_id, agent_id, agent_id, limit);
  std::vector<Run> out;
  for (const auto& row : r.rows) out.push_back(run_of(row));
  co_return out;
}

Task<std::vector<Step>> AgentStore::steps(std::string run_id, std::int64_t after_seq) {
  auto r = co_await db_.execute(
      "SELECT seq, kind, content, at_ms FROM run_steps WHERE run_id = ? AND seq > ? ORDER BY seq",
      std::move(run_id), after_seq);
  std::vector<Step> out;
  for (const auto& row : r.rows)
    out.push_back({row.integer("seq"), row.text("kind"), json::parse(row.text("content")),
                   row.integer("at_ms")});
  co_return out;
}

Task<bool> AgentStore::claim(std::string run_id, std::string holder, std::int64_t until_ms) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto r = co_await db_.execute(
      "UPDATE runs SET holder = ?, lease_until = ?, status = 'running', "
      "started_ms = CASE WHEN started_ms = 0 THEN ? ELSE started_ms END "
      "WHERE id = ? AND status IN ('queued', 'running') AND (holder = ? OR lease_until < ?)",
      holder, until_ms, now, std::move(run_id), holder, now);
  co_return r.changes == 1;
}

Task<void> AgentStore::release(std::string run_id, std::string holder) {
  co_await db_.execute("UPDATE runs SET lease_until = 0 WHERE id = ? AND holder = ?",
                       std::move(run_id), std::move(holder));
}

Task<void> AgentStore::release_queued(std::string holder) {
  co_await db_.execute("UPDATE runs SET lease_until = 0 WHERE holder = ? AND status = 'queued'",
                       std::move(holder));
}

Task<void> AgentStore::renew(std::string holder, std::vector<std::string> run_ids,
                             std::int64_t until_ms) {
  for (std::size_t at = 0; at < run_ids.size(); at += 500) {
    std::vector<svckit::sql::Value> params{until_ms, holder};
    std::string marks;
    for (std::size_t i = at; i < std::min(run_ids.size(), at + 500); ++i) {
      marks += marks.empty() ? "?" : ", ?";
      params.emplace_back(run_ids[i]);
    }
    auto sql =
        "UPDATE runs SET lease_until = ? WHERE holder = ? AND status IN ('queued', "
        "'running') AND id IN (" +
        marks + ")";
    co_await db_.execute(std::move(sql), std::move(params));
  }
}

Task<bool> AgentStore::abandon(std::string run_id, std::string holder, std::string error) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto work = [&](svckit::sql::Transaction& tx) -> Task<bool> {
    auto held = co_await tx.execute(
        "UPDATE runs SET status = 'failed', error = ?, finished_ms = ?, lease_until = 0 "
        "WHERE id = ? AND holder = ? AND status IN ('queued', 'running')",
        error, now, run_id, holder);
    if (held.changes != 1) co_return false;
    auto run = co_await tx.execute("SELECT agent_id, user_id FROM runs WHERE id = ?", run_id);
    json event = {{"run_id", run_id},
                  {"agent_id", run.rows.front().text("agent_id")},
                  {"user_id", run.rows.front().text("user_id")},
                  {"status", "failed"},
                  {"error", error}};
    co_await outbox_.add(tx, "agent.run.failed", event);
    co_return true;
  };
  co_return co_await db_.transaction(work);
}

Task<std::optional<bool>> AgentStore::append(std::string run_id, std::string holder,
                                             std::int64_t until_ms, Step step,
                                             std::int64_t tool_calls, std::int64_t tokens) {
  auto work = [&](svckit::sql::Transaction& tx) -> Task<std::optional<bool>> {
    auto held = co_await tx.execute(
        "UPDATE runs SET lease_until = ?, steps = ?, tool_calls = ?, tokens = ? "
        "WHERE id = ? AND holder = ? AND status = 'running'",
        until_ms, step.seq, tool_calls, tokens, run_id, holder);
    if (held.changes != 1) co_return std::nullopt;
    co_await tx.execute(
        "INSERT INTO run_steps (run_id, seq, kind, content, at_ms) VALUES (?, ?, ?, ?, ?)", run_id,
        step.seq, step.kind, text_of(step.content), step.at_ms);
    auto flag = co_await tx.execute("SELECT cancel_requested FROM runs WHERE id = ?", run_id);
    co_return flag.rows.front().integer("cancel_requested") != 0;
  };
  co_return co_await db_.transaction(work);
}

Task<bool> AgentStore::finish(std::string run_id, std::string holder, std::string status,
                              std::optional<std::string> output, std::optional<std::string> error,
                              Step last, std::int64_t tool_calls, std::int64_t tokens,
                              std::string event_type, json event) {
  auto work = [&](svckit::sql::Transaction& tx) -> Task<bool> {
    svckit::sql::Value out(nullptr), err(nullptr);  // (no conditional temporaries: GCC 12)
    if (output) out = svckit::sql::Value(*output);
    if (error) err = svckit::sql::Value(*error);
    auto held = co_await tx.execute(
        "UPDATE runs SET status = ?, output = ?, error = ?, finished_ms = ?, steps = ?, "
        "tool_calls = ?, tokens = ?, lease_until = 0 "
        "WHERE id = ? AND holder = ? AND status = 'running'",
        status, out, err, last.at_ms, last.seq, tool_calls, tokens, run_id, holder);
    if (held.changes != 1) co_return false;
    co_await tx.execute(
        "INSERT INTO run_steps (run_id, seq, kind, content, at_ms) VALUES (?, ?, ?, ?, ?)", run_id,
        last.seq, last.kind, text_of(last.content), last.at_ms);
    co_await outbox_.add(tx, event_type, event);
    co_return true;
  };
  co_return co_await db_.transaction(work);
}

Task<bool> AgentStore::request_cancel(std::string run_id) {
  auto r = co_await db_.execute(
      "UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status IN ('queued', 'running')",
      std::move(run_id));
  co_return r.changes == 1;
}

Task<std::vector<std::string>> AgentStore::orphans(std::int64_t now_ms, std::int64_t limit) {
  auto r = co_await db_.execute(
      "SELECT id FROM runs WHERE status IN ('queued', 'running') AND lease_until < ? "
      "ORDER BY created_ms LIMIT ?",
      now_ms, limit);
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(row.text("id"));
  co_return out;
}

Task<void> AgentStore::add_document(Document doc) {
  co_await db_.execute("INSERT INTO documents (id, title, text) VALUES (?, ?, ?)", doc.id,
                       doc.title, doc.text);
}

Task<std::vector<Document>> AgentStore::documents_with(std::vector<std::string> terms,
                                                       std::int64_t limit) {
  std::string where;
  std::vector<svckit::sql::Value> params;
  for (const auto& t : terms) {
    where += where.empty() ? " WHERE " : " OR ";
    where += "lower(title) LIKE ? OR lower(text) LIKE ?";
    params.emplace_back("%" + t + "%");
    params.emplace_back("%" + t + "%");
  }
  params.emplace_back(limit);
  // Their first 20,000 characters: what a query scores stays bounded however long they are.
  auto r = co_await db_.read(
      "SELECT id, title, substr(text, 1, 20000) AS text FROM documents" + where + " LIMIT ?",
      std::move(params));
  std::vector<Document> out;
  for (const auto& row : r.rows)
    out.push_back({row.text("id"), row.text("title"), row.text("text")});
  co_return out;
}

}  // namespace raptorflow::agent
