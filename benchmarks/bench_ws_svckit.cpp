// The svckit side of benchmarks/websocket_broadcast.py: every message a client sends on /ws goes
// to every connected client, through a WebSocketHub (one post per loop, the text shared).
#include <svckit/svckit.hpp>

struct Broadcast : svckit::Module {
  svckit::http::WebSocketHub hub;

  void install(svckit::App& app) override {
    app.http().group("").websocket(
        "/ws",
        [this](svckit::http::WebSocket ws, svckit::http::Request&) -> svckit::Task<void> {
          auto member = hub.join("all", ws);
          while (auto message = co_await ws.receive())
            hub.broadcast(std::make_shared<const std::string>(std::move(message->data)));
        },
        app.websocket_options());
  }
};

int main(int argc, char** argv) {
  return svckit::run<Broadcast>("bench-ws", argc, argv);
}
