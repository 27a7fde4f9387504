#pragma once
// The in-process backend: the semantics of the RabbitMQ one (groups as competing-consumer queues,
// topic patterns, retries with backoff, dead letters, request/reply) without a broker, so a whole
// system runs in one process and tests are fast. Not durable: what is queued when the process
// exits is gone, as with a broker's non-durable queues.
#include <memory>
#include <vector>

#include "svckit/bus/bus.hpp"

namespace svckit::bus::detail {

class InprocBus : public Bus {
 public:
  InprocBus(std::vector<boost::asio::io_context*> loops, BusOptions options);
  ~InprocBus() override;

  using Bus::publish;
  using Bus::request;
  Task<void> publish(Event event) override;
  void subscribe(std::string group, std::string pattern, Handler handler,
                 SubscribeOptions options) override;
  void respond(std::string type, Responder responder) override;
  Task<Event> request(Event request, std::chrono::milliseconds timeout) override;
  Task<std::vector<DeadLetter>> dead_letters(const std::string& group) override;
  Task<bool> replay(const std::string& group, const std::string& event_id) override;
  Task<void> close_backend(std::chrono::milliseconds timeout) override;
  bool connected() const override;
  bool wanted(std::string_view type) const override;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::bus::detail
