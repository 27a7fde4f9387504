// WebSocket frames from a client, as a svckit WebSocket route reads them: Beast's stream in the
// server role with the route's settings (a 4 KiB message limit here, no automatic
// fragmentation), after a valid handshake, then svckit's own check of a whole text message
// (svckit::is_utf8: Beast lets a sequence cut short by an empty final frame through). Every
// message read is within the limit, and svckit::is_utf8 agrees with an independent UTF-8 check
// here on every text message.
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>

#include "fuzz_check.hpp"
#include "svckit/utf8.hpp"

using svckit::fuzz::expect;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string kHandshake =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  boost::asio::io_context io;
  beast::test::stream server(io);
  beast::test::stream client(io);
  server.connect(client);  // the server's answers go to the client, which reads none
  server.append(kHandshake);
  server.append(svckit::fuzz::text(data, size));
  client.close();  // the input's end is the connection's
  websocket::stream<beast::test::stream&> ws(server);
  ws.read_message_max(4096);
  ws.auto_fragment(false);
  beast::error_code ec;
  ws.accept(ec);
  expect(!ec, "the valid handshake was refused");
  for (int messages = 0; messages < 1000; ++messages) {
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec) break;
    expect(buffer.size() <= 4096, "a message over the limit was read");
    if (ws.got_text()) {
      auto text = beast::buffers_to_string(buffer.data());
      expect(valid_utf8(text) == svckit::is_utf8(text), "svckit::is_utf8 disagrees");
      if (!svckit::is_utf8(text)) break;  // the route closes with 1007 here
    }
  }
  return 0;
}
