// CloudEvents as consumers receive them. Structured mode (a JSON object): an event read is
// written back to the same event. Binary mode (ce-* headers on an AMQP message): read or
// refused with BusError. The first byte picks the mode.
#include <fuzzer/FuzzedDataProvider.h>

#include <nlohmann/json.hpp>

#include "bus/amqp_message.hpp"
#include "fuzz_check.hpp"
#include "svckit/bus/event.hpp"

using svckit::bus::BusError;
using svckit::bus::Event;
using svckit::fuzz::expect;

namespace {

void structured(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return;
  try {
    auto event = Event::from_json(json);
    auto again = Event::from_json(event.to_json());
    expect(again.to_json() == event.to_json(), "an event does not survive a round trip");
    event.context();
  } catch (const BusError&) {
  }
}

void binary(FuzzedDataProvider& in) {
  svckit::bus::detail::AmqpMessage m;
  m.content_type = in.ConsumeRandomLengthString(64);
  m.type = in.ConsumeRandomLengthString(64);
  m.message_id = in.ConsumeRandomLengthString(64);
  static constexpr const char* kNames[] = {"ce-id",   "ce-source",      "ce-type",
                                           "ce-time", "ce-specversion", "ce-traceparent",
                                           "ce_id",   "cloudEvents:id", "x-death"};
  for (int n = in.ConsumeIntegralInRange(0, 8); n > 0; --n) {
    std::string name =
        in.ConsumeBool() ? in.PickValueInArray(kNames) : in.ConsumeRandomLengthString(32);
    m.headers.emplace_back(std::move(name), in.ConsumeRandomLengthString(128));
  }
  m.body = in.ConsumeRemainingBytesAsString();
  try {
    auto event = svckit::bus::detail::decode_event(m, "routing.key");
    event.to_json();
    event.context();
  } catch (const BusError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    structured(svckit::fuzz::text(data + 1, size - 1));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    binary(in);
  }
  return 0;
}
