#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace svckit {
class Error;
}

namespace svckit::http {

struct Response {
  using Header = std::pair<std::string, std::string>;

  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<Header> headers;

  static Response json(int status, const nlohmann::json& body);
  // A body that already is JSON text (from svckit::JsonWriter, say).
  static Response json_text(int status, std::string body);
  static Response text(int status, std::string body);
  static Response empty(int status = 204);
  // RFC 9457 problem+json for `error`, with `request_id` and the request path as `instance`.
  static Response problem(const Error& error, std::string_view request_id,
                          std::string_view instance);

  Response& set_header(std::string name, std::string value);
  // Case-insensitive; nullptr when absent.
  const std::string* header(std::string_view name) const;
};

}  // namespace svckit::http
