#pragma once
// The AETHER-AI Code Assistant (seed 000 §4.2.2) as a svckit module:
//   POST /api/v1/code/review         static checks (code_review.hpp), a score and suggestions
//   POST /api/v1/code/refactor       asks the AI Gateway: in-process when it is a module of this
//                                    process, else over gRPC (svckit::grpc::Channel)
//   POST /api/v1/code/test/generate  the same, for tests (a scaffold when the model gives none)
//   POST /api/v1/code/test/run       an allow-listed test command (test_runner.hpp)
#include <memory>

#include <svckit/app/module.hpp>
#include <svckit/blocking_pool.hpp>
#include <svckit/grpc/channel.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "ai_gateway.hpp"
#include "test_runner.hpp"

namespace aether::code_assistant {

class CodeAssistant : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  // Finds the AI Gateway: the module of this process when there is one and AI_GATEWAY_GRPC is
  // unset (every module is installed by then), else a channel to AI_GATEWAY_GRPC.
  svckit::Task<void> start(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> review_code(Request& req);
  svckit::Task<Response> refactor(Request& req);
  svckit::Task<Response> generate_tests(Request& req);
  svckit::Task<Response> run_tests(Request& req);
  svckit::Task<std::string> ask_model(const svckit::http::Request& req, std::string model,
                                      std::string prompt);

  ai_gateway::AiGateway* local_ai_ = nullptr;
  svckit::grpc::Channel* ai_ = nullptr;  // when the gateway is elsewhere
  std::unique_ptr<TestRunner> runner_;
  svckit::BlockingPool* blocking_ = nullptr;
};

}  // namespace aether::code_assistant
