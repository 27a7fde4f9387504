// Rooms over WebSocket, and the same rooms as server-sent events for a page that only listens.
// Everyone in /ws/{room} gets what anyone in it says, tagged with who said it; GET
// /api/v1/rooms/{room}/events streams it too, and a listener that reconnects with Last-Event-ID
// gets what it missed (the last 100 messages of a room are kept). The upgrade and the stream are
// authenticated like any request (auth::bearer: an Authorization header, or a browser's
// "bearer.<token>" offered in Sec-WebSocket-Protocol), each connection keeps its request's
// context, and hubs send to a room from whatever loop a message arrives on.
// GET /api/v1/rooms/{room} says how many are in a room; POST /api/v1/rooms/{room}/announcements
// says something to a room from plain HTTP (a service told of an event would do the same).
//
//   JWT_SECRET_KEY=dev-secret build/bin/chat
//   // in a browser: new WebSocket("ws://localhost:8000/ws/lobby", ["chat", "bearer." + token])
#include <cctype>
#include <charconv>
#include <deque>
#include <svckit/auth/middleware.hpp>
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;
using svckit::http::WebSocket;

namespace {

// A room's name: clients choose it.
std::string room_of(const Request& req) {
  auto room = req.param("room");
  bool ok = !room.empty() && room.size() <= 64;
  for (char c : room)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok) throw svckit::ValidationError("room", "1 to 64 letters, digits, '-' or '_'");
  return room;
}

// What is said in rooms, to both kinds of listener, and the last 100 messages of each room for
// event streams that reconnect.
class Rooms {
 public:
  svckit::http::WebSocketHub sockets;
  svckit::http::EventStreamHub streams;

  // Tells the room; how many connections heard it.
  std::size_t say(const std::string& room, std::string_view who, std::string_view text) {
    auto json = nlohmann::json({{"from", who}, {"text", text}})
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::lock_guard lock(mutex_);  // one order of ids for both kinds of listener
    auto id = ++last_id_;
    auto& kept = history_[room];
    kept.emplace_back(id, json);
    if (kept.size() > 100) kept.pop_front();
    auto event =
        svckit::http::format_event({.data = json, .event = "message", .id = std::to_string(id)});
    return sockets.send_to(room, std::make_shared<const std::string>(std::move(json))) +
           streams.send_to(room, std::make_shared<const std::string>(std::move(event)));
  }

  // Joins `stream` to the room after sending it what it missed since `last_id` (atomically: no
  // message is lost or doubled between the two).
  svckit::http::EventStreamHub::Membership listen(const std::string& room,
                                                  svckit::http::EventStream stream,
                                                  std::uint64_t last_id) {
    std::lock_guard lock(mutex_);
    if (last_id > 0)
      for (const auto& [id, json] : history_[room])
        if (id > last_id) stream.send({.data = json, .event = "message", .id = std::to_string(id)});
    return streams.join(room, std::move(stream));
  }

 private:
  std::mutex mutex_;
  std::uint64_t last_id_ = 0;
  std::unordered_map<std::string, std::deque<std::pair<std::uint64_t, std::string>>> history_;
};

// Last-Event-ID as this example writes ids; 0 when absent or not one of ours.
std::uint64_t last_id_of(const svckit::http::EventStream& stream) {
  std::uint64_t id = 0;
  const auto& text = stream.last_event_id();
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc() && end == text.data() + text.size() ? id : 0;
}

}  // namespace

struct Chat : svckit::Module {
  Rooms rooms;

  void install(svckit::App& app) override {
    auto bearer = svckit::auth::bearer(svckit::required_bearer_options_from_settings(app, "chat"));
    auto valid_room = [](Request& req, const svckit::http::Handler& next) {
      room_of(req);  // a bad room name is a 422, before any switch
      return next(req);
    };
    auto ws = app.http().group("/ws", {bearer});
    auto options = app.websocket_options();  // WEBSOCKET_* settings: sizes, timeouts
    options.protocols = {"chat"};
    ws.websocket("/{room}",
                 [this](WebSocket socket, Request& upgrade) -> svckit::Task<void> {
                   const std::string room = room_of(upgrade);
                   const std::string user = socket.context().user_id();
                   auto member = rooms.sockets.join(room, socket);
                   rooms.say(room, "server", user + " joined");
                   while (auto message = co_await socket.receive()) {
                     if (message->binary) {
                       socket.close(svckit::http::close_code::policy_violation, "text only");
                       continue;
                     }
                     rooms.say(room, user, message->data);
                   }
                   member.leave();
                   rooms.say(room, "server", user + " left");
                 },
                 options, {valid_room});

    auto api = app.http().group("/api/v1/rooms", {bearer});
    api.get("/{room}", [this](Request& req) -> svckit::Task<Response> {
      auto room = room_of(req);
      co_return Response::json(200, {{"room", room},
                                     {"connections", rooms.sockets.connections(room)},
                                     {"listeners", rooms.streams.connections(room)}});
    });
    api.post("/{room}/announcements", [this](Request& req) -> svckit::Task<Response> {
      auto room = room_of(req);
      auto text = req.json_object().required_string("text");
      auto delivered = rooms.say(room, req.user_id(), text);
      co_return Response::json(202, {{"room", room}, {"connections", delivered}});
    });
    api.events("/{room}/events",
               [this](svckit::http::EventStream stream, Request& req) -> svckit::Task<void> {
                 auto member = rooms.listen(room_of(req), stream, last_id_of(stream));
                 co_await stream.closed();  // the listener left, or the server is draining
               },
               {}, {valid_room});
  }
};

int main(int argc, char** argv) {
  return svckit::run<Chat>("chat", argc, argv);
}
