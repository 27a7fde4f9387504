#pragma once
// Runs agents: a bounded number at once per replica (AGENT_CONCURRENCY), a bounded queue behind
// them (AGENT_QUEUE), a bound per user (AGENT_RUNS_PER_USER); past those a new run is refused
// with 429 and Retry-After rather than piling up. Each run is a coroutine that asks its planner
// for a step, calls the skill, and writes each step before taking the next, renewing its lease on
// the run: a run whose process died is taken over by any replica once the lease lapses, and
// resumes after its last written step (a tool call without a result is made again, with the same
// Idempotency-Key). Limits per run (steps, wall time, tokens, tool calls) end it as failed; a
// cancellation ends it at its next step.
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <svckit/app/app.hpp>

#include "agent_store.hpp"
#include "planner.hpp"
#include "toolbox.hpp"

namespace raptorflow::agent {

struct Limits {
  std::int64_t max_steps = 20;
  std::int64_t max_seconds = 300;
  std::int64_t max_tokens = 20000;
  std::int64_t max_tool_calls = 10;

  // An agent's `limits` object over the defaults; ValidationError naming a bad one.
  static Limits from(const nlohmann::json& limits);
  nlohmann::json to_json() const;
};

struct EngineOptions {
  std::size_t concurrency = 1000;
  std::size_t queue = 1000;
  std::size_t per_user = 200;
  std::chrono::milliseconds lease{15000};
};

class RunEngine {
 public:
  // `planner_for` names the planner of an agent's model (nullptr: unknown).
  RunEngine(svckit::App& app, AgentStore& store, Toolbox& toolbox,
            std::function<Planner*(const std::string& model)> planner_for, EngineOptions options);

  // Reserves room for one more run of `user`: TooManyRequests (429, Retry-After) when this
  // replica has none. Follow with submit(), or unreserve() if the run is not made after all.
  void reserve(const std::string& user);
  void unreserve(const std::string& user);
  // Starts the (stored) run now, or queues it.
  void submit(std::string run_id, std::string user);
  // Who this replica is in run leases, and a lease from now: what a new run is stored with.
  const std::string& holder() const { return holder_; }
  std::int64_t lease_until() const;

  // Every half lease: takes over runs whose holder's lease lapsed (a crash, a restart).
  svckit::Task<void> adopt_orphans();
  // At shutdown: runs stop at their next step and give their lease up for another to resume.
  void stop() { stopping_ = true; }

  // Calls `wake` (from any thread) each time a step of `run_id` is written; until the returned
  // handle is destroyed.
  std::shared_ptr<void> watch(const std::string& run_id, std::function<void()> wake);
  // Renews the leases of the runs queued or executing here every third of a lease, so that a
  // slow step (a model, a tool) does not let another replica take the run meanwhile.
  svckit::Task<void> keep_leases();

 private:
  svckit::Task<void> execute(std::string run_id, std::string user);
  svckit::Task<void> run_steps(const std::string& run_id);
  void spawn(std::string run_id, std::string user);
  void finished(const std::string& user);
  void notify(const std::string& run_id);

  svckit::App& app_;
  AgentStore& store_;
  Toolbox& toolbox_;
  std::function<Planner*(const std::string&)> planner_for_;
  EngineOptions options_;
  std::string holder_;  // this process, in run leases
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;
  std::size_t active_ = 0;
  std::size_t reserved_ = 0;                               // admitted, not yet submitted
  std::deque<std::pair<std::string, std::string>> queue_;  // {run, user}
  std::map<std::string, std::size_t> per_user_;
  std::set<std::string> known_;  // runs queued or executing here: never adopted twice
  struct Watchers {
    std::mutex mutex;
    std::map<std::string, std::vector<std::weak_ptr<std::function<void()>>>> by_run;
  };
  std::shared_ptr<Watchers> watchers_ = std::make_shared<Watchers>();
  std::atomic<std::size_t> next_loop_{0};

  prometheus::Family<prometheus::Counter>* runs_ = nullptr;
  prometheus::Family<prometheus::Counter>* steps_ = nullptr;
  prometheus::Family<prometheus::Counter>* tool_calls_ = nullptr;
  prometheus::Family<prometheus::Histogram>* tool_seconds_ = nullptr;
  prometheus::Gauge* active_gauge_ = nullptr;
  prometheus::Gauge* queued_gauge_ = nullptr;
};

}  // namespace raptorflow::agent
