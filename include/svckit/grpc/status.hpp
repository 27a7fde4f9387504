#pragma once
// gRPC status codes for what handlers throw. A handler answers with a status other than OK by
// throwing: StatusError for a gRPC code of its choice, or any svckit::Error, whose HTTP status
// maps the way gRPC's own HTTP mapping and grpc-gateway do:
//   400, 422 INVALID_ARGUMENT    401 UNAUTHENTICATED     403 PERMISSION_DENIED   404 NOT_FOUND
//   409 ALREADY_EXISTS           412 FAILED_PRECONDITION 413, 429 RESOURCE_EXHAUSTED
//   499 CANCELLED                501 UNIMPLEMENTED       502, 503 UNAVAILABLE    504
//   DEADLINE_EXCEEDED other 4xx FAILED_PRECONDITION, other 5xx INTERNAL (whose detail is logged,
//   not sent).
// Anything else thrown is INTERNAL with "internal error" (its message is logged, never sent).
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

namespace svckit::grpc {

class StatusError : public std::runtime_error {
 public:
  StatusError(::grpc::StatusCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ::grpc::StatusCode code() const { return code_; }

 private:
  ::grpc::StatusCode code_;
};

::grpc::StatusCode code_for_http_status(int status);
// The HTTP status a gRPC code stands for (the reverse, for calls answered over HTTP).
int http_status_for_code(::grpc::StatusCode code);
// "OK", "INVALID_ARGUMENT", ... (the grpc_code label).
std::string_view code_name(::grpc::StatusCode code);

// What `error` (thrown by a handler or interceptor) answers with. `detail` receives the message
// to log when it is not sent (an unexpected exception).
::grpc::Status status_for(const std::exception_ptr& error, std::string* detail = nullptr);

}  // namespace svckit::grpc
