#include "svckit/grpc/status.hpp"

#include "svckit/error.hpp"

namespace svckit::grpc {

::grpc::StatusCode code_for_http_status(int status) {
  using C = ::grpc::StatusCode;
  switch (status) {
    case 400:
    case 422:
      return C::INVALID_ARGUMENT;
    case 401:
      return C::UNAUTHENTICATED;
    case 403:
      return C::PERMISSION_DENIED;
    case 404:
      return C::NOT_FOUND;
    case 409:
      return C::ALREADY_EXISTS;
    case 412:
      return C::FAILED_PRECONDITION;
    case 413:
    case 429:
      return C::RESOURCE_EXHAUSTED;
    case 499:
      return C::CANCELLED;
    case 501:
      return C::UNIMPLEMENTED;
    case 502:
    case 503:
      return C::UNAVAILABLE;
    case 504:
      return C::DEADLINE_EXCEEDED;
    default:
      if (status >= 200 && status < 300) return C::OK;
      return status >= 400 && status < 500 ? C::FAILED_PRECONDITION : C::INTERNAL;
  }
}

int http_status_for_code(::grpc::StatusCode code) {
  using C = ::grpc::StatusCode;
  switch (code) {
    case C::OK:
      return 200;
    case C::CANCELLED:
      return 499;
    case C::INVALID_ARGUMENT:
    case C::OUT_OF_RANGE:
      return 400;
    case C::DEADLINE_EXCEEDED:
      return 504;
    case C::NOT_FOUND:
      return 404;
    case C::ALREADY_EXISTS:
    case C::ABORTED:
      return 409;
    case C::PERMISSION_DENIED:
      return 403;
    case C::UNAUTHENTICATED:
      return 401;
    case C::RESOURCE_EXHAUSTED:
      return 429;
    case C::FAILED_PRECONDITION:
      return 400;
    case C::UNIMPLEMENTED:
      return 501;
    case C::UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

std::string_view code_name(::grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  auto i = static_cast<std::size_t>(code);
  return i < std::size(kNames) ? kNames[i] : std::string_view("UNKNOWN");
}

::grpc::Status status_for(const std::exception_ptr& error, std::string* detail) {
  try {
    std::rethrow_exception(error);
  } catch (const StatusError& e) {
    return {e.code(), e.what()};
  } catch (const Error& e) {
    std::string message = e.detail().empty() ? e.title() : e.detail();
    if (e.status() >= 500 && (e.status() < 501 || e.status() > 504)) {
      if (detail) *detail = message;
      return {code_for_http_status(e.status()), e.title()};
    }
    return {code_for_http_status(e.status()), message};
  } catch (const std::exception& e) {
    if (detail) *detail = e.what();
  } catch (...) {
    if (detail) *detail = "a non-standard exception";
  }
  return {::grpc::StatusCode::INTERNAL, "internal error"};
}

}  // namespace svckit::grpc
