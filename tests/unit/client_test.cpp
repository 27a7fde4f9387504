// svckit::http::Client over real loopback sockets against upstreams that answer, fail, hang,
// reset, rate-limit and speak garbage; TLS peer verification against a svckit server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "run_sync.hpp"
#include "svckit/error.hpp"
#include "svckit/http/client.hpp"
#include "svckit/http/server.hpp"
#include "svckit/metrics/http_metrics.hpp"
#include "svckit/metrics/registry.hpp"

using namespace std::chrono_literals;
using svckit::http::Client;
using svckit::http::ClientOptions;
using svckit::http::ClientRequest;
using svckit::http::ClientResponse;
using svckit::http::UpstreamError;

namespace {

// A blocking HTTP/1.1 upstream on loopback, a thread per connection. `answer` sees each request
// head (with the connection's and the request's index) and returns the raw bytes to send back:
// "" closes the connection with a reset, "hang" never answers.
class FakeUpstream {
 public:
  using Answer = std::function<std::string(int connection, int request, const std::string& head)>;

  explicit FakeUpstream(Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakeUpstream() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  int requests() const { return requests_; }
  // Waits (bounded) until the server has closed every connection it accepted.
  bool all_closed() const {
    for (int i = 0; i < 500 && closed_ < connections_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return closed_ == connections_;
  }
  std::string last_head() {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

  static std::string ok(const std::string& body, const std::string& extra = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
  }
  // Sends `answer`, then closes the connection without having said so.
  static std::string then_close(std::string answer) { return "\x01" + answer; }
  static std::string status(int code, const std::string& extra = "") {
    return "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 0\r\n" + extra + "\r\n";
  }

 private:
  void accept_loop() {
    for (int index = 0;; ++index) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      if (stopping_) {
        ::close(fd);
        return;
      }
      ++connections_;
      std::lock_guard lock(mutex_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd, index] { serve(fd, index); });
    }
  }

  void serve(int fd, int connection) {
    std::string pending;
    char buf[4096];
    for (int request = 0;; ++request) {
      std::size_t end;
      while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return finish(fd);
        pending.append(buf, static_cast<std::size_t>(n));
      }
      std::string head = pending.substr(0, end + 4);
      pending.erase(0, end + 4);
      // Bodies: Content-Length only, which is all the client sends.
      auto cl = head.find("Content-Length: ");
      if (cl != std::string::npos) {
        std::size_t length = std::stoul(head.substr(cl + 16));
        while (pending.size() < length) {
          auto n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) return finish(fd);
          pending.append(buf, static_cast<std::size_t>(n));
        }
        pending.erase(0, length);
      }
      ++requests_;
      {
        std::lock_guard lock(mutex_);
        last_head_ = head;
      }
      std::string out = answer_(connection, request, head);
      if (out == "hang") {
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
        return finish(fd);
      }
      if (out.empty()) {
        linger reset{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        return finish(fd);
      }
      bool close = out[0] == '\x01';
      if (close) out.erase(0, 1);
      ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (close || out.find("Connection: close") != std::string::npos) return finish(fd);
    }
  }

  void finish(int fd) {
    std::lock_guard lock(mutex_);
    std::erase(open_, fd);
    ::close(fd);
    ++closed_;
  }

  Answer answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_{0};
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
  std::string last_head_;
};

ClientOptions quick() {
  ClientOptions o;
  o.retry = {.max_attempts = 3, .initial_backoff = 1ms, .max_backoff = 5ms};
  o.timeout = 3s;
  return o;
}

ClientResponse call(Client& client, ClientRequest request) {
  LoopThread loop;
  return loop.run(client.send(std::move(request)));
}

ClientResponse get(Client& client, const std::string& target) {
  ClientRequest r;
  r.target = target;
  return call(client, std::move(r));
}

UpstreamError::Kind failure_of(Client& client, ClientRequest request) {
  try {
    call(client, std::move(request));
  } catch (const UpstreamError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "the call did not fail";
  return UpstreamError::Kind::protocol;
}

ClientRequest get_request(std::string target = "/") {
  ClientRequest r;
  r.target = std::move(target);
  return r;
}

}  // namespace

TEST(Client, GetsAnAnswerAndReusesTheConnection) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::ok(R"({"ok":true})"); });
  Client client(up.url(), quick());
  LoopThread loop;
  for (int i = 0; i < 20; ++i) {
    auto res = loop.run(client.get("/x"));
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(res.json()["ok"], true);
    EXPECT_EQ(res.header("content-type"), "application/json");
  }
  EXPECT_EQ(up.requests(), 20);
  EXPECT_EQ(up.connections(), 1) << "keep-alive connections are pooled";
}

// An interim answer is not the answer: taken for it, the real one would stay on the pooled
// connection and be read as the next call's.
TEST(Client, ReadsPastInterimAnswers) {
  FakeUpstream up([](int, int request, const std::string&) {
    std::string body = R"({"n":)" + std::to_string(request) + "}";
    if (request == 0)
      return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
             "HTTP/1.1 100 Continue\r\n\r\n" +
             FakeUpstream::ok(body);
    return FakeUpstream::ok(body);
  });
  Client client(up.url(), quick());
  LoopThread loop;
  for (int i = 0; i < 2; ++i) {
    auto res = loop.run(client.get("/x"));
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(res.json()["n"], i);
  }
  EXPECT_EQ(up.connections(), 1);
}

// After 101 the connection speaks another protocol: it is not pooled for the next call.
TEST(Client, DoesNotReuseAConnectionThatSwitchedProtocols) {
  FakeUpstream up([](int connection, int, const std::string&) {
    if (connection == 0)
      return std::string(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n");
    return FakeUpstream::ok("{}");
  });
  Client client(up.url(), quick());
  LoopThread loop;
  EXPECT_EQ(loop.run(client.get("/x")).status, 101);
  EXPECT_EQ(loop.run(client.get("/x")).status, 200);
  EXPECT_EQ(up.connections(), 2);
}

TEST(Client, SendsBodiesHostAndThePathPrefix) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(201); });
  Client client(up.url() + "/base/", quick());
  auto request =
      ClientRequest::json(svckit::http::Method::post, "/items?x=1", nlohmann::json{{"name", "a"}});
  request.headers.emplace_back("content-length", "999");  // the client's own: dropped
  request.headers.emplace_back("X-Tenant", "t1");
  auto res = call(client, std::move(request));
  EXPECT_EQ(res.status, 201);
  auto head = up.last_head();
  EXPECT_NE(head.find("POST /base/items?x=1 HTTP/1.1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(head.find("Content-Length: 12"), std::string::npos);
  EXPECT_NE(head.find("Host: 127.0.0.1:"), std::string::npos);
  EXPECT_NE(head.find("X-Tenant: t1\r\n"), std::string::npos);
  EXPECT_EQ(head.find("ength: 999"), std::string::npos) << head;
  EXPECT_NE(head.find("User-Agent: svckit/"), std::string::npos) << head;

  auto passed_on = get_request("/");  // a proxy passes its client's User-Agent on, only that
  passed_on.headers.emplace_back("user-agent", "monolith/2");
  call(client, std::move(passed_on));
  head = up.last_head();
  EXPECT_NE(head.find("user-agent: monolith/2\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("svckit/"), std::string::npos) << head;
}

TEST(Client, CarriesRequestIdTraceAndRemainingDeadline) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(204); });
  Client client(up.url(), quick());
  auto trace = svckit::trace::TraceContext::continue_from(
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=x");
  svckit::Context incoming("req-123", trace);
  incoming.set_deadline(svckit::Deadline::after(1500ms));
  auto r = get_request("/");
  r.context = &incoming;
  call(client, std::move(r));
  auto head = up.last_head();
  EXPECT_NE(head.find("X-Request-ID: req-123\r\n"), std::string::npos) << head;
  auto tp = head.find("traceparent: 00-0af7651916cd43dd8448eb211c80319c-");
  ASSERT_NE(tp, std::string::npos) << head;
  std::string span = head.substr(tp + 48, 16);
  EXPECT_EQ(head.substr(tp + 65, 5), "-01\r\n") << "the caller's flags";
  EXPECT_TRUE(svckit::trace::parse_traceparent(head.substr(tp + 13, 55)).has_value()) << head;
  EXPECT_NE(span, trace.span_id) << "a new span per outgoing call";
  EXPECT_NE(span, "b7ad6b7169203331");
  EXPECT_NE(head.find("tracestate: vendor=x"), std::string::npos);
  auto t = head.find("X-Request-Timeout-Ms: ");
  ASSERT_NE(t, std::string::npos) << head;
  int ms = std::stoi(head.substr(t + 22));
  EXPECT_GT(ms, 1000);
  EXPECT_LE(ms, 1500);
}

TEST(Client, RetriesIdempotentCallsOn503ThenSucceeds) {
  FakeUpstream up([](int, int request, const std::string&) {
    return request < 2 ? FakeUpstream::status(503) : FakeUpstream::ok("{}");
  });
  svckit::metrics::Registry registry;
  auto options = quick();
  options.metrics = &registry;
  options.name = "flaky";
  Client client(up.url(), options);
  auto res = get(client, "/");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.attempts, 3);
  auto text = registry.render();
  EXPECT_NE(text.find(R"(http_client_retries_total{upstream="flaky"} 2)"), std::string::npos)
      << text;
  EXPECT_NE(
      text.find(R"(http_client_requests_total{method="GET",status="200",upstream="flaky"} 1)"),
      std::string::npos)
      << text;
}

TEST(Client, GivesUpAfterMaxAttemptsAndReturnsTheLastAnswer) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(502); });
  auto options = quick();
  options.breaker.reset();
  Client client(up.url(), options);
  auto res = get(client, "/");
  EXPECT_EQ(res.status, 502);
  EXPECT_EQ(res.attempts, 3);
  EXPECT_EQ(up.requests(), 3);
}

TEST(Client, NeverRetriesANonIdempotentCallThatReachedTheServer) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(503); });
  Client client(up.url(), quick());
  auto res = call(client, ClientRequest::json(svckit::http::Method::post, "/", {{"a", 1}}));
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(up.requests(), 1);
  // ...unless the caller says it is safe (an idempotency key, say).
  auto marked = ClientRequest::json(svckit::http::Method::post, "/", {{"a", 1}});
  marked.idempotent = true;
  EXPECT_EQ(call(client, std::move(marked)).attempts, 3);
}

TEST(Client, DoesNotRetryClientErrors) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(404); });
  Client client(up.url(), quick());
  EXPECT_EQ(get(client, "/").status, 404);
  EXPECT_EQ(up.requests(), 1);
}

TEST(Client, HonoursRetryAfterOn429) {
  FakeUpstream up([](int, int request, const std::string&) {
    return request == 0 ? FakeUpstream::status(429, "Retry-After: 1\r\n") : FakeUpstream::ok("{}");
  });
  Client client(up.url(), quick());
  auto started = std::chrono::steady_clock::now();
  auto res = get(client, "/");
  EXPECT_EQ(res.status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1s) << "waited as the server asked";
}

TEST(Client, DoesNotWaitPastTheDeadlineForRetryAfter) {
  FakeUpstream up([](int, int, const std::string&) {
    return FakeUpstream::status(429, "Retry-After: 30\r\n");
  });
  Client client(up.url(), quick());
  auto r = get_request();
  r.deadline = svckit::Deadline::after(2s);
  auto res = call(client, std::move(r));
  EXPECT_EQ(res.status, 429) << "the 429 comes back at once instead of a 30 s wait";
  EXPECT_EQ(up.requests(), 1);
}

TEST(Client, ConnectionRefusedIsAConnectErrorRetriedEvenForPost) {
  FakeUpstream* gone = new FakeUpstream([](int, int, const std::string&) { return ""; });
  std::string url = gone->url();
  delete gone;  // nothing listens there now
  Client client(url, quick());
  auto post = ClientRequest::json(svckit::http::Method::post, "/", {{"a", 1}});
  try {
    call(client, std::move(post));
    FAIL() << "expected an UpstreamError";
  } catch (const UpstreamError& e) {
    EXPECT_EQ(e.kind(), UpstreamError::Kind::connect);
    EXPECT_EQ(e.status(), 502);
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
}

TEST(Client, AHangingUpstreamTimesOutAt504) {
  FakeUpstream up([](int, int, const std::string&) { return "hang"; });
  auto options = quick();
  options.timeout = 300ms;
  Client client(up.url(), options);
  auto started = std::chrono::steady_clock::now();
  try {
    get(client, "/");
    FAIL() << "expected a timeout";
  } catch (const UpstreamError& e) {
    EXPECT_EQ(e.kind(), UpstreamError::Kind::timeout);
    EXPECT_EQ(e.status(), 504);
  }
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 2s) << "the deadline bounds the call, retries included";
}

// A connection's step timer is lazy: a call resets it only when due sooner than it is set
// for, and when it fires it moves on to the current call's deadline. So on one pooled
// connection a call due sooner than the last one, and one due later, both time out at their own
// deadlines (here the bound is the client's 3 s timeout, which neither may wait for).
TEST(Client, EveryCallOnAPooledConnectionTimesOutAtItsOwnDeadline) {
  FakeUpstream up([](int, int request, const std::string&) {
    return request == 0 ? FakeUpstream::ok("{}") : std::string("hang");
  });
  auto options = quick();
  options.retry.max_attempts = 1;
  Client client(up.url(), options);
  LoopThread loop;
  auto due_in = [](std::chrono::milliseconds after) {
    ClientRequest r;
    r.target = "/";
    r.deadline = svckit::Deadline::after(after);
    return r;
  };
  auto times_out = [&](ClientRequest r) {
    auto started = std::chrono::steady_clock::now();
    try {
      loop.run(client.send(std::move(r)));
      ADD_FAILURE() << "expected a timeout";
    } catch (const UpstreamError& e) {
      EXPECT_EQ(e.kind(), UpstreamError::Kind::timeout);
    }
    return std::chrono::steady_clock::now() - started;
  };
  EXPECT_EQ(loop.run(client.get("/")).status, 200);  // the timer is set for 3 s from now
  EXPECT_LT(times_out(due_in(200ms)), 2s) << "a call due sooner resets the timer";
  EXPECT_EQ(loop.run(client.send(due_in(150ms))).status, 200);  // a new connection: 150 ms
  auto took = times_out(due_in(600ms));
  EXPECT_GE(took, 500ms) << "not the earlier call's deadline";
  EXPECT_LT(took, 2s) << "the timer moved on to this call's deadline";
  EXPECT_EQ(up.connections(), 2);
}

TEST(Client, AttemptTimeoutLetsARetryReachAHealthyAnswer) {
  FakeUpstream up([](int, int, const std::string& head) {
    return head.find("GET /") != std::string::npos && head.find("slow") != std::string::npos
               ? std::string("hang")
               : FakeUpstream::ok("{}");
  });
  auto options = quick();
  options.attempt_timeout = 100ms;
  Client client(up.url(), options);
  EXPECT_THROW(get(client, "/slow"), UpstreamError);
  EXPECT_EQ(up.requests(), 3) << "each try timed out and was retried";
  EXPECT_EQ(get(client, "/fast").status, 200);
}

TEST(Client, AResetIsAnIoErrorAndTheCallIsRetried) {
  FakeUpstream up([](int connection, int, const std::string&) {
    return connection == 0 ? std::string() : FakeUpstream::ok("{}");
  });
  Client client(up.url(), quick());
  auto res = get(client, "/");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.attempts, 2);
  auto post = ClientRequest::json(svckit::http::Method::post, "/", {{"a", 1}});
  FakeUpstream resets([](int, int, const std::string&) { return ""; });
  Client client2(resets.url(), quick());
  EXPECT_EQ(failure_of(client2, std::move(post)), UpstreamError::Kind::io);
  EXPECT_EQ(resets.requests(), 1) << "a POST that may have been processed is not repeated";
}

TEST(Client, AStalePooledConnectionIsReplacedTransparently) {
  // The server answers and then closes without saying so: the pooled connection is dead.
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::ok("{}"); });
  FakeUpstream closing([](int, int, const std::string&) {
    return FakeUpstream::then_close(FakeUpstream::ok("{}"));
  });
  Client client(up.url(), quick());
  LoopThread loop;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(loop.run(client.get("/")).status, 200);
  EXPECT_EQ(up.connections(), 1);
  Client once(closing.url(), quick());
  // A GET may find the dead connection (it is not looked at when it was pooled a moment ago)
  // and is then repeated on a new one; a POST, which cannot be repeated, never finds it.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(loop.run(once.get("/")).status, 200);
  EXPECT_EQ(closing.connections(), 3);
  for (int i = 0; i < 3; ++i) {
    // The server's close has reached this side (else no look could see it: a race every
    // keep-alive client has, which only an idempotent call may survive by repeating).
    ASSERT_TRUE(closing.all_closed());
    EXPECT_EQ(loop.run(once.post("/", nlohmann::json::object())).status, 200);
  }
  EXPECT_EQ(closing.connections(), 6) << "a closed connection is never taken for a POST";
}

TEST(Client, ChunkedAndReadToCloseAnswersAreRead) {
  FakeUpstream chunked([](int, int, const std::string&) {
    return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  });
  FakeUpstream to_close([](int, int, const std::string&) {
    return FakeUpstream::then_close("HTTP/1.1 200 OK\r\nX-Kind: legacy\r\n\r\nuntil the end");
  });
  LoopThread loop;
  Client a(chunked.url(), quick());
  for (int i = 0; i < 2; ++i) {  // the connection stays usable after a chunked answer
    auto res = loop.run(a.get("/"));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "{}");
  }
  EXPECT_EQ(chunked.connections(), 1);
  Client b(to_close.url(), quick());
  auto res = loop.run(b.get("/"));
  EXPECT_EQ(res.body, "until the end");
  EXPECT_EQ(res.header("X-Kind"), "legacy");
}

TEST(Client, GarbageAndOversizedAnswersAreErrorsNotCrashes) {
  FakeUpstream garbage(
      [](int, int, const std::string&) { return std::string("HELLO THERE\r\n\r\n"); });
  auto options = quick();
  options.retry = svckit::RetryPolicy::none();
  Client a(garbage.url(), options);
  EXPECT_EQ(failure_of(a, get_request()), UpstreamError::Kind::io);

  FakeUpstream huge(
      [](int, int, const std::string&) { return FakeUpstream::ok(std::string(4096, 'x')); });
  options.max_response_bytes = 1024;
  Client b(huge.url(), options);
  EXPECT_EQ(failure_of(b, get_request()), UpstreamError::Kind::too_large);
}

TEST(Client, RefusesHeaderInjectionAndBadTargets) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::ok("{}"); });
  Client client(up.url(), quick());
  auto r = get_request();
  r.headers.emplace_back("X-Evil", "a\r\nInjected: 1");
  EXPECT_THROW(call(client, std::move(r)), std::invalid_argument);
  auto bad_name = get_request();
  bad_name.headers.emplace_back("X Evil:", "1");
  EXPECT_THROW(call(client, std::move(bad_name)), std::invalid_argument);
  EXPECT_THROW(call(client, get_request("no-slash")), std::invalid_argument);
  EXPECT_THROW(call(client, get_request("/a b")), std::invalid_argument);
  std::string evil = "a\r\nInjected: 1";  // borrowed headers are checked the same way
  auto borrowed = get_request();
  borrowed.borrowed_headers.emplace_back("X-Evil", evil);
  EXPECT_THROW(call(client, std::move(borrowed)), std::invalid_argument);
  auto borrowed_name = get_request();
  borrowed_name.borrowed_headers.emplace_back("X Evil:", "1");
  EXPECT_THROW(call(client, std::move(borrowed_name)), std::invalid_argument);
  EXPECT_EQ(up.requests(), 0);
}

// A proxy's headers as views into text it keeps (send_borrowed): sent as they are, after the
// owned ones, the client's own (Host, Content-Length) still the client's. owning() copies them
// for a call that outlives that text.
TEST(Client, SendsBorrowedHeadersAndOwningCopiesThem) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::ok("{}"); });
  Client client(up.url(), quick());
  std::string text = "X-Tenantt1Host";
  ClientRequest r = get_request("/borrowed");
  r.headers.emplace_back("X-Owned", "o");
  r.borrowed_headers.emplace_back(std::string_view(text).substr(0, 8),
                                  std::string_view(text).substr(8, 2));
  r.borrowed_headers.emplace_back(std::string_view(text).substr(10, 4), "evil.example");
  EXPECT_EQ(run_sync(client.send_borrowed(r)).status, 200);
  auto head = up.last_head();
  EXPECT_NE(head.find("\r\nX-Owned: o\r\nX-Tenant: t1\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("evil.example"), std::string::npos) << head;

  ClientRequest kept = r.owning();
  text.assign(text.size(), '?');  // the viewed text changes; the owning copy does not
  EXPECT_TRUE(kept.borrowed_headers.empty());
  ASSERT_EQ(kept.headers.size(), 3u);
  EXPECT_EQ(kept.headers[1], (ClientRequest::Header{"X-Tenant", "t1"}));
  EXPECT_EQ(call(client, std::move(kept)).status, 200);
  EXPECT_NE(up.last_head().find("\r\nX-Tenant: t1\r\n"), std::string::npos) << up.last_head();
}

TEST(Client, RejectsBadBaseUrls) {
  for (const char* url : {"ftp://x", "http://", "http://h:0", "http://h:70000", "http://u:p@h",
                          "http://[::1", "http://h o"})
    EXPECT_THROW(Client c(url), std::invalid_argument) << url;
  EXPECT_NO_THROW(Client c("https://[::1]:8443/api"));
  EXPECT_NO_THROW(Client c("http://task-manager"));
}

// The error reaches logs and a ConfigError: the password in a URL must not.
TEST(Client, ABadUrlsErrorDoesNotEchoItsCredentials) {
  for (const char* url : {"http://admin:hunter2-secret@h/x", "ftp://admin:hunter2-secret@h",
                          "http://admin:hunter2-secret@[::1"}) {
    try {
      Client c(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const std::invalid_argument& e) {
      std::string what = e.what();
      EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
      EXPECT_NE(what.find("***@"), std::string::npos) << what;
    }
  }
}

TEST(Client, TheBreakerOpensStopsCallsAndRecoversThroughAProbe) {
  std::atomic<bool> healthy{false};
  FakeUpstream up([&](int, int, const std::string&) {
    return healthy ? FakeUpstream::ok("{}") : FakeUpstream::status(503);
  });
  auto options = quick();
  options.retry = svckit::RetryPolicy::none();
  options.breaker =
      svckit::CircuitBreakerOptions{.consecutive_failures = 3, .open_duration = 300ms};
  int fallbacks = 0;
  options.fallback = [&](const ClientRequest&, const UpstreamError& e) {
    ++fallbacks;
    EXPECT_EQ(e.kind(), UpstreamError::Kind::circuit_open);
    ClientResponse cached;
    cached.status = 200;
    cached.body = "cached";
    return std::optional(cached);
  };
  Client client(up.url(), options);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(client, "/").status, 503);
  EXPECT_EQ(client.breaker_state(), svckit::CircuitBreaker::State::open);
  auto res = get(client, "/");
  EXPECT_EQ(res.body, "cached") << "an open breaker answers with the fallback";
  EXPECT_EQ(up.requests(), 3) << "and sends nothing";
  healthy = true;
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(get(client, "/").status, 200);  // the half-open probe
  EXPECT_EQ(client.breaker_state(), svckit::CircuitBreaker::State::closed);
  EXPECT_EQ(fallbacks, 1);
}

TEST(Client, OpenBreakerWithoutFallbackIs503WithRetryAfter) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(500); });
  auto options = quick();
  options.retry = svckit::RetryPolicy::none();
  options.breaker = svckit::CircuitBreakerOptions{.consecutive_failures = 1, .open_duration = 10s};
  Client client(up.url(), options);
  get(client, "/");
  try {
    get(client, "/");
    FAIL();
  } catch (const UpstreamError& e) {
    EXPECT_EQ(e.status(), 503);
    ASSERT_FALSE(e.headers().empty());
    EXPECT_EQ(e.headers()[0].first, "Retry-After");
    EXPECT_EQ(e.headers()[0].second, "10");
  }
}

TEST(Client, TheRetryBudgetStopsRetryStormsInAnOutage) {
  FakeUpstream up([](int, int, const std::string&) { return FakeUpstream::status(503); });
  auto options = quick();
  options.breaker.reset();
  options.retry_budget = {.ratio = 0.1, .min_per_second = 0, .max_balance = 100};
  Client client(up.url(), options);
  LoopThread loop;
  for (int i = 0; i < 100; ++i) loop.run(client.get("/"));
  // Without a budget 100 calls would make 300 requests; with 10% they make at most ~110.
  EXPECT_LE(up.requests(), 112);
  EXPECT_GE(up.requests(), 100);
}

// TLS: a svckit server with a certificate made by openssl for "localhost".
class ClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        std::filesystem::temp_directory_path() / ("svckit-client-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    auto d = dir_.string();
    std::string make =
        "cd " + d +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -keyout key.pem -out cert.pem -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost 2>/dev/null"
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -keyout other-key.pem -out other.pem -subj /CN=other 2>/dev/null";
    ASSERT_EQ(std::system(make.c_str()), 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    svckit::http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.tls.certificate_file = (dir_ / "cert.pem").string();
    o.tls.key_file = (dir_ / "key.pem").string();
    server_ = std::make_unique<svckit::http::Server>(std::vector<boost::asio::io_context*>{&io_}, o,
                                                     logger_);
    server_->router().add(svckit::http::Method::get, "/hello",
                          [](svckit::http::Request&) -> svckit::Task<svckit::http::Response> {
                            co_return svckit::http::Response::json_text(200, R"({"hello":"tls"})");
                          });
    port_ = server_->listen();
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    io_.stop();
    thread_.join();
  }

  static inline std::filesystem::path dir_;
  svckit::log::Logger logger_{"test", svckit::log::Level::error};
  boost::asio::io_context io_;
  std::unique_ptr<svckit::http::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(ClientTls, VerifiesThePeerAgainstTheConfiguredCa) {
  auto options = quick();
  options.ca_file = (dir_ / "cert.pem").string();
  Client client("https://localhost:" + std::to_string(port_), options);
  auto res = get(client, "/hello");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.json()["hello"], "tls");
}

TEST_F(ClientTls, RefusesAnUntrustedOrMisnamedCertificate) {
  auto options = quick();
  options.retry = svckit::RetryPolicy::none();
  options.ca_file = (dir_ / "other.pem").string();  // trusts someone else
  Client untrusted("https://localhost:" + std::to_string(port_), options);
  try {
    get(untrusted, "/hello");
    FAIL();
  } catch (const UpstreamError& e) {
    EXPECT_EQ(e.kind(), UpstreamError::Kind::connect);
    EXPECT_NE(std::string(e.what()).find("TLS handshake failed"), std::string::npos) << e.what();
  }
  Client system_cas("https://localhost:" + std::to_string(port_), [] {
    auto o = quick();
    o.retry = svckit::RetryPolicy::none();
    return o;
  }());
  EXPECT_EQ(failure_of(system_cas, get_request("/hello")), UpstreamError::Kind::connect);
  // The certificate names localhost, not 127.0.0.1.
  options.ca_file = (dir_ / "cert.pem").string();
  Client misnamed("https://127.0.0.1:" + std::to_string(port_), options);
  EXPECT_EQ(failure_of(misnamed, get_request("/hello")), UpstreamError::Kind::connect);
}

TEST_F(ClientTls, PlainHttpToATlsPortFailsCleanly) {
  auto options = quick();
  options.retry = svckit::RetryPolicy::none();
  options.timeout = 2s;
  Client client("http://127.0.0.1:" + std::to_string(port_), options);
  EXPECT_THROW(get(client, "/hello"), UpstreamError);
}

namespace {

std::string raw_exchange(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
  ::close(fd);
  return out;
}

// A svckit server on a loopback port with its loop on a thread of its own, for the tests of
// what a server puts on the wire.
class LoopbackServer {
 public:
  LoopbackServer() : server(std::vector<boost::asio::io_context*>{&io_}, options(), logger_) {}
  ~LoopbackServer() { stop(); }
  // Listens and serves; returns the port.
  std::uint16_t start() {
    port_ = server.listen();
    server.start();
    thread_ = std::thread([this] { io_.run(); });
    return port_;
  }
  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // A raw GET with Connection: close; the whole answer.
  std::string get(const std::string& path) const {
    return raw_exchange(port_, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }

 private:
  static svckit::http::ServerOptions options() {
    svckit::http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
  }
  svckit::log::Logger logger_{"test", svckit::log::Level::error};
  boost::asio::io_context io_;

 public:
  svckit::http::Server server;

 private:
  std::thread thread_;
  std::uint16_t port_ = 0;
};

}  // namespace

// The server side of deadline propagation: X-Request-Timeout-Ms becomes Request::deadline().
TEST(ServerDeadline, TheTimeoutHeaderBecomesTheRequestsDeadline) {
  LoopbackServer local;
  auto& server = local.server;
  server.router().add(svckit::http::Method::get, "/left",
                      [](svckit::http::Request& req) -> svckit::Task<svckit::http::Response> {
                        auto d = req.deadline();
                        co_return svckit::http::Response::text(
                            200, d.is_set() ? std::to_string(d.remaining().count()) : "none");
                      });
  auto port = local.start();

  Client client("http://127.0.0.1:" + std::to_string(port), quick());
  auto r = get_request("/left");
  r.deadline = svckit::Deadline::after(800ms);
  int left = std::stoi(call(client, std::move(r)).body);
  EXPECT_GT(left, 500);
  EXPECT_LE(left, 800);
  EXPECT_EQ(get(client, "/left").body.size() > 0, true);
  // Whatever a caller puts there, the client sends its own remaining time.
  auto own = get_request("/left");
  own.headers.emplace_back("X-Request-Timeout-Ms", "5");
  own.deadline = svckit::Deadline::after(900ms);
  EXPECT_GT(std::stoi(call(client, std::move(own)).body), 500);
  // Malformed values from the network are ignored, as a malformed traceparent is.
  for (std::string bad : {"0", "-5", "abc", "1e3", "999999999", " 100x", ""}) {
    std::string request = "GET /left HTTP/1.1\r\nHost: x\r\nX-Request-Timeout-Ms: " + bad +
                          "\r\nConnection: close\r\n\r\n";
    EXPECT_NE(raw_exchange(port, request).find("\r\n\r\nnone"), std::string::npos)
        << "'" << bad << "' is ignored";
  }
}

// Headers middleware sets for a request's answer (Request::set_answer_header) reach the wire on
// the route's answer and on an error answer alike; a name the response sets itself is the
// response's, and a value that would split the head is left out.
TEST(ServerAnswerHeaders, GoOnEveryAnswerOfTheRequest) {
  LoopbackServer local;
  auto& server = local.server;
  using svckit::http::Request;
  using svckit::http::Response;
  auto mark = [](Request& req) {
    req.set_answer_header("X-Quota-Left", "7");
    req.set_answer_header("X-Quota-Left", "6");  // set again: replaced, not repeated
    req.set_answer_header("X-Shared", "from-request");
    req.set_answer_header("X-Split", "a\r\nInjected: yes");
  };
  server.router().add(svckit::http::Method::get, "/ok",
                      [&](Request& req) -> svckit::Task<Response> {
                        mark(req);
                        co_return Response::text(200, "ok").set_header("X-Shared", "from-response");
                      });
  server.router().add(svckit::http::Method::get, "/fails",
                      [&](Request& req) -> svckit::Task<Response> {
                        mark(req);
                        throw svckit::Conflict("taken");
                        co_return Response::text(200, "never");
                      });
  local.start();
  for (std::string path : {"/ok", "/fails"}) {
    auto answer = local.get(path);
    auto head = answer.substr(0, answer.find("\r\n\r\n"));
    EXPECT_NE(head.find("\r\nX-Quota-Left: 6\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("X-Quota-Left: 7"), std::string::npos) << head;
    EXPECT_EQ(head.find("Injected"), std::string::npos) << head;
    EXPECT_EQ(head.find("X-Split"), std::string::npos) << head;
  }
  auto ok = local.get("/ok");
  EXPECT_NE(ok.find("X-Shared: from-response"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("from-request"), std::string::npos) << ok;
  auto failed = local.get("/fails");
  EXPECT_EQ(failed.rfind("HTTP/1.1 409", 0), 0u) << failed;
  EXPECT_NE(failed.find("X-Shared: from-request"), std::string::npos) << failed;
}

// App counts requests through the server's observer (HttpMetrics::observer()), not a
// middleware: a thrown error is counted with the status the client got, by route template, and
// nothing stays in progress.
TEST(ServerObserver, HttpMetricsCountWhatTheClientGot) {
  svckit::metrics::Registry registry;
  svckit::metrics::HttpMetrics metrics(registry);
  LoopbackServer local;
  auto& server = local.server;
  server.observe(metrics.observer());
  using svckit::http::Request;
  using svckit::http::Response;
  server.router().add(svckit::http::Method::get, "/tasks/{id}",
                      [](Request& req) -> svckit::Task<Response> {
                        if (req.param("id") == "7") throw svckit::NotFound("no task 7");
                        co_return Response::text(200, "task");
                      });
  local.start();
  auto get = [&](const std::string& path) { return local.get(path); };
  EXPECT_EQ(get("/tasks/1").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(get("/tasks/2").rfind("HTTP/1.1 200", 0), 0u);
  auto missing = get("/tasks/7");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0u) << missing;
  EXPECT_NE(missing.find("application/problem+json"), std::string::npos) << missing;
  local.stop();  // every request counted before the scrape
  auto text = registry.render();
  for (std::string line :
       {R"(http_requests_total{handler="/tasks/{id}",method="GET",status="2xx"} 2)",
        R"(http_requests_total{handler="/tasks/{id}",method="GET",status="4xx"} 1)",
        R"(http_requests_inprogress{handler="/tasks/{id}",method="GET"} 0)",
        R"(http_request_duration_seconds_count{handler="/tasks/{id}",method="GET"} 3)"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  EXPECT_EQ(text.find(R"(status="5xx")"), std::string::npos) << text;
}
