#pragma once
// A whole problem+json answer written by hand, for a connection about to close: the server's
// caps (503 too many connections, 429 too many from one address) and a WebSocket upgrade that
// cannot be switched. Written before any request object exists, or after the request's answer
// has been handed over, so not through Response.
#include <string>
#include <string_view>

#include "svckit/error.hpp"

namespace svckit::http::detail {

inline std::string closing_answer(int status, std::string_view detail, bool retry_after) {
  std::string body = std::string(R"({"type":"about:blank","title":")") + status_reason(status) +
                     R"(","status":)" + std::to_string(status) + R"(,"detail":")" +
                     std::string(detail) + "\"}";
  return "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) +
         "\r\nServer: svckit\r\nContent-Type: application/problem+json\r\n" +
         (retry_after ? "Retry-After: 1\r\n" : "") +
         "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace svckit::http::detail
