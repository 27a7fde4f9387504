// AMQP basic properties as a broker's content header carries them: decoded by rabbitmq-c,
// copied out by svckit (headers tables of every field kind, nested ones too), then read as an
// event. Only BusError may come out.
#include <amqp.h>
#include <amqp_framing.h>

#include "bus/amqp_link.hpp"
#include "bus/amqp_message.hpp"
#include "fuzz_check.hpp"
#include "svckit/bus/event.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_bytes_t encoded{size, const_cast<std::uint8_t*>(data)};
  void* decoded = nullptr;
  if (amqp_decode_properties(AMQP_BASIC_CLASS, &pool, encoded, &decoded) == AMQP_STATUS_OK &&
      decoded) {
    auto message =
        svckit::bus::detail::message_properties(*static_cast<amqp_basic_properties_t*>(decoded));
    svckit::bus::detail::header_count(message, "x-delivery-count");
    try {
      svckit::bus::detail::decode_event(message, "task.created");
    } catch (const svckit::bus::BusError&) {
    }
  }
  empty_amqp_pool(&pool);
  return 0;
}
