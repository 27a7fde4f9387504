#pragma once
// Decision & Simulation (seed 004, port 8003) as a svckit module: rag/retrieve and rag/config
// over the knowledge base, simulate (the discrete-event simulation of the resolution options)
// and decide (policy scoring with reasons and cited documents).
#include <memory>

#include <svckit/app/module.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "knowledge_base.hpp"

namespace apartment::decision {

class DecisionSimulation : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;
  svckit::Task<void> stop(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> retrieve(Request& req);
  svckit::Task<Response> rag_config(Request& req);
  svckit::Task<Response> simulate(Request& req);
  svckit::Task<Response> decide(Request& req);

  svckit::App* app_ = nullptr;
  std::unique_ptr<KnowledgeBase> knowledge_;
  bool rag_enabled_ = true;
  std::string index_file_;
};

}  // namespace apartment::decision
