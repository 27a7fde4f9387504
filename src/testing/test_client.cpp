#include "svckit/testing/test_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <stdexcept>
#include <thread>

#include "svckit/http/ascii.hpp"

namespace svckit::testing {

namespace asio = boost::asio;

std::optional<std::string_view> TestResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (http::iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

nlohmann::json TestResponse::json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded())
    throw std::runtime_error("the answer (" + std::to_string(status) +
                             ") is not JSON: " + body.substr(0, 200));
  return parsed;
}

// The client's own I/O thread: calls run there, the test's thread waits for each.
struct TestClient::Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~Loop() {
    guard.reset();
    io.stop();
    thread.join();
  }
};

TestClient::TestClient(std::string_view base_url, std::chrono::milliseconds timeout)
    : loop_(std::make_unique<Loop>()),
      client_(
          std::make_unique<http::Client>(base_url, http::ClientOptions{.name = "test-client",
                                                                       .timeout = timeout,
                                                                       .retry = RetryPolicy::none(),
                                                                       .breaker = std::nullopt})) {}

TestClient::~TestClient() {
  // Pooled connections belong to the loop: closed there before it stops.
  std::promise<void> closed;
  asio::post(loop_->io, [this, &closed] {
    client_.reset();
    closed.set_value();
  });
  closed.get_future().wait();
}

TestResponse TestClient::send(http::ClientRequest request) {
  if (!bearer_.empty()) request.headers.emplace_back("Authorization", "Bearer " + bearer_);
  auto answer =
      asio::co_spawn(loop_->io, client_->send(std::move(request)), asio::use_future).get();
  return TestResponse{answer.status, std::move(answer.headers), std::move(answer.body)};
}

namespace {
http::ClientRequest plain(http::Method method, std::string target, TestClient::Headers headers) {
  http::ClientRequest r;
  r.method = method;
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}
http::ClientRequest with_json(http::Method method, std::string target, const nlohmann::json& body,
                              TestClient::Headers headers) {
  auto r = http::ClientRequest::json(method, std::move(target), body);
  for (auto& h : headers) r.headers.push_back(std::move(h));
  return r;
}
}  // namespace

TestResponse TestClient::get(std::string target, Headers headers) {
  return send(plain(http::Method::get, std::move(target), std::move(headers)));
}
TestResponse TestClient::del(std::string target, Headers headers) {
  return send(plain(http::Method::del, std::move(target), std::move(headers)));
}
TestResponse TestClient::post(std::string target, const nlohmann::json& body, Headers headers) {
  return send(with_json(http::Method::post, std::move(target), body, std::move(headers)));
}
TestResponse TestClient::put(std::string target, const nlohmann::json& body, Headers headers) {
  return send(with_json(http::Method::put, std::move(target), body, std::move(headers)));
}
TestResponse TestClient::patch(std::string target, const nlohmann::json& body, Headers headers) {
  return send(with_json(http::Method::patch, std::move(target), body, std::move(headers)));
}

}  // namespace svckit::testing
