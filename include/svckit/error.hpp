#pragma once
// The one error type of svckit. Anything thrown from a handler that derives from Error becomes
// an RFC 9457 application/problem+json response with the status it carries; anything else is a
// 500 whose detail is logged, never sent.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace svckit {

// One invalid input field, as reported in a 422 body's `errors` member.
struct FieldError {
  std::string field;
  std::string message;
};

class Error : public std::runtime_error {
 public:
  using Header = std::pair<std::string, std::string>;

  Error(int status, std::string type, std::string title, std::string detail);

  int status() const { return status_; }
  // A URI naming the problem type (RFC 9457 `type`); "about:blank" when the status says it all.
  const std::string& type() const { return type_; }
  const std::string& title() const { return title_; }
  const std::string& detail() const { return detail_; }
  const std::vector<FieldError>& field_errors() const { return field_errors_; }
  // Response headers the status requires: Allow for 405, Retry-After for 429/503, ...
  const std::vector<Header>& headers() const { return headers_; }

  Error& with_header(std::string name, std::string value);
  Error& with_field_error(std::string field, std::string message);

 private:
  int status_;
  std::string type_;
  std::string title_;
  std::string detail_;
  std::vector<FieldError> field_errors_;
  std::vector<Header> headers_;
};

struct BadRequest : Error {
  explicit BadRequest(std::string detail);
};
struct Unauthorized : Error {
  explicit Unauthorized(std::string detail);
};
struct Forbidden : Error {
  explicit Forbidden(std::string detail);
};
struct NotFound : Error {
  explicit NotFound(std::string detail);
};
struct MethodNotAllowed : Error {
  MethodNotAllowed(std::string detail, std::string allow);
};
struct Conflict : Error {
  explicit Conflict(std::string detail);
};
struct PayloadTooLarge : Error {
  explicit PayloadTooLarge(std::string detail);
};
struct UnsupportedMediaType : Error {
  explicit UnsupportedMediaType(std::string detail);
};
// 422: the request was well-formed but a field is invalid. The first field is named in `detail`.
struct ValidationError : Error {
  ValidationError(std::string field, std::string message);
};
struct TooManyRequests : Error {
  TooManyRequests(std::string detail, int retry_after_seconds);
};
struct ServiceUnavailable : Error {
  ServiceUnavailable(std::string detail, int retry_after_seconds);
};

// The reason phrase for an HTTP status ("Not Found"), or "Unknown".
const char* status_reason(int status);

}  // namespace svckit
