#include "svckit/error.hpp"

namespace svckit {

Error::Error(int status, std::string type, std::string title, std::string detail)
    : std::runtime_error(detail),
      status_(status),
      type_(std::move(type)),
      title_(std::move(title)),
      detail_(std::move(detail)) {}

Error& Error::with_header(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
  return *this;
}

Error& Error::with_field_error(std::string field, std::string message) {
  field_errors_.push_back({std::move(field), std::move(message)});
  return *this;
}

BadRequest::BadRequest(std::string detail)
    : Error(400, "about:blank", "Bad Request", std::move(detail)) {}

Unauthorized::Unauthorized(std::string detail)
    : Error(401, "about:blank", "Unauthorized", std::move(detail)) {}

Forbidden::Forbidden(std::string detail)
    : Error(403, "about:blank", "Forbidden", std::move(detail)) {}

NotFound::NotFound(std::string detail)
    : Error(404, "about:blank", "Not Found", std::move(detail)) {}

MethodNotAllowed::MethodNotAllowed(std::string detail, std::string allow)
    : Error(405, "about:blank", "Method Not Allowed", std::move(detail)) {
  with_header("Allow", std::move(allow));
}

Conflict::Conflict(std::string detail) : Error(409, "about:blank", "Conflict", std::move(detail)) {}

PayloadTooLarge::PayloadTooLarge(std::string detail)
    : Error(413, "about:blank", "Content Too Large", std::move(detail)) {}

UnsupportedMediaType::UnsupportedMediaType(std::string detail)
    : Error(415, "about:blank", "Unsupported Media Type", std::move(detail)) {}

ValidationError::ValidationError(std::string field, std::string message)
    : Error(422, "urn:svckit:problem:validation", "Validation Failed", field + ": " + message) {
  with_field_error(std::move(field), std::move(message));
}

TooManyRequests::TooManyRequests(std::string detail, int retry_after_seconds)
    : Error(429, "about:blank", "Too Many Requests", std::move(detail)) {
  with_header("Retry-After", std::to_string(retry_after_seconds));
}

ServiceUnavailable::ServiceUnavailable(std::string detail, int retry_after_seconds)
    : Error(503, "about:blank", "Service Unavailable", std::move(detail)) {
  with_header("Retry-After", std::to_string(retry_after_seconds));
}

const char* status_reason(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 206:
      return "Partial Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace svckit
