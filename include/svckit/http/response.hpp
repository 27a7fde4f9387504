#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "svckit/task.hpp"

namespace svckit {
class Error;
}

namespace svckit::http {

class Connection;
class Request;

// What runs on a connection once its answer is decided, instead of a body: an upgraded
// protocol, or an answer written as it is produced. It runs on the connection's loop with the
// request, which lives as long as it does.
struct Takeover {
  using Run = std::function<Task<void>(Connection&, Request&)>;
  // true: `run` writes the whole answer, head included (a WebSocket handshake's 101, a proxied
  // upgrade's). false: the server writes the head first (no Content-Length, Connection: close)
  // and `run` the body, until it returns.
  bool writes_head = false;
  Run run;
};

// A body sent from an open file (file_response.hpp): `length` bytes from `offset`, by sendfile(2)
// where the connection is plain TCP. The descriptor is closed with the last reference.
struct FileBody {
  FileBody(int fd, std::uint64_t offset, std::uint64_t length)
      : fd(fd), offset(offset), length(length) {}
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;
  ~FileBody();
  int fd;
  std::uint64_t offset;
  std::uint64_t length;
};

struct Response {
  using Header = std::pair<std::string, std::string>;

  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<Header> headers;
  // Set: the connection is handed over after the head (Connection, connection.hpp).
  std::shared_ptr<const Takeover> takeover;
  // Set: the body is this file's bytes, not `body` (file_response.hpp).
  std::shared_ptr<const FileBody> file;

  static Response json(int status, const nlohmann::json& body);
  // A body that already is JSON text (from svckit::JsonWriter, say).
  static Response json_text(int status, std::string body);
  static Response text(int status, std::string body);
  static Response empty(int status = 204);
  // RFC 9457 problem+json for `error`, with `request_id` and the request path as `instance`.
  static Response problem(const Error& error, std::string_view request_id,
                          std::string_view instance);
  // Switches protocols: `run` answers (101 and its headers) and speaks the new protocol.
  // `status` is what metrics and the access log record.
  static Response upgrade(Takeover::Run run, int status = 101);
  // An answer whose body `run` writes as it is produced (server-sent events): the connection
  // closes when `run` returns.
  static Response stream(int status, std::string content_type, Takeover::Run run);

  Response& set_header(std::string name, std::string value);
  // Case-insensitive; nullptr when absent.
  const std::string* header(std::string_view name) const;
};

}  // namespace svckit::http
