// A service for black-box tests of the SDK itself: a start-up that can be slowed down, a request
// that takes as long as asked, and an echo. Not a product; built only with the tests.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <svckit/svckit.hpp>

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

namespace {

Task<void> sleep_for(std::chrono::milliseconds ms) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, ms);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

struct TestDaemon : svckit::Module {
  std::chrono::milliseconds start_delay{0};

  static void declare(svckit::Settings& settings) {
    settings.declare("testd", {.name = "TESTD_START_DELAY",
                               .type = svckit::SettingType::duration,
                               .default_value = "0",
                               .help = "how long start() takes"});
  }

  void install(svckit::App& app) override {
    start_delay = app.settings().duration("TESTD_START_DELAY");
    auto api = app.http().group("/test");
    api.get("/slow", [](Request& req) -> Task<Response> {
      auto ms = svckit::http::query_int("ms", req.query_param("ms"), 100, 0, 60000);
      // Tests wait for this line to know the request is in flight (rather than sleeping).
      req.context().log(svckit::log::Level::info, "slow request started", {{"ms", ms}});
      co_await sleep_for(std::chrono::milliseconds(ms));
      co_return Response::json(200, {{"slept_ms", ms}});
    });
    api.post("/echo", [](Request& req) -> Task<Response> {
      co_return Response::json(200, {{"bytes", req.body().size()},
                                     {"request_id", req.request_id()},
                                     {"trace_id", req.trace().trace_id},
                                     {"parent_span_id", req.trace().parent_span_id}});
    });
    api.get("/boom", [](Request&) -> Task<Response> {
      throw std::runtime_error("internal detail that must not leak");
      co_return Response::empty();
    });
  }

  Task<void> start(svckit::App&) override { co_await sleep_for(start_delay); }
};

}  // namespace

int main(int argc, char** argv) {
  return svckit::run<TestDaemon>("svckit-testd", argc, argv);
}
