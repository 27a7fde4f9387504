// Rooms over WebSocket: everyone in /ws/{room} gets what anyone in it says, tagged with who said
// it. The upgrade is authenticated like any request (auth::bearer: an Authorization header, or
// a browser's "bearer.<token>" offered in Sec-WebSocket-Protocol), the connection keeps the
// request's context, and a WebSocketHub sends to a room from whatever loop a message arrives on.
// GET /api/v1/rooms/{room} says how many are in a room; POST /api/v1/rooms/{room}/announcements
// says something to a room from plain HTTP (a service told of an event would do the same).
//
//   JWT_SECRET_KEY=dev-secret build/bin/chat
//   // in a browser: new WebSocket("ws://localhost:8000/ws/lobby", ["chat", "bearer." + token])
#include <cctype>
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

std::shared_ptr<const std::string> said(std::string_view who, std::string_view text) {
  return std::make_shared<const std::string>(
      nlohmann::json({{"from", who}, {"text", text}})
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

struct Chat : svckit::Module {
  svckit::http::WebSocketHub rooms;

  void install(svckit::App& app) override {
    auto bearer = svckit::auth::bearer(svckit::required_bearer_options_from_settings(app, "chat"));
    auto ws = app.http().group("/ws", {bearer});
    auto options = app.websocket_options();  // WEBSOCKET_* settings: sizes, timeouts
    options.protocols = {"chat"};
    ws.websocket("/{room}",
                 [this](WebSocket socket, Request& upgrade) -> svckit::Task<void> {
                   const std::string room = room_of(upgrade);  // checked before the switch (below)
                   const std::string user = socket.context().user_id();
                   auto member = rooms.join(room, socket);
                   rooms.send_to(room, said("server", user + " joined"));
                   while (auto message = co_await socket.receive()) {
                     if (message->binary) {
                       socket.close(svckit::http::close_code::policy_violation, "text only");
                       continue;
                     }
                     rooms.send_to(room, said(user, message->data));
                   }
                   member.leave();
                   rooms.send_to(room, said("server", user + " left"));
                 },
                 options, {[](Request& req, const svckit::http::Handler& next) {
                   room_of(req);  // a bad room name is a 422, before the switch
                   return next(req);
                 }});

    auto api = app.http().group("/api/v1/rooms", {bearer});
    api.get("/{room}", [this](Request& req) -> svckit::Task<Response> {
      auto room = room_of(req);
      co_return Response::json(200, {{"room", room}, {"connections", rooms.connections(room)}});
    });
    api.post("/{room}/announcements", [this](Request& req) -> svckit::Task<Response> {
      auto room = room_of(req);
      auto text = req.json_object().required_string("text");
      auto delivered = rooms.send_to(room, said(req.user_id(), text));
      co_return Response::json(202, {{"room", room}, {"connections", delivered}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Chat>("chat", argc, argv);
}
