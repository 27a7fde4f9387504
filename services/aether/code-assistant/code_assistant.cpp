#include "code_assistant.hpp"

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/app/grpc.hpp>
#include <svckit/auth/principal.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/model/json.hpp>

#include "ai_gateway.pb.h"
#include "code_models.hpp"
#include "code_review.hpp"

namespace aether::code_assistant {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

constexpr std::size_t kMaxCode = 256 * 1024;
// What goes to the model must fit in one AI Gateway message (32 KiB) with the instructions.
constexpr std::size_t kMaxCodeForModel = 28 * 1024;

// Code's limits in bytes, which the model's rules (in characters) cannot say.
void check_code(const std::string& code, std::size_t max = kMaxCode) {
  if (code.size() > max)
    throw svckit::ValidationError("code", "larger than " + std::to_string(max) + " bytes" +
                                              (max < kMaxCode ? " (what a model is asked)" : ""));
  if (code.find('\0') != std::string::npos)
    throw svckit::ValidationError("code", "contains a NUL byte");
}

ReviewAnswer answer_of(const Review& r) {
  return {r.issues, r.suggestions, r.score, r.language, r.lines};
}

// A model's answer: the first fenced code block, bullet lines after it, the prose around it.
struct Answer {
  std::string code;
  std::vector<std::string> bullets;
  std::string prose;
  bool has_code = false;
};

// `code` in a fenced block. Its last line's newline is the one before the closing fence: code
// that ends with one gets no blank line added, so a model that hands it back unchanged hands
// back the same bytes.
std::string fenced(const std::string& language, const std::string& code) {
  bool ends_line = !code.empty() && code.back() == '\n';
  return "```" + language + "\n" + code + (ends_line ? "" : "\n") + "```";
}

Answer parse_answer(const std::string& text) {
  Answer a;
  auto fence = text.find("```");
  if (fence == std::string::npos) {
    a.prose = text;
    return a;
  }
  auto body = text.find('\n', fence);
  auto close = body == std::string::npos ? std::string::npos : text.find("```", body + 1);
  if (close == std::string::npos) {
    a.prose = text;
    return a;
  }
  a.has_code = true;
  a.code = text.substr(body + 1, close - body - 1);
  a.prose = text.substr(0, fence);
  std::string after = text.substr(close + 3);
  std::size_t start = 0;
  while (start < after.size()) {
    auto end = after.find('\n', start);
    auto line = after.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto text_start = line.find_first_not_of(" \t");
    if (text_start != std::string::npos &&
        (line.compare(text_start, 2, "- ") == 0 || line.compare(text_start, 2, "* ") == 0))
      a.bullets.push_back(line.substr(text_start + 2));
    else if (text_start != std::string::npos)
      a.prose += (a.prose.empty() ? "" : "\n") + line.substr(text_start);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  while (!a.prose.empty() && (a.prose.back() == '\n' || a.prose.back() == ' ')) a.prose.pop_back();
  return a;
}

std::string default_framework(const std::string& language) {
  if (language == "python") return "pytest";
  if (language == "cpp") return "gtest";
  if (language == "javascript") return "jest";
  return "unittest";
}

bool looks_like_tests(const std::string& code) {
  for (const char* mark : {"def test", "TEST(", "TEST_F(", "test(", "it(", "assert", "EXPECT_"})
    if (code.find(mark) != std::string::npos) return true;
  return false;
}

// Tests to fill in, one per function, skipped until written: what is offered when the model
// gave none (the built-in local model, for one). Marked as a scaffold in the answer.
std::string scaffold(const std::string& framework, const std::vector<std::string>& functions) {
  std::string out;
  if (framework == "gtest") {
    out = "#include <gtest/gtest.h>\n";
    for (const auto& f : functions)
      out += "\nTEST(Generated, " + f + ") {\n  GTEST_SKIP() << \"scaffold: say what " + f +
             " should do\";\n}\n";
  } else if (framework == "jest") {
    for (const auto& f : functions) out += "test.todo(\"" + f + "\");\n";
  } else {
    out = "import pytest\n";
    for (const auto& f : functions)
      out += "\n\ndef test_" + f + "():\n    pytest.skip(\"scaffold: say what " + f +
             " should do\")\n";
  }
  return out;
}

int coverage_estimate(const std::string& tests, const std::vector<std::string>& functions) {
  if (functions.empty()) return 0;
  std::size_t named = 0;
  for (const auto& f : functions)
    if (tests.find(f) != std::string::npos) ++named;
  return static_cast<int>(100 * named / functions.size());
}

}  // namespace

void CodeAssistant::declare(svckit::Settings& settings) {
  using svckit::SettingType;
  auto declare = [&settings](svckit::SettingSpec spec) {
    settings.declare("code-assistant", std::move(spec));
  };
  declare({.name = "CODE_TEST_ROOT",
           .type = SettingType::file,
           .help = "where test runs get their workspaces (default: DATA_DIR/code-workspaces)"});
  declare({.name = "CODE_TEST_COMMANDS",
           .help = "the test commands a run may use, comma-separated (default: none)"});
  declare({.name = "CODE_TEST_TIMEOUT_SECONDS",
           .type = SettingType::integer,
           .default_value = "60",
           .min = 1,
           .max = 600,
           .help = "a test run's time limit unless the request asks for less"});
  declare({.name = "CODE_TEST_OUTPUT_BYTES",
           .type = SettingType::integer,
           .default_value = "65536",
           .min = 1024,
           .max = 16 << 20,
           .help = "output kept of each stream of a test run"});
  declare({.name = "CODE_TEST_MAX_CONCURRENT",
           .type = SettingType::integer,
           .default_value = "2",
           .min = 1,
           .max = 64,
           .help = "test runs at once"});
  declare({.name = "CODE_TEST_MEMORY_MB",
           .type = SettingType::integer,
           .default_value = "1024",
           .min = 64,
           .max = 65536,
           .help = "a test run's memory: per process, and for the whole run where the service "
                   "may make cgroups (as root)"});
  declare({.name = "CODE_TEST_MAX_PROCESSES",
           .type = SettingType::integer,
           .default_value = "64",
           .min = 4,
           .max = 4096,
           .help = "processes and threads of a test run (of the run's uid, without cgroups)"});
  declare({.name = "CODE_TEST_RUN_UID",
           .type = SettingType::integer,
           .default_value = "65534",
           .min = 1,
           .max = 4294967294,
           .help = "the uid and gid a test run takes when the service runs as root (nobody)"});
  declare({.name = "CODE_TEST_BWRAP",
           .default_value = "/usr/bin/bwrap",
           .help = "the bubblewrap program that sandboxes test runs; without it runs are refused"});
  declare({.name = "AI_GATEWAY_GRPC",
           .help = "host:port of the AI Gateway's gRPC (default: the AI Gateway module of this "
                   "process, called in-process, else 127.0.0.1:50051)"});
  declare({.name = "AI_GATEWAY_TIMEOUT_SECONDS",
           .type = SettingType::integer,
           .default_value = "60",
           .min = 1,
           .max = 600,
           .help = "how long a call to the AI Gateway may take"});
}

void CodeAssistant::install(svckit::App& app) {
  RunnerOptions runner;
  const auto& s = app.settings();
  runner.root = s.is_set("CODE_TEST_ROOT") ? s.text("CODE_TEST_ROOT")
                                           : app.config().data_dir + "/code-workspaces";
  try {
    runner.commands =
        allowed_commands(s.text("CODE_TEST_COMMANDS"),
                         s.environment("PATH").value_or("/usr/local/bin:/usr/bin:/bin"));
  } catch (const std::invalid_argument& e) {
    throw svckit::ConfigError("CODE_TEST_COMMANDS", e.what());
  }
  runner.default_timeout = std::chrono::seconds(s.integer("CODE_TEST_TIMEOUT_SECONDS"));
  runner.max_output = static_cast<std::size_t>(s.integer("CODE_TEST_OUTPUT_BYTES"));
  runner.max_concurrent = static_cast<int>(s.integer("CODE_TEST_MAX_CONCURRENT"));
  runner.sandbox.bwrap = s.text("CODE_TEST_BWRAP");
  runner.sandbox.memory_bytes = static_cast<std::uint64_t>(s.integer("CODE_TEST_MEMORY_MB")) << 20;
  runner.sandbox.max_processes = static_cast<int>(s.integer("CODE_TEST_MAX_PROCESSES"));
  runner.sandbox.uid = static_cast<uid_t>(s.integer("CODE_TEST_RUN_UID"));
  runner.sandbox.gid = static_cast<gid_t>(s.integer("CODE_TEST_RUN_UID"));
  try {
    runner_ = std::make_unique<TestRunner>(runner);
  } catch (const std::filesystem::filesystem_error& e) {
    throw svckit::ConfigError("CODE_TEST_ROOT", e.what());
  }
  if (!runner_->unavailable().empty() && !runner_->options().commands.empty())
    app.logger().warning("test runs are off: the sandbox cannot be set up",
                         {{"reason", runner_->unavailable()}});

  auto auth = svckit::required_bearer_options_from_settings(app, "Code Assistant");
  auto api = app.http().group("/api/v1/code", {svckit::auth::bearer(std::move(auth))});
  auto use = svckit::auth::require("code:use");
  blocking_ = &app.blocking();
  using svckit::http::bind;
  api.post("/review", use, bind(this, &CodeAssistant::review_code))
      .summary("Static checks of code: issues, suggestions and a score")
      .accepts<ReviewRequest>()
      .returns<ReviewAnswer>();
  api.post("/refactor", use, bind(this, &CodeAssistant::refactor))
      .summary("Ask a model to refactor code")
      .accepts<RefactorRequest>()
      .returns<Refactored>()
      .errors({502, 503, 504});
  api.post("/test/generate", use, bind(this, &CodeAssistant::generate_tests))
      .summary("Tests for code: a model's, or a scaffold to fill in")
      .accepts<TestsRequest>()
      .returns<GeneratedTests>()
      .errors({502, 503, 504});
  api.post("/test/run", svckit::auth::require("code:run"), bind(this, &CodeAssistant::run_tests))
      .summary("Run an allowed test command in your workspace, in a sandbox")
      .accepts<RunCommand>()
      .returns<RunOutcome>()
      .errors({429, 503});
}

Task<Response> CodeAssistant::review_code(Request& req) {
  auto input = req.json<ReviewRequest>();
  check_code(input.code);
  auto work = [&input] { return review(input.code, input.language); };  // named: GCC 12
  auto r = co_await blocking_->run(work);  // a big file is milliseconds of CPU: not on a loop
  co_return svckit::http::json_response(200, answer_of(r));
}

Task<Response> CodeAssistant::refactor(Request& req) {
  auto input = req.json<RefactorRequest>();
  check_code(input.code, kMaxCodeForModel);
  auto language = normalize_language(input.language);
  auto model = input.model.value_or("");  // named: GCC 12 and temporaries passed to coroutines
  auto prompt = "Refactor this " + language + " code: " + input.instruction +
                "\nAnswer with the whole refactored code in one fenced block, then the changes "
                "as a list.\n" +
                fenced(language, input.code);
  auto reply = co_await ask_model(req, std::move(model), std::move(prompt));
  auto a = parse_answer(reply);
  Refactored answer{input.code, a.bullets, a.prose};
  if (a.has_code) answer.refactored_code = a.code;  // if/else, not ?: (GCC 12, coroutines)
  co_return svckit::http::json_response(200, answer);
}

Task<Response> CodeAssistant::generate_tests(Request& req) {
  auto input = req.json<TestsRequest>();
  check_code(input.code, kMaxCodeForModel);
  auto language = normalize_language(input.language);
  auto framework = input.framework.value_or(default_framework(language));
  auto find_functions = [&input, &language] { return review(input.code, language).functions; };
  auto functions = co_await blocking_->run(find_functions);
  auto model = input.model.value_or("");  // named: GCC 12
  auto prompt = "Write " + framework + " tests for this " + language +
                " code. Answer with the tests in one fenced block.\n" +
                fenced(language, input.code);
  auto reply = co_await ask_model(req, std::move(model), std::move(prompt));
  auto a = parse_answer(reply);
  bool from_model = a.has_code && looks_like_tests(a.code) && a.code != input.code;
  // if/else, not ?: producing strings: GCC 12 mishandles those in coroutines.
  GeneratedTests answer{.framework = framework, .source = "scaffold"};
  if (from_model) {
    answer.tests = a.code;
    answer.source = "model";
  } else {
    answer.tests = scaffold(framework, functions);
  }
  if (from_model) answer.coverage_estimate = coverage_estimate(answer.tests, functions);
  co_return svckit::http::json_response(200, answer);
}

Task<Response> CodeAssistant::run_tests(Request& req) {
  RunRequest run;
  CheckedRun checked;
  try {  // every refusal is logged: this is where someone probes a remote-execution surface
    auto input = req.json<RunCommand>();
    if (const auto* who = svckit::auth::principal(req)) run.user = who->id;
    run.argv = std::move(input.command);
    run.cwd = std::move(input.cwd);
    run.timeout = std::chrono::seconds(input.timeout_seconds.value_or(0));
    // The checks touch the file system (a workspace made, every path resolved): off the loop.
    auto check = [this, &run] { return runner_->check(run); };  // named: GCC 12
    checked = co_await blocking_->run(check);
  } catch (const svckit::Error& refused) {
    std::string command;  // not a ?: making a string: GCC 12 (docs/architecture.md)
    if (!run.argv.empty()) command = run.argv[0].substr(0, 64);
    req.log(svckit::log::Level::warning, "test run refused",
            {{"reason", refused.detail()}, {"command", command}});
    throw;
  }
  req.log(svckit::log::Level::info, "test run",
          {{"command", checked.program.string()},
           {"workspace", checked.workspace.filename().string()},
           {"cwd", checked.directory.string()}});
  auto execute = [this, &checked] { return runner_->run(checked); };  // named: GCC 12
  auto r = co_await blocking_->run(execute);
  RunOutcome answer{r.exit_code,      r.signal,        r.exit_code == 0,
                    r.timed_out,      r.truncated,     static_cast<std::int64_t>(r.duration_ms),
                    std::move(r.out), std::move(r.err)};
  co_return svckit::http::json_response(200, answer);
}

Task<void> CodeAssistant::start(svckit::App& app) {
  auto target = app.settings().text("AI_GATEWAY_GRPC");
  if (target.empty()) local_ai_ = app.find<ai_gateway::AiGateway>();
  if (local_ai_) co_return;  // the gateway is a module of this process: asked directly
  svckit::grpc::ChannelOptions options;
  options.timeout = std::chrono::seconds(app.settings().integer("AI_GATEWAY_TIMEOUT_SECONDS"));
  ai_ = &svckit::grpc::channel(app, "ai-gateway", target.empty() ? "127.0.0.1:50051" : target,
                               options);
}

// One question to the AI Gateway as the caller: their credentials go with it, and their id,
// trace and deadline.
Task<std::string> CodeAssistant::ask_model(const Request& req, std::string model,
                                           std::string prompt) {
  if (local_ai_) {  // in-process: the same ai:use check, on the caller's principal
    ai_gateway::ChatInput input;
    input.message = std::move(prompt);
    auto answer = co_await local_ai_->ask_as(req.context(), std::move(model), std::move(input));
    co_return std::move(answer.completion.text);
  }
  ChatRequest chat;
  chat.set_model(std::move(model));
  chat.set_message(std::move(prompt));
  svckit::grpc::CallOptions options;
  options.context = &req.context();
  options.idempotent = true;  // a question changes nothing: safe to ask again
  if (auto authorization = req.header("Authorization"))
    options.metadata.emplace_back("authorization", std::string(*authorization));
  else if (auto key = req.header("X-API-Key"))
    options.metadata.emplace_back("x-api-key", std::string(*key));
  try {
    auto reply = co_await ai_->unary<ChatRequest, ChatResponse>("/AIGateway/Chat", std::move(chat),
                                                                std::move(options));
    co_return reply.response();
  } catch (const svckit::grpc::RpcError& e) {
    // What the gateway refused is the caller's to fix; the rest is the gateway failing
    // (502/503/504).
    if (e.code() == ::grpc::StatusCode::INVALID_ARGUMENT)
      throw svckit::ValidationError("model",
                                    "the AI Gateway refused: " + e.grpc_status().error_message());
    if (e.code() == ::grpc::StatusCode::PERMISSION_DENIED)
      throw svckit::Forbidden("the AI Gateway refused: " + e.grpc_status().error_message());
    throw;
  }
}

}  // namespace aether::code_assistant
