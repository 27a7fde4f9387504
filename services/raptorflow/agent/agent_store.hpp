#pragma once
// The Agent service's data in SQL: agents, skills, runs and every step of every run (so that a
// run survives a restart and resumes where it was), and the documents the retrieval skill
// searches. A run is executed by one replica at a time: the holder of its lease, renewed with
// every step it writes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

namespace raptorflow::agent {

struct Agent {
  std::string id;
  std::string owner;
  std::string name;
  std::string instructions;
  std::vector<std::string> skills;
  std::string model;  // an AI model id; "local": the tool-directive planner
  nlohmann::json limits = nlohmann::json::object();
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

struct Skill {
  std::string name;
  std::string description;
  nlohmann::json input_schema;
  nlohmann::json output_schema;  // null: any output
  std::string kind;              // "http" or "builtin"
  nlohmann::json config;         // http: {url, method, timeout_ms}; builtin: {builtin}
  std::int64_t created_ms = 0;
};

struct Run {
  std::string id;
  std::string agent_id;
  std::string user_id;
  std::string input;
  std::string status;  // queued, running, succeeded, failed, cancelled
  std::string planner;
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::int64_t steps = 0;
  std::int64_t tool_calls = 0;
  std::int64_t tokens = 0;
  std::optional<std::string> output;
  std::optional<std::string> error;
  bool cancel_requested = false;
};

struct Step {
  std::int64_t seq = 0;
  std::string kind;  // tool_call, tool_result, answer, error
  nlohmann::json content;
  std::int64_t at_ms = 0;
};

struct Document {
  std::string id;
  std::string title;
  std::string text;
};

class AgentStore {
 public:
  AgentStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox)
      : db_(db), outbox_(outbox) {}
  void migrate();

  svckit::Task<void> put_agent(Agent agent);  // insert or replace
  svckit::Task<std::optional<Agent>> agent(std::string id);
  svckit::Task<std::vector<Agent>> agents();
  svckit::Task<bool> remove_agent(std::string id);

  svckit::Task<bool> add_skill(Skill skill);  // false: the name is taken
  svckit::Task<std::optional<Skill>> skill(std::string name);
  svckit::Task<std::vector<Skill>> skills();
  svckit::Task<bool> remove_skill(std::string name);

  // A new run, queued and leased to `holder` (the replica that accepted it) until `until_ms`.
  svckit::Task<void> add_run(Run run, std::string holder, std::int64_t until_ms);
  svckit::Task<std::optional<Run>> run(std::string id);
  // A user's runs (all users' with `user_id` empty), newest first.
  svckit::Task<std::vector<Run>> runs(std::string user_id, std::string agent_id,
                                      std::int64_t limit);
  svckit::Task<std::vector<Step>> steps(std::string run_id, std::int64_t after_seq);

  // Takes or renews the run's lease for `holder` until `until_ms`; false when another holder
  // has it or the run is over. Marks a queued run running.
  svckit::Task<bool> claim(std::string run_id, std::string holder, std::int64_t until_ms);
  // Gives the lease up (a graceful stop), so another replica resumes the run at once.
  svckit::Task<void> release(std::string run_id, std::string holder);
  svckit::Task<void> release_queued(std::string holder);
  // Renews `holder`'s leases on these runs (queued or running) until `until_ms`.
  svckit::Task<void> renew(std::string holder, std::vector<std::string> run_ids,
                           std::int64_t until_ms);
  // Ends a run that cannot go on (its data cannot be read, a bug): failed, with `error`, and
  // agent.run.failed through the outbox. False when `holder` no longer holds it.
  svckit::Task<bool> abandon(std::string run_id, std::string holder, std::string error);
  // Appends a step and the run's counters, renewing the lease; nullopt when `holder` lost the
  // lease, otherwise whether a cancellation was asked for.
  svckit::Task<std::optional<bool>> append(std::string run_id, std::string holder,
                                           std::int64_t until_ms, Step step,
                                           std::int64_t tool_calls, std::int64_t tokens);
  // Ends the run (with a last step), and `event` through the outbox in the same transaction.
  svckit::Task<bool> finish(std::string run_id, std::string holder, std::string status,
                            std::optional<std::string> output, std::optional<std::string> error,
                            Step last, std::int64_t tool_calls, std::int64_t tokens,
                            std::string event_type, nlohmann::json event);
  svckit::Task<bool> request_cancel(std::string run_id);
  // Runs nobody holds a live lease on, oldest first.
  svckit::Task<std::vector<std::string>> orphans(std::int64_t now_ms, std::int64_t limit);

  svckit::Task<void> add_document(Document doc);
  // Documents with any of `terms` in their title or text (at most `limit` to score).
  svckit::Task<std::vector<Document>> documents_with(std::vector<std::string> terms,
                                                     std::int64_t limit);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
};

}  // namespace raptorflow::agent
