#pragma once
// The AETHER-AI AI Gateway (seed 000 §4.2.1) as a svckit module: one front for every model,
// over REST (/api/v1/ai/chat, /models, /switch) and gRPC (the seed's AIGateway service: Chat,
// StreamChat, ListModels, GetModelStatus), with a response cache, ai_requests_total{model}, and
// the events ai.request.received and ai.response.generated.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <svckit/app/module.hpp>
#include <svckit/auth/authenticator.hpp>
#include <svckit/grpc/reply.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "providers.hpp"
#include "response_cache.hpp"
#include "shared_response_cache.hpp"

namespace svckit::bus {
class Bus;
}

namespace aether::ai_gateway {

class AiGateway : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

  // One answered question.
  struct Answer {
    Completion completion;
    std::string model;
    std::int64_t latency_ms = 0;
    bool cached = false;
  };
  // Answers now when it can (cached, or the local model), else on an I/O loop. `model` empty:
  // the current model. Throws svckit::ValidationError for a bad question or an unknown model.
  svckit::grpc::Reply<Answer> chat(const std::string& model, ChatInput input,
                                   const svckit::Context& context);
  // The same question from another module of this process (the Code Assistant), asked as the
  // caller in `context`: it needs ai:use, as over REST and gRPC (svckit::Unauthorized without a
  // principal, svckit::Forbidden without the permission).
  svckit::Task<Answer> ask_as(const svckit::Context& context, std::string model, ChatInput input);
  // Throws svckit::ValidationError (field "model") naming the models there are.
  const Model& model_named(const std::string& id) const;
  const Model& current() const { return *current_.load(); }

 private:
  svckit::Task<Answer> ask(const Model& model, ChatInput input, std::string key, bool cache,
                           const svckit::Context& context);
  Answer answered(const Model& model, const Completion& c, bool cached,
                  const svckit::Context& context);
  void install_rest(svckit::App& app, const svckit::auth::BearerOptions& auth);
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> ask_rest(Request& req);
  svckit::Task<Response> list_models(Request& req);
  svckit::Task<Response> model_status(Request& req);
  svckit::Task<Response> switch_model(Request& req);
  void install_grpc(svckit::App& app, const svckit::auth::BearerOptions& auth);

  std::vector<std::unique_ptr<Model>> models_;
  std::atomic<const Model*> current_{nullptr};
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<SharedResponseCache> shared_cache_;  // with REDIS_URL: every replica's
  svckit::bus::Bus* bus_ = nullptr;
  struct Counters {
    prometheus::Counter* requests = nullptr;       // ai_requests_total{model}
    prometheus::Counter* input_tokens = nullptr;   // ai_tokens_total{model,kind="input"}
    prometheus::Counter* output_tokens = nullptr;  // ai_tokens_total{model,kind="output"}
  };
  std::map<const Model*, Counters> counters_;  // filled at install, read-only after
};

}  // namespace aether::ai_gateway
