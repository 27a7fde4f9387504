// svckit-dlq: look into and replay a group's dead-letter queue on RabbitMQ.
//
//   svckit-dlq [--bus URL] list   GROUP             one JSON line per dead letter
//   svckit-dlq [--bus URL] show   GROUP EVENT_ID    the dead letter with its whole event
//   svckit-dlq [--bus URL] replay GROUP EVENT_ID    back to the group's queue, attempts cleared
//   svckit-dlq [--bus URL] replay GROUP --all
//
// The broker comes from --bus, else BUS_URL, else RABBITMQ_URL. Exit 0 done, 1 no such dead
// letter, 2 usage, 3 the broker failed.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <svckit/bus/bus.hpp>

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "svckit-dlq: %s\nusage: svckit-dlq [--bus amqp://...] list GROUP | show GROUP "
               "EVENT_ID | replay GROUP (EVENT_ID | --all)\n",
               why.c_str());
  std::exit(2);
}

nlohmann::json summary(const svckit::bus::DeadLetter& d, bool with_event) {
  nlohmann::json out = {{"id", d.event.id},         {"type", d.event.type},
                        {"source", d.event.source}, {"attempts", d.attempts},
                        {"reason", d.reason},       {"dead_at", d.dead_at}};
  if (with_event) out["event"] = d.event.to_json();
  return out;
}

svckit::Task<int> run(svckit::bus::Bus& bus, std::vector<std::string> args) {
  const std::string& command = args[0];
  const std::string& group = args[1];
  if (command == "list" || command == "show") {
    auto letters = co_await bus.dead_letters(group);
    bool found = command == "list";
    for (const auto& d : letters) {
      if (command == "show" && d.event.id != args.at(2)) continue;
      std::printf("%s\n", summary(d, command == "show").dump().c_str());
      found = true;
    }
    co_return found ? 0 : 1;
  }
  std::vector<std::string> ids;
  if (args[2] == "--all")
    for (const auto& d : co_await bus.dead_letters(group)) ids.push_back(d.event.id);
  else
    ids.push_back(args[2]);
  int missing = 0;
  for (const auto& id : ids) {
    bool replayed = co_await bus.replay(group, id);
    std::printf("%s\n", nlohmann::json{{"id", id}, {"replayed", replayed}}.dump().c_str());
    missing += replayed ? 0 : 1;
  }
  co_return missing ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string url;
  for (const char* name : {"RABBITMQ_URL", "BUS_URL"})
    if (const char* v = std::getenv(name)) url = v;
  if (args.size() >= 2 && args[0] == "--bus") {
    url = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty()) usage("no command");
  std::size_t needed = args[0] == "list" ? 2 : 3;
  if ((args[0] != "list" && args[0] != "show" && args[0] != "replay") || args.size() != needed)
    usage("unknown command or wrong number of arguments");
  if (!url.starts_with("amqp"))
    usage(
        "needs a RabbitMQ URL (--bus, BUS_URL or RABBITMQ_URL); the in-process bus's dead "
        "letters live in the service's own process");

  boost::asio::io_context io;
  int code = 3;
  try {
    auto bus = svckit::bus::open_bus(url, {&io}, {.source = "svckit-dlq"});
    boost::asio::co_spawn(
        io,
        [&]() -> svckit::Task<void> {
          try {
            code = co_await run(*bus, args);
          } catch (const std::exception& e) {
            std::fprintf(stderr, "svckit-dlq: %s\n", e.what());
          }
          co_await bus->close(std::chrono::seconds(2));
        },
        [](std::exception_ptr) {});
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "svckit-dlq: %s\n", e.what());
    return std::string_view(e.what()).starts_with("BUS_URL") ? 2 : 3;
  }
  return code;
}
