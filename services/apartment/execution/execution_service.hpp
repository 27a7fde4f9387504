#pragma once
// Execution (seed 004, port 8004) as a svckit module: carries out selected options in the
// external systems (maintenance, billing, delivery, notifications) through the resilient client,
// once per execution id whatever the deliveries, recording every attempt. Orders arrive as
// apartment.option.selected events (a work queue) or POST /api/v1/execute; failures retry with
// backoff and end in the dead-letter queue, replayable with svckit-dlq.
#include <map>
#include <memory>
#include <string>

#include <svckit/app/module.hpp>
#include <svckit/bus/event.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "apartment/execution.hpp"
#include "execution_store.hpp"

namespace svckit::http {
class Client;
}

namespace apartment::execution {

class ExecutionService : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> execute(Request& req);
  svckit::Task<Response> notify(Request& req);
  svckit::Task<Response> get(Request& req);
  svckit::Task<svckit::bus::Outcome> on_option_selected(const svckit::bus::Event& event);

  // One attempt at `order` unless it already succeeded (or another is under way: 409); the
  // record as it then is. A failed `last_attempt` fails the execution.
  svckit::Task<Execution> run(ExecutionOrder order, const svckit::Context& context,
                              bool last_attempt);
  // Where an action goes: its client and its path there; no client when no URL is set.
  struct Target {
    svckit::http::Client* client = nullptr;
    std::string url;
    std::string path;
  };

  svckit::App* app_ = nullptr;
  std::unique_ptr<ExecutionStore> store_;
  std::map<std::string, Target, std::less<>> targets_;  // by action
  int max_attempts_ = 5;
};

}  // namespace apartment::execution
