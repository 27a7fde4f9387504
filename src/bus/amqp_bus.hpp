#pragma once
// The RabbitMQ backend (AMQP 0-9-1 on rabbitmq-c): one connection for publishing with confirms,
// one for consuming, each on its own thread (amqp_link.hpp); handlers run on the I/O loops.
// amqp_topology.hpp shows what it declares on the broker.
#include <memory>
#include <vector>

#include "svckit/bus/bus.hpp"

namespace svckit::bus::detail {

class AmqpBus : public Bus {
 public:
  AmqpBus(std::string_view url, std::vector<boost::asio::io_context*> loops, BusOptions options);
  ~AmqpBus() override;

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

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::bus::detail
