#include "svckit/testing/stand_in.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "svckit/http/ascii.hpp"
#include "svckit/http/handler.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/server.hpp"
#include "svckit/log/logger.hpp"

namespace svckit::testing {

namespace asio = boost::asio;

std::optional<std::string_view> StandIn::Received::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (http::iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

nlohmann::json StandIn::Received::json() const {
  return nlohmann::json::parse(body);
}

namespace {
Task<void> stop_serving(http::Server& server) {
  server.stop_accepting();
  co_await server.drain(std::chrono::seconds(2));
}
}  // namespace

struct StandIn::State {
  std::mutex mutex;
  std::condition_variable arrived;
  std::map<std::pair<http::Method, std::string>, Answer> answers;
  std::vector<Received> received;

  log::Logger logger{"stand-in", log::Level::error, stderr};
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::unique_ptr<http::Server> server;
  std::thread thread;

  // Keeps the request, then answers it when the test said how.
  Task<http::Response> serve(http::Request& req, const http::Handler& next) {
    Received r{std::string(req.method_name()), req.target(), {}, req.body()};
    for (const auto& [n, v] : req.headers()) r.headers.emplace_back(n, v);
    Answer answer;
    {
      std::lock_guard lock(mutex);
      received.push_back(r);
      auto it = answers.find({req.method(), std::string(req.path())});
      if (it != answers.end()) answer = it->second;
    }
    arrived.notify_all();
    if (!answer) co_return co_await next(req);
    co_return answer(r);
  }
};

StandIn::StandIn() : state_(std::make_shared<State>()) {
  auto& s = *state_;
  s.server =
      std::make_unique<http::Server>(std::vector<asio::io_context*>{&s.io},
                                     http::ServerOptions{.host = "127.0.0.1", .port = 0}, s.logger);
  s.server->use(http::problem_responses());
  s.server->use(
      [raw = &s](http::Request& req, const http::Handler& next) { return raw->serve(req, next); });
  s.server->listen();
  s.server->start();
  s.thread = std::thread([raw = &s] {
    for (;;) {
      try {
        raw->io.run();
        return;
      } catch (const std::exception& e) {  // a handler's: the stand-in keeps serving
        std::fprintf(stderr, "stand-in: %s\n", e.what());
      }
    }
  });
}

StandIn::~StandIn() {
  auto& s = *state_;
  asio::co_spawn(s.io, stop_serving(*s.server), asio::use_future).get();
  s.guard.reset();
  s.io.stop();
  s.thread.join();
  s.server.reset();
}

void StandIn::on(http::Method method, std::string path, Answer answer) {
  std::lock_guard lock(state_->mutex);
  state_->answers[{method, std::move(path)}] = std::move(answer);
}

void StandIn::on(http::Method method, std::string path, int status, nlohmann::json body) {
  on(method, std::move(path), [status, body = std::move(body)](const Received&) {
    return http::Response::json(status, body);
  });
}

std::uint16_t StandIn::port() const {
  return state_->server->port();
}

std::string StandIn::url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

std::vector<StandIn::Received> StandIn::received() const {
  std::lock_guard lock(state_->mutex);
  return state_->received;
}

std::vector<StandIn::Received> StandIn::wait_for(std::size_t count,
                                                 std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  if (!state_->arrived.wait_for(lock, timeout, [&] { return state_->received.size() >= count; }))
    throw std::runtime_error("the stand-in at " + url() + " received " +
                             std::to_string(state_->received.size()) + " of " +
                             std::to_string(count) + " requests");
  return state_->received;
}

}  // namespace svckit::testing
