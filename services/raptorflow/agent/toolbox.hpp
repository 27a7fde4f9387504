#pragma once
// What a run's steps call: skills. A skill is a tool with a JSON Schema for its input (and
// optionally its output): an HTTP call to a configured endpoint through svckit's resilient
// client, or a built-in (arithmetic, retrieval over the service's documents). Inputs and outputs
// are checked against the schemas on every call; a call that fails or answers what its schema
// refuses is a failed step the planner sees, never a crashed run.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/auth/key.hpp>
#include <svckit/context.hpp>
#include <svckit/json_schema.hpp>
#include <svckit/task.hpp>

#include "agent_store.hpp"

namespace svckit::http {
class Client;
}
namespace svckit::meter {
class Meter;
}

namespace raptorflow::agent {

struct ToolOutcome {
  bool ok = false;
  nlohmann::json output;  // ok: what the tool answered
  std::string error;      // not ok: why
};

// The File Storage built-in: the service's URL, and what the calls made for a run's user are
// signed with (a one-minute token of that user: the run reads what the user may read).
struct FilesAccess {
  std::string url;  // AGENT_FILES_URL; empty: the built-in answers that it is not set up
  std::optional<svckit::auth::Key> signer;  // JWT_SECRET_KEY (HS256)
  std::optional<std::string> issuer, audience;
};

class Toolbox {
 public:
  // HTTP skills may only call URLs under one of `allowed_urls` (AGENT_TOOL_URLS).
  Toolbox(AgentStore& store, std::vector<std::string> allowed_urls, FilesAccess files,
          svckit::meter::Meter* meter);
  ~Toolbox();

  // The built-in skills, added to the store at start.
  static std::vector<Skill> builtins();
  // Refuses a skill that cannot work: schemas that are not JSON Schemas, an unknown kind or
  // built-in, a URL not allowed, a bad method or timeout. svckit::ValidationError naming it.
  void check(const Skill& skill) const;

  // `user`: whom the run acts for (the File Storage built-in reads as them).
  svckit::Task<ToolOutcome> call(const Skill& skill, nlohmann::json input, std::string user,
                                 const svckit::Context* context, std::string idempotency_key);

 private:
  const svckit::JsonSchema& schema(const Skill& skill, bool output);
  svckit::http::Client& client_for(const std::string& origin);
  svckit::Task<ToolOutcome> call_http(const Skill& skill, const nlohmann::json& input,
                                      const svckit::Context* context, std::string key);
  svckit::Task<ToolOutcome> retrieve(const nlohmann::json& input);
  svckit::Task<ToolOutcome> read_file(const nlohmann::json& input, const std::string& user,
                                      const svckit::Context* context);
  static ToolOutcome arithmetic(const nlohmann::json& input);
  bool allowed(const std::string& url) const;

  AgentStore& store_;
  std::vector<std::string> allowed_urls_;
  FilesAccess files_;
  svckit::meter::Meter* meter_;
  std::mutex mutex_;
  std::map<std::string, svckit::JsonSchema> schemas_;  // "<skill>@<created>:in|out"
  std::map<std::string, std::unique_ptr<svckit::http::Client>> clients_;
};

// A tool's answer is read up to this many bytes; past it the call fails.
inline constexpr std::size_t kMaxToolAnswer = 256 * 1024;
// An answer larger than this as JSON is kept as its start and its size (history, prompts).
inline constexpr std::size_t kMaxStoredOutput = 64 * 1024;

// At most `max_bytes` of UTF-8 `text`, cut before a character rather than inside one.
std::string clip(std::string_view text, std::size_t max_bytes);

// The arithmetic built-in's evaluator: + - * / % ^, parentheses, unary minus, decimal numbers.
// std::invalid_argument naming the problem (syntax, division by zero, too deep, not finite).
double evaluate_arithmetic(std::string_view expression);

}  // namespace raptorflow::agent
