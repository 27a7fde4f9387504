#include "run_engine.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <svckit/error.hpp>
#include <svckit/ids.hpp>
#include <svckit/metrics/registry.hpp>

namespace raptorflow::agent {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using svckit::Task;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Bound {
  const char* name;
  std::int64_t Limits::*field;
  std::int64_t max;
};
constexpr Bound kBounds[] = {{"max_steps", &Limits::max_steps, 200},
                             {"max_seconds", &Limits::max_seconds, 3600},
                             {"max_tokens", &Limits::max_tokens, 1'000'000},
                             {"max_tool_calls", &Limits::max_tool_calls, 100}};

// `text` with what is not UTF-8 replaced by U+FFFD (JSON and the database take nothing else).
std::string readable(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

}  // namespace

Limits Limits::from(const json& limits) {
  Limits out;
  if (limits.is_null()) return out;
  if (!limits.is_object()) throw svckit::ValidationError("limits", "must be an object");
  for (const auto& [key, value] : limits.items()) {
    const Bound* bound = nullptr;
    for (const auto& b : kBounds)
      if (key == b.name) bound = &b;
    if (!bound) throw svckit::ValidationError("limits." + key, "is not a limit");
    if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
        value.get<std::int64_t>() > bound->max)
      throw svckit::ValidationError("limits." + key,
                                    "must be an integer from 1 to " + std::to_string(bound->max));
    out.*(bound->field) = value.get<std::int64_t>();
  }
  return out;
}

json Limits::to_json() const {
  json out = json::object();
  for (const auto& b : kBounds) out[b.name] = this->*(b.field);
  return out;
}

RunEngine::RunEngine(svckit::App& app, AgentStore& store, Toolbox& toolbox,
                     std::function<Planner*(const std::string&)> planner_for, EngineOptions options)
    : app_(app),
      store_(store),
      toolbox_(toolbox),
      planner_for_(std::move(planner_for)),
      options_(options),
      holder_(svckit::uuid_v4()) {
  auto& m = app.metrics();
  runs_ = &m.counter("agent_runs_total", "Agent runs finished, by agent and status.");
  steps_ = &m.counter("agent_steps_total", "Agent run steps written, by agent and kind.");
  tool_calls_ = &m.counter("agent_tool_calls_total", "Skill calls, by skill and outcome.");
  tool_seconds_ = &m.histogram("agent_tool_seconds", "Skill call durations, by skill.");
  active_gauge_ = &m.gauge("agent_runs_active", "Runs executing in this replica.").Add({});
  queued_gauge_ = &m.gauge("agent_runs_queued", "Runs waiting for room in this replica.").Add({});
}

std::int64_t RunEngine::lease_until() const {
  return now_ms() + options_.lease.count();
}

void RunEngine::reserve(const std::string& user) {
  std::lock_guard lock(mutex_);
  if (active_ + queue_.size() + reserved_ >= options_.concurrency + options_.queue)
    throw svckit::TooManyRequests("the agent service is at its limit of runs: try again soon", 5);
  auto& mine = per_user_[user];
  if (mine >= options_.per_user)
    throw svckit::TooManyRequests(
        "you have " + std::to_string(mine) + " runs under way, the most a user may have", 5);
  ++mine;
  ++reserved_;
}

void RunEngine::unreserve(const std::string& user) {
  std::lock_guard lock(mutex_);
  --reserved_;
  if (auto it = per_user_.find(user); it != per_user_.end() && --it->second == 0)
    per_user_.erase(it);
}

void RunEngine::submit(std::string run_id, std::string user) {
  {
    std::lock_guard lock(mutex_);
    --reserved_;
    known_.insert(run_id);
    if (active_ >= options_.concurrency) {
      queue_.emplace_back(std::move(run_id), std::move(user));
      queued_gauge_->Set(static_cast<double>(queue_.size()));
      return;
    }
    ++active_;
    active_gauge_->Set(static_cast<double>(active_));
  }
  spawn(std::move(run_id), std::move(user));
}

void RunEngine::spawn(std::string run_id, std::string user) {
  auto loops = app_.loops();
  auto& loop = *loops[next_loop_.fetch_add(1) % loops.size()];
  asio::co_spawn(loop, execute(std::move(run_id), std::move(user)), asio::detached);
}

void RunEngine::finished(const std::string& user) {
  std::optional<std::pair<std::string, std::string>> next;
  {
    std::lock_guard lock(mutex_);
    if (auto it = per_user_.find(user); it != per_user_.end() && --it->second == 0)
      per_user_.erase(it);
    if (!queue_.empty() && !stopping_) {
      next = std::move(queue_.front());
      queue_.pop_front();
      queued_gauge_->Set(static_cast<double>(queue_.size()));
    } else {
      --active_;
      active_gauge_->Set(static_cast<double>(active_));
    }
  }
  if (next) spawn(std::move(next->first), std::move(next->second));
}

Task<void> RunEngine::execute(std::string run_id, std::string user) {
  std::string broken;
  try {
    co_await run_steps(run_id);
  } catch (const nlohmann::json::exception& e) {
    broken = e.what();  // stored data it cannot read: running it again would fail again
  } catch (const std::logic_error& e) {
    broken = e.what();
  } catch (const std::exception& e) {
    // The store away, most likely: the lease lapses and a replica (this one too) resumes it.
    app_.logger().warning("agent run stopped", {{"run", run_id}, {"error", e.what()}});
  }
  if (!broken.empty()) {
    app_.logger().error("agent run failed", {{"run", run_id}, {"error", broken}});
    try {
      auto why = "the run could not go on: " + clip(broken, 300);
      co_await store_.abandon(run_id, holder_, std::move(why));
    } catch (const std::exception&) {
    }
  }
  {
    std::lock_guard lock(mutex_);
    known_.erase(run_id);
  }
  finished(user);
}

std::shared_ptr<void> RunEngine::watch(const std::string& run_id, std::function<void()> wake) {
  auto held = std::make_shared<std::function<void()>>(std::move(wake));
  {
    std::lock_guard lock(watchers_->mutex);
    watchers_->by_run[run_id].push_back(held);
  }
  // The handle unlists itself when it goes (the registry may be gone by then: weak).
  std::weak_ptr<Watchers> registry = watchers_;
  return std::shared_ptr<void>(nullptr, [registry, run_id, held](void*) mutable {
    held.reset();
    if (auto w = registry.lock()) {
      std::lock_guard lock(w->mutex);
      auto it = w->by_run.find(run_id);
      if (it == w->by_run.end()) return;
      std::erase_if(it->second, [](const auto& weak) { return weak.expired(); });
      if (it->second.empty()) w->by_run.erase(it);
    }
  });
}

void RunEngine::notify(const std::string& run_id) {
  std::vector<std::shared_ptr<std::function<void()>>> wake;
  {
    std::lock_guard lock(watchers_->mutex);
    auto it = watchers_->by_run.find(run_id);
    if (it == watchers_->by_run.end()) return;
    for (auto& w : it->second)
      if (auto f = w.lock()) wake.push_back(std::move(f));
  }
  for (auto& f : wake) (*f)();
}

Task<void> RunEngine::keep_leases() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(options_.lease / 3);
    co_await timer.async_wait(asio::use_awaitable);
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mutex_);
      ids.assign(known_.begin(), known_.end());
    }
    if (ids.empty()) continue;
    try {
      co_await store_.renew(holder_, std::move(ids), lease_until());
    } catch (const std::exception&) {
      // The database away: the leases may lapse; writes then find out and stop.
    }
  }
}

Task<void> RunEngine::run_steps(const std::string& run_id) {
  if (!co_await store_.claim(run_id, holder_, lease_until())) co_return;  // another has it
  auto run = co_await store_.run(run_id);
  if (!run) co_return;
  auto agent = co_await store_.agent(run->agent_id);
  auto steps = co_await store_.steps(run_id, 0);
  std::int64_t seq = steps.empty() ? 0 : steps.back().seq;
  std::int64_t tool_calls = run->tool_calls, tokens = run->tokens;
  std::string agent_label = agent ? agent->name : run->agent_id;

  // Ends the run with `status`; the last step says why.
  auto finish = [&](std::string status, std::optional<std::string> output,
                    std::optional<std::string> error) -> Task<void> {
    // Bounded, and UTF-8 whatever a model or tool answered.
    if (output) output = readable(clip(*output, 16 * 1024));
    if (error) error = readable(clip(*error, 2000));
    // (No conditional of class type in a coroutine: GCC 12.)
    Step last{++seq, "error", json::object(), now_ms()};
    if (output) {
      last.kind = "answer";
      last.content["text"] = *output;
    } else {
      if (status == "cancelled") last.kind = "cancelled";
      last.content["error"] = error.value_or("");
    }
    json event = {{"run_id", run_id},         {"agent_id", run->agent_id}, {"agent", agent_label},
                  {"user_id", run->user_id},  {"status", status},          {"steps", seq},
                  {"tool_calls", tool_calls}, {"tokens", tokens}};
    if (output) event["output"] = output->substr(0, 2000);
    if (error) event["error"] = *error;
    std::string type = "agent.run." + std::string(status == "succeeded"   ? "completed"
                                                  : status == "cancelled" ? "cancelled"
                                                                          : "failed");
    if (co_await store_.finish(run_id, holder_, status, output, error, last, tool_calls, tokens,
                               type, event)) {
      runs_->Add({{"agent", agent_label}, {"status", status}}).Increment();
      notify(run_id);
    }
  };

  if (!agent) {
    co_await finish("failed", std::nullopt, "the agent was deleted");
    co_return;
  }
  Limits limits = Limits::from(agent->limits);
  Planner* planner = planner_for_(agent->model);
  std::vector<Skill> skills;
  for (const auto& name : agent->skills)
    if (auto s = co_await store_.skill(name)) skills.push_back(std::move(*s));
  if (!planner) {
    auto why = "the agent's model '" + agent->model + "' is not configured";
    co_await finish("failed", std::nullopt, why);
    co_return;
  }
  if (run->cancel_requested) {
    co_await finish("cancelled", std::nullopt, "cancelled before it started");
    co_return;
  }
  auto started = run->started_ms ? run->started_ms : now_ms();

  // Writes a step; false when the run must stop here (lease lost, cancelled, stopping).
  auto write = [&](std::string kind, json content) -> Task<bool> {
    Step step{++seq, std::move(kind), std::move(content), now_ms()};
    auto kind_label = step.kind;
    auto kept = step;
    auto cancelled =
        co_await store_.append(run_id, holder_, lease_until(), std::move(step), tool_calls, tokens);
    if (!cancelled) co_return false;   // another replica holds the run now
    steps.push_back(std::move(kept));  // the history the planner reads: no reload per step
    steps_->Add({{"agent", agent_label}, {"kind", kind_label}}).Increment();
    notify(run_id);
    if (*cancelled) {
      co_await finish("cancelled", std::nullopt, "cancelled");
      co_return false;
    }
    co_return true;
  };

  for (;;) {
    if (stopping_) {
      co_await store_.release(run_id, holder_);
      co_return;
    }
    // A limit reached ends the run before another step.
    std::optional<std::string> over;
    if (seq >= limits.max_steps)
      over = "limit reached: max_steps " + std::to_string(limits.max_steps);
    else if (now_ms() - started > limits.max_seconds * 1000)
      over = "limit reached: max_seconds " + std::to_string(limits.max_seconds);
    else if (tokens > limits.max_tokens)
      over = "limit reached: max_tokens " + std::to_string(limits.max_tokens);
    if (over) {
      co_await finish("failed", std::nullopt, *over);
      co_return;
    }

    // A call written but not answered (the process died during it) is made again; otherwise
    // the planner decides.
    std::string skill_name;
    json input;
    bool pending = !steps.empty() && steps.back().kind == "tool_call";
    if (pending) {
      skill_name = steps.back().content["skill"];
      input = steps.back().content["input"];
    } else {
      auto decision = co_await planner->next(*agent, *run, steps, skills, nullptr);
      tokens += decision.tokens;
      if (decision.kind == Decision::Kind::answer) {
        co_await finish("succeeded", decision.text, std::nullopt);
        co_return;
      }
      if (decision.kind == Decision::Kind::fail) {
        co_await finish("failed", std::nullopt, decision.text);
        co_return;
      }
      if (tool_calls >= limits.max_tool_calls) {
        auto why = "limit reached: max_tool_calls " + std::to_string(limits.max_tool_calls);
        co_await finish("failed", std::nullopt, why);
        co_return;
      }
      skill_name = decision.skill;
      input = decision.input;
      json call = {{"skill", skill_name}, {"input", input}};
      if (!co_await write("tool_call", call)) co_return;
    }

    const Skill* skill = nullptr;
    for (const auto& s : skills)
      if (s.name == skill_name) skill = &s;
    ToolOutcome outcome;
    auto t0 = std::chrono::steady_clock::now();
    if (!skill) {
      outcome.error = "the agent has no skill '" + skill_name + "'";
    } else {
      auto key = "run-" + run_id + "-" + std::to_string(seq);
      outcome = co_await toolbox_.call(*skill, input, run->user_id, nullptr, std::move(key));
    }
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++tool_calls;
    tool_calls_->Add({{"skill", skill_name}, {"outcome", outcome.ok ? "ok" : "error"}}).Increment();
    if (skill)
      tool_seconds_->Add({{"skill", skill_name}}, svckit::metrics::default_latency_buckets())
          .Observe(took);
    json result = {
        {"skill", skill_name}, {"ok", outcome.ok}, {"ms", static_cast<std::int64_t>(took * 1000)}};
    if (outcome.ok)
      result["output"] = outcome.output;
    else
      result["error"] = outcome.error;
    if (!co_await write("tool_result", result)) co_return;
  }
}

Task<void> RunEngine::adopt_orphans() {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  for (;;) {
    timer.expires_after(options_.lease / 2);
    co_await timer.async_wait(asio::use_awaitable);
    if (stopping_) co_return;
    std::size_t room;
    {
      std::lock_guard lock(mutex_);
      auto busy = active_ + queue_.size() + reserved_;
      room = busy < options_.concurrency ? options_.concurrency - busy : 0;
    }
    if (room == 0) continue;
    std::vector<std::string> ids;
    try {
      ids = co_await store_.orphans(now_ms(), static_cast<std::int64_t>(room));
    } catch (const std::exception&) {
      continue;  // the database is away: next time
    }
    for (auto& id : ids) {
      {
        std::lock_guard lock(mutex_);
        if (known_.contains(id)) continue;  // queued here, not orphaned
      }
      auto run = co_await store_.run(id);
      if (!run) continue;
      {
        std::lock_guard lock(mutex_);
        if (known_.contains(id)) continue;
        ++per_user_[run->user_id];
        ++reserved_;
      }
      app_.logger().info("agent run resumed", {{"run", id}});
      submit(std::move(id), run->user_id);
    }
  }
}

}  // namespace raptorflow::agent
