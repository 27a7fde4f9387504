#pragma once
// The AETHER-AI Code Assistant (seed 000 §4.2.2) as a svckit module:
//   POST /api/v1/code/review         static checks (code_review.hpp), a score and suggestions
//   POST /api/v1/code/refactor       asks the AI Gateway over gRPC (svckit::grpc::Channel)
//   POST /api/v1/code/test/generate  the same, for tests (a scaffold when the model gives none)
//   POST /api/v1/code/test/run       an allow-listed test command (test_runner.hpp)
#include <memory>

#include <svckit/app/module.hpp>
#include <svckit/grpc/channel.hpp>
#include <svckit/http/request.hpp>

#include "test_runner.hpp"

namespace aether::code_assistant {

class CodeAssistant : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  // Opens the channel to the AI Gateway: this process's own gRPC port when it hosts the gateway
  // and AI_GATEWAY_GRPC is unset (the port is only known once the App is listening).
  svckit::Task<void> start(svckit::App& app) override;

 private:
  svckit::Task<std::string> ask_model(const svckit::http::Request& req, std::string model,
                                      std::string prompt);

  std::unique_ptr<svckit::grpc::Channel> ai_;
  std::unique_ptr<TestRunner> runner_;
};

}  // namespace aether::code_assistant
