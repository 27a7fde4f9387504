// Client overhead: the same GETs against one local upstream, made through svckit::http::Client
// and through a bare Beast client (one keep-alive tcp_stream per caller, async_write/async_read,
// nothing else), side by side in interleaved rounds. Prints calls/s of each and their ratio.
//
//   build/bin/bench_client [SECONDS_PER_ROUND=3] [ROUNDS=3] [CONCURRENCY=32]
//
// The upstream is a svckit server on its own thread; both clients share one I/O thread, as the
// calls of a service's handlers share its loop.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "svckit/http/client.hpp"
#include "svckit/http/server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

namespace {

struct Round {
  long calls = 0;
  long errors = 0;
};

svckit::Task<void> svckit_caller(svckit::http::Client& client, Clock::time_point until,
                                 Round& round) {
  while (Clock::now() < until) {
    try {
      auto res = co_await client.get("/hello");
      res.status == 200 ? ++round.calls : ++round.errors;
    } catch (const std::exception&) {
      ++round.errors;
    }
  }
}

svckit::Task<void> beast_caller(std::uint16_t port, Clock::time_point until, Round& round) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  co_await stream.async_connect(endpoint, asio::use_awaitable);
  stream.socket().set_option(asio::ip::tcp::no_delay(true));
  beast::flat_buffer buffer;
  beast::http::request<beast::http::empty_body> req(beast::http::verb::get, "/hello", 11);
  req.set(beast::http::field::host, "127.0.0.1");
  while (Clock::now() < until) {
    co_await beast::http::async_write(stream, req, asio::use_awaitable);
    beast::http::response<beast::http::string_body> res;
    co_await beast::http::async_read(stream, buffer, res, asio::use_awaitable);
    res.result_int() == 200 ? ++round.calls : ++round.errors;
  }
}

template <class Spawn>
double run_round(double seconds, int concurrency, Spawn spawn, Round& round) {
  asio::io_context io(1);
  auto started = Clock::now();
  auto until =
      started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int i = 0; i < concurrency; ++i) spawn(io, until);
  io.run();
  return std::chrono::duration<double>(Clock::now() - started).count();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  int concurrency = argc > 3 ? std::atoi(argv[3]) : 32;

  svckit::log::Logger logger("bench", svckit::log::Level::error);
  asio::io_context server_io(1);
  svckit::http::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  svckit::http::Server server(std::vector<asio::io_context*>{&server_io}, options, logger);
  server.router().add(svckit::http::Method::get, "/hello",
                      [](svckit::http::Request&) -> svckit::Task<svckit::http::Response> {
                        co_return svckit::http::Response::json_text(200, R"({"hello":"world"})");
                      });
  auto port = server.listen();
  server.start();
  std::thread server_thread([&] { server_io.run(); });

  svckit::http::ClientOptions client_options;
  client_options.max_idle_per_loop = static_cast<std::size_t>(concurrency);
  svckit::http::Client client("http://127.0.0.1:" + std::to_string(port), client_options);

  std::printf("round  svckit calls/s  beast calls/s  ratio  (concurrency %d, %.1f s each)\n",
              concurrency, seconds);
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    Round beast_round, svckit_round;
    // Alternate which goes first so drift on a shared machine does not favour one.
    auto run_beast = [&] {
      return run_round(
          seconds, concurrency,
          [&](asio::io_context& io, Clock::time_point until) {
            asio::co_spawn(io, beast_caller(port, until, beast_round), asio::detached);
          },
          beast_round);
    };
    auto run_svckit = [&] {
      return run_round(
          seconds, concurrency,
          [&](asio::io_context& io, Clock::time_point until) {
            asio::co_spawn(io, svckit_caller(client, until, svckit_round), asio::detached);
          },
          svckit_round);
    };
    double beast_s, svckit_s;
    if (r % 2 == 0) {
      beast_s = run_beast();
      svckit_s = run_svckit();
    } else {
      svckit_s = run_svckit();
      beast_s = run_beast();
    }
    double svckit_rate = static_cast<double>(svckit_round.calls) / svckit_s;
    double beast_rate = static_cast<double>(beast_round.calls) / beast_s;
    ratios.push_back(svckit_rate / beast_rate);
    std::printf("%5d  %14.0f  %13.0f  %5.2f  errors %ld/%ld\n", r + 1, svckit_rate, beast_rate,
                ratios.back(), svckit_round.errors, beast_round.errors);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("median ratio svckit/beast: %.2f (target >= 0.80)\n", ratios[ratios.size() / 2]);
  server_io.stop();
  server_thread.join();
  return 0;
}
