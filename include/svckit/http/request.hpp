#pragma once
// An HTTP request as a handler sees it: method, path, headers, body, the matched route's
// parameters, and its svckit::Context (request id, trace, deadline, user, logger), which the
// HTTP client, the gRPC channel and the bus take for the calls the handler makes.
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "svckit/context.hpp"
#include "svckit/http/client_certificate.hpp"
#include "svckit/http/header_name.hpp"
#include "svckit/http/method.hpp"

namespace svckit::http {

class BodyStream;
class JsonBody;
struct Route;

// The header that carries a call's remaining time in whole milliseconds. The server reads it
// into Request::deadline(); svckit::http::Client sends it on every call that has a deadline.
inline constexpr std::string_view kTimeoutHeader = "X-Request-Timeout-Ms";

class Request {
 public:
  using Header = std::pair<std::string, std::string>;                // what a Request is made from
  using HeaderView = std::pair<std::string_view, std::string_view>;  // what it hands out
  using Param = std::pair<std::string_view, std::string_view>;
  using AnswerHeader = std::pair<HeaderName, std::string>;

  Request() = default;
  Request(Method method, std::string method_name, std::string target,
          const std::vector<Header>& headers, std::string body);
  // The server's: the fields of a parsed head (views into its buffer), copied into one block.
  static Request from_fields(Method method, std::string method_name, std::string target,
                             std::span<const HeaderView> fields, std::string body);
  Request(const Request& other);
  Request& operator=(const Request& other);
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept = default;

  Method method() const { return method_; }
  std::string_view method_name() const { return method_name_; }
  // The raw request target ("/api/v1/tasks?page=2").
  const std::string& target() const { return target_; }
  std::string_view path() const { return std::string_view(target_).substr(0, path_size_); }
  // After the '?', empty when there is none.
  std::string_view query() const {
    return path_size_ < target_.size() ? std::string_view(target_).substr(path_size_ + 1)
                                       : std::string_view();
  }
  // In arrival order, views into the request's own copy of them.
  const std::vector<HeaderView>& headers() const { return headers_; }
  const std::string& body() const { return body_; }
  // The body as it arrives, when the route streams bodies (body_stream.hpp) and this one did
  // not arrive whole with its head; nullptr otherwise (the body is in body()).
  BodyStream* body_stream() const { return body_stream_; }

  // Case-insensitive header lookup; the first value when repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  // A path parameter of the matched route ("id" for "/tasks/{id}"), percent-decoded; throws
  // std::logic_error if the route has no such parameter, BadRequest on a malformed escape.
  std::string param(std::string_view name) const;
  // A query parameter, percent-decoded; nullopt when absent.
  std::optional<std::string> query_param(std::string_view name) const;

  // The body as JSON: 415 unless the content type is JSON, 400 if it does not parse.
  nlohmann::json json() const;
  // The body as a JSON object with typed, field-naming access (422 on a bad field).
  JsonBody json_object() const;
  // The body as a described model (svckit/model/json.hpp): 415, 400, or 422 naming the path of
  // the first bad field. Defined in svckit/http/json_body.hpp.
  template <class T>
  T json() const;

  // What the calls and events this request leads to carry: request id, trace, deadline, user.
  const Context& context() const { return context_; }
  Context& context() { return context_; }
  const std::string& request_id() const { return context_.request_id(); }
  const trace::TraceContext& trace() const { return context_.trace(); }
  // Who the request acts for, once authenticated; empty when anonymous.
  const std::string& user_id() const { return context_.user_id(); }
  // The matched route's template ("/api/v1/tasks/{id}"), empty when nothing matched.
  std::string_view route() const;
  const Route* matched_route() const { return route_; }
  std::chrono::steady_clock::time_point received_at() const { return context_.started_at(); }
  // When the caller stops waiting: X-Request-Timeout-Ms (1 ms to 1 day) after the request
  // arrived; unset when the caller sent none. Outgoing calls made with this request's context
  // are bounded by it.
  Deadline deadline() const { return context_.deadline(); }
  // The client's IP address as the socket sees it ("127.0.0.1", "::1"). Forwarding headers are
  // never taken for it.
  // The client's address: the TCP peer's, or, when the peer is a trusted proxy
  // (ServerOptions::trusted_proxies), the one its X-Forwarded-For names.
  const std::string& remote_address() const { return remote_address_; }
  // The TCP peer's address, whoever it says the client is.
  const std::string& peer_address() const { return peer_address_; }
  // The verified client certificate of a TLS connection with client authentication (mTLS),
  // nullptr otherwise.
  const ClientCertificate* client_certificate() const { return client_certificate_.get(); }

  // Logs with the request's id, trace and user attached.
  void log(log::Level level, std::string_view message, log::Fields fields = {}) const {
    context_.log(level, message, fields);
  }

  // Headers for this request's answer, whatever it turns out to be (an error answer too), set
  // by middleware on the way in, as Go middleware sets w.Header() before calling next: the
  // server writes them after the response's own, and leaves out a name the response sets
  // itself. A middleware that only adds headers needs no coroutine frame of its own then
  // (auth::rate_limit()). Setting a name again replaces its value.
  void set_answer_header(HeaderName name, std::string value);
  // Its value, when set; the name compared without case.
  std::optional<std::string_view> answer_header(std::string_view name) const;
  const std::vector<AnswerHeader>& answer_headers() const { return answer_headers_; }

  // Set by the server before the handler runs.
  void set_route(const Route* route, std::vector<Param> params);
  void set_body_stream(BodyStream* stream) { body_stream_ = stream; }
  void set_received_at(std::chrono::steady_clock::time_point t) { context_.set_started_at(t); }
  void set_remote_address(std::string address) { remote_address_ = std::move(address); }
  void set_peer_address(std::string address) { peer_address_ = std::move(address); }
  void set_client_certificate(std::shared_ptr<const ClientCertificate> certificate) {
    client_certificate_ = std::move(certificate);
  }

 private:
  template <class Fields>
  void keep_headers(const Fields& fields);

  Method method_ = Method::get;
  std::string method_name_;
  std::string target_;
  std::size_t path_size_ = 0;  // an offset, not a view: a moved short target changes address
  // Every name and value back to back, always on the heap (a moved std::string keeps its
  // buffer then, and the views stay valid); headers_ points into it.
  std::string header_text_;
  std::vector<HeaderView> headers_;
  std::string body_;
  BodyStream* body_stream_ = nullptr;  // the server's, while the request is handled
  std::vector<Param> params_;
  const Route* route_ = nullptr;
  Context context_;
  std::string remote_address_;
  std::string peer_address_;
  std::shared_ptr<const ClientCertificate> client_certificate_;  // one per connection
  std::vector<AnswerHeader> answer_headers_;
};

// Percent-decodes a query component ('+' is a space unless `plus_is_space` is false). Throws
// BadRequest on a malformed escape.
std::string percent_decode(std::string_view text, bool plus_is_space = true);

}  // namespace svckit::http
