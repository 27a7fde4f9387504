#pragma once
// A stand-in for an upstream, on loopback: a real svckit HTTP server on a free port of its own
// thread that answers what the test says and keeps every request it received. Its url() is what
// the service under test is configured with, in place of the real upstream.
//
//   StandIn ai;
//   ai.on(http::Method::post, "/v1/chat/completions", [](const StandIn::Received& r) {
//     return http::Response::json(200, {{"choices", ...}});
//   });
//   TestApp service("ai-gateway", {{"OPENAI_BASE_URL", ai.url()}});
//   ...
//   EXPECT_EQ(ai.received().at(0).header("authorization"), "Bearer test-key");
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/http/method.hpp"
#include "svckit/http/response.hpp"

namespace svckit::testing {

class StandIn {
 public:
  // A request as it arrived.
  struct Received {
    std::string method;
    std::string target;  // path and query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Case-insensitive; the first value when repeated.
    std::optional<std::string_view> header(std::string_view name) const;
    nlohmann::json json() const;  // the body; throws when it is not JSON
  };
  using Answer = std::function<http::Response(const Received&)>;

  StandIn();
  ~StandIn();
  StandIn(const StandIn&) = delete;
  StandIn& operator=(const StandIn&) = delete;

  // Answers `method` on exactly `path` (the query is not compared) with `answer`, from now on,
  // in place of an earlier answer for the same method and path. Anything unanswered gets 404.
  void on(http::Method method, std::string path, Answer answer);
  // A fixed answer.
  void on(http::Method method, std::string path, int status, nlohmann::json body);

  // http://127.0.0.1:<port>
  std::string url() const;
  std::uint16_t port() const;
  // Every request received so far, in order (unanswered ones too).
  std::vector<Received> received() const;
  // Waits (woken by each arrival, never a sleep) until `count` requests have arrived; returns
  // them. Throws std::runtime_error after `timeout`.
  std::vector<Received> wait_for(std::size_t count,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace svckit::testing
