#include "redis_connection.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "svckit/log/logger.hpp"

namespace svckit::kv {
namespace {

using asio::ip::tcp;
using namespace std::chrono;

ServiceUnavailable unavailable(const RedisEndpoint& e, const std::string& why) {
  return ServiceUnavailable("redis " + e.shown + " unavailable: " + why, 1);
}

// Reads replies until `count` have come; the last error reply is thrown.
Task<void> read_replies(tcp::socket& socket, std::size_t count, const RedisEndpoint& e) {
  resp::Reader reader;
  char buffer[1024];
  while (count > 0) {
    boost::system::error_code ec;
    auto n = co_await socket.async_read_some(asio::buffer(buffer),
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw unavailable(e, "the connection closed during the handshake: " + ec.message());
    reader.feed(buffer, n);
    while (count > 0) {
      auto parsed = reader.next();
      if (!parsed) break;
      --count;
      if (parsed->error)
        throw unavailable(e, std::string("the server refused: ") + parsed->error->what());
    }
  }
}

}  // namespace

Task<tcp::socket> connect_to(const RedisEndpoint& e, Deadline deadline) {
  auto ex = co_await asio::this_coro::executor;
  // The deadline closes the socket, which ends whichever step is waiting. Shared with the
  // timer's handler, which may run after this frame is gone.
  auto shared_socket = std::make_shared<tcp::socket>(ex);
  auto& socket = *shared_socket;
  auto timed_out_flag = std::make_shared<bool>(false);
  const bool& timed_out = *timed_out_flag;
  asio::steady_timer timer(ex);
  timer.expires_at(deadline.is_set() ? deadline.when() : Clock::now() + seconds(5));
  timer.async_wait([shared_socket, timed_out_flag](boost::system::error_code ec) {
    if (ec) return;
    *timed_out_flag = true;
    boost::system::error_code ignored;
    shared_socket->close(ignored);
  });
  try {
    tcp::resolver resolver(ex);
    boost::system::error_code ec;
    auto found = co_await resolver.async_resolve(e.host, e.port,
                                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw unavailable(e, "cannot resolve " + e.host + ": " + ec.message());
    co_await asio::async_connect(socket, found, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw unavailable(e, timed_out ? "no connection in time" : ec.message());
    socket.set_option(tcp::no_delay(true));
    std::string hello;
    std::size_t replies = 0;
    if (!e.password.empty()) {
      if (e.user.empty())
        resp::append_command(hello, {"AUTH", e.password});
      else
        resp::append_command(hello, {"AUTH", e.user, e.password});
      ++replies;
    }
    if (e.db != 0) {
      resp::append_command(hello, {"SELECT", std::to_string(e.db)});
      ++replies;
    }
    if (replies > 0) {
      co_await asio::async_write(socket, asio::buffer(hello),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) throw unavailable(e, ec.message());
      co_await read_replies(socket, replies, e);
    }
  } catch (const ServiceUnavailable&) {
    timer.cancel();
    if (timed_out) throw unavailable(e, "no connection in time");
    throw;
  }
  timer.cancel();
  if (timed_out) throw unavailable(e, "no connection in time");
  co_return std::move(socket);
}

// Completes on the caller's executor: later (post), or now when that is this thread (dispatch:
// the caller resumes inside the reader, a third cheaper per reply than a round through the
// loop's queue; only the reader does so, between replies, holding nothing a caller can
// invalidate).
template <class Handler>
struct RedisConnection::WaiterOf final : Waiter {
  explicit WaiterOf(Handler h) : handler(std::move(h)) {}
  void complete(std::exception_ptr failure, Reply reply) override {
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::move(handler), failure, r = std::move(reply)]() mutable {
      std::move(h)(failure, std::move(r));
    });
  }
  void complete_now(Reply reply) override {
    auto ex = asio::get_associated_executor(handler);
    asio::dispatch(ex, [h = std::move(handler), r = std::move(reply)]() mutable {
      std::move(h)(nullptr, std::move(r));
    });
  }
  Handler handler;
};

RedisConnection::RedisConnection(asio::io_context& loop,
                                 std::shared_ptr<const RedisEndpoint> endpoint,
                                 milliseconds timeout, ConnectionMetrics metrics,
                                 const log::Logger* logger)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      timeout_(timeout),
      metrics_(metrics),
      logger_(logger),
      socket_(loop),
      timer_(loop) {}

void RedisConnection::prepare() {
  if (state_ != State::down) return;
  if (closed_ || Clock::now() < retry_at_) {
    if (metrics_.unavailable) metrics_.unavailable->increment();
    std::rethrow_exception(last_failure_);
  }
  start_connecting();
}

Task<Reply> RedisConnection::wait(Deadline deadline, std::size_t batch_of) {
  auto now = Clock::now();
  auto due = std::min(deadline.when(), now + timeout_);
  std::uint64_t id = next_id_++;
  pending_.push_back(Pending{id, nullptr, due, now, nullptr});
  if (batch_of > 0) {
    pending_.back().batch = std::make_unique<Collected>(Collected{batch_of, {}, {}, {}});
    pending_.back().batch->replies.reserve(batch_of);
  }
  arm(due);
  flush_soon();
  auto self = shared_from_this();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Reply)>(
      [self, id](auto handler) {
        self->attach(id, std::make_unique<WaiterOf<decltype(handler)>>(std::move(handler)));
      },
      asio::use_awaitable);
}

void RedisConnection::attach(std::uint64_t id, std::unique_ptr<Waiter> waiter) {
  if (pending_.empty() || id < pending_.front().id) {
    // Failed (or, never, answered) before the caller came to wait.
    waiter->complete(last_failure_, {});
    return;
  }
  pending_[id - pending_.front().id].waiter = std::move(waiter);
}

void RedisConnection::start_connecting() {
  state_ = State::connecting;
  ++generation_;
  reader_ = std::make_unique<resp::Reader>();
  asio::co_spawn(loop_, connect_and_read(shared_from_this(), generation_), asio::detached);
}

Task<void> RedisConnection::connect_and_read(std::shared_ptr<RedisConnection> self,
                                             std::uint64_t generation) {
  RedisConnection& c = *self;
  try {
    auto connected = co_await connect_to(*c.endpoint_, Deadline::after(c.timeout_));
    if (generation != c.generation_) co_return;  // closed meanwhile
    c.socket_ = std::move(connected);
  } catch (const std::exception& e) {
    if (generation == c.generation_) c.fail(e.what());
    co_return;
  }
  c.state_ = State::up;
  c.backoff_ = milliseconds(0);
  if (c.metrics_.up) c.metrics_.up->add(1);
  if (c.lost_logged_ && c.logger_)
    c.logger_->info("redis connection restored", {{"redis", c.endpoint_->shown}});
  c.lost_logged_ = false;
  c.flush();
  char buffer[16384];
  for (;;) {
    boost::system::error_code ec;
    auto n = co_await c.socket_.async_read_some(asio::buffer(buffer),
                                                asio::redirect_error(asio::use_awaitable, ec));
    if (generation != c.generation_) co_return;
    if (ec) {
      c.fail(ec == asio::error::eof ? "the server closed the connection" : ec.message());
      co_return;
    }
    std::optional<resp::Parsed> parsed;
    try {
      c.reader_->feed(buffer, n);
      parsed = c.reader_->next();
    } catch (const std::runtime_error& e) {
      c.fail(e.what());
      co_return;
    }
    while (parsed) {
      if (c.pending_.empty()) {
        c.fail("a reply nobody asked for");
        co_return;
      }
      c.answer(std::move(*parsed));  // may resume its caller here
      if (generation != c.generation_) co_return;
      try {
        parsed = c.reader_->next();
      } catch (const std::runtime_error& e) {
        c.fail(e.what());
        co_return;
      }
    }
  }
}

// Error replies that say the server cannot serve now (a replica being promoted, out of memory,
// a script running too long, still loading, not authenticated) rather than that the command was
// wrong: callers treat them as the store being away.
bool server_state_error(const resp::ErrorReply& e) {
  for (const char* code : {"READONLY", "OOM", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "NOAUTH",
                           "WRONGPASS", "NOPERM", "CLUSTERDOWN"})
    if (e.starts_with(code)) return true;
  return false;
}

// Adds one reply to a batch's; whether that was its last.
bool RedisConnection::collect(Collected& batch, resp::Parsed parsed) {
  if (parsed.error && server_state_error(*parsed.error)) {
    if (!batch.away) batch.away = parsed.error->what();
  } else if (parsed.error && !batch.refused) {
    batch.refused.emplace(*parsed.error, batch.replies.size());
  }
  batch.replies.push_back(std::move(parsed.reply));
  return batch.replies.size() == batch.expected;
}

void RedisConnection::answer(resp::Parsed parsed) {
  if (auto* batch = pending_.front().batch.get()) {
    if (!collect(*batch, std::move(parsed))) return;
    auto waiter = std::move(pending_.front().waiter);
    auto done = std::move(pending_.front().batch);
    pending_.pop_front();
    if (!waiter) return;
    if (done->away) {
      if (metrics_.unavailable) metrics_.unavailable->increment();
      waiter->complete(std::make_exception_ptr(unavailable(*endpoint_, *done->away)), {});
    } else if (done->refused) {
      waiter->complete(std::make_exception_ptr(std::move(*done->refused)), {});
    } else {
      waiter->complete_now(Reply{std::move(done->replies)});
    }
    return;
  }
  auto waiter = std::move(pending_.front().waiter);
  pending_.pop_front();
  if (!waiter) return;  // its caller stopped waiting at its deadline
  if (parsed.error && server_state_error(*parsed.error)) {
    if (metrics_.unavailable) metrics_.unavailable->increment();
    waiter->complete(std::make_exception_ptr(unavailable(*endpoint_, parsed.error->what())), {});
  } else if (parsed.error)
    waiter->complete(std::make_exception_ptr(std::move(*parsed.error)), {});
  else
    waiter->complete_now(std::move(parsed.reply));
}

// Written once the loop has run what is ready now, so that the commands of the requests it is
// serving go out in one write.
void RedisConnection::flush_soon() {
  if (flush_posted_ || state_ != State::up) return;
  flush_posted_ = true;
  asio::post(loop_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void RedisConnection::flush() {
  if (state_ != State::up || writing_now_ || out_.empty()) return;
  writing_now_ = true;
  writing_.swap(out_);
  out_.clear();
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this(), generation = generation_](
                        boost::system::error_code ec, std::size_t) {
                      self->writing_now_ = false;
                      self->writing_.clear();
                      if (generation != self->generation_) {
                        self->flush();  // a new connection may have commands waiting
                        return;
                      }
                      if (ec)
                        self->fail(ec.message());
                      else
                        self->flush();
                    });
}

// The one timer: set for the earliest deadline only when that is earlier than it is set for.
void RedisConnection::arm(Clock::time_point when) {
  if (timer_armed_ && when >= timer_at_) return;
  timer_armed_ = true;
  timer_at_ = when;
  timer_.expires_at(when);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->sweep();
  });
}

void RedisConnection::sweep() {
  timer_armed_ = false;
  if (pending_.empty()) return;
  auto now = Clock::now();
  if (pending_.front().sent + timeout_ <= now) {
    fail("no answer in " + std::to_string(timeout_.count()) + " ms");
    return;
  }
  auto next = pending_.front().sent + timeout_;
  for (auto& p : pending_) {
    if (!p.waiter) continue;
    if (p.deadline <= now) {
      if (metrics_.unavailable) metrics_.unavailable->increment();
      p.waiter->complete(std::make_exception_ptr(unavailable(*endpoint_, "no answer in time")), {});
      p.waiter.reset();
    } else {
      next = std::min(next, p.deadline);
    }
  }
  arm(next);
}

void RedisConnection::fail(const std::string& why) {
  if (state_ == State::down) return;
  if (state_ == State::up && metrics_.up) metrics_.up->add(-1);
  state_ = State::down;
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  backoff_ = backoff_.count() == 0 ? milliseconds(100) : std::min(backoff_ * 2, milliseconds(5000));
  retry_at_ = Clock::now() + backoff_;
  last_failure_ = std::make_exception_ptr(unavailable(*endpoint_, why));
  for (auto& p : pending_) {
    if (!p.waiter) continue;
    if (metrics_.unavailable) metrics_.unavailable->increment();
    p.waiter->complete(last_failure_, {});
  }
  pending_.clear();
  out_.clear();
  if (!lost_logged_ && !closed_ && logger_)
    logger_->warning("redis unavailable; calls fail until it is back",
                     {{"redis", endpoint_->shown}, {"error", why}});
  lost_logged_ = true;
}

void RedisConnection::close() {
  closed_ = true;
  fail("the store is closed");
  last_failure_ = std::make_exception_ptr(unavailable(*endpoint_, "the store is closed"));
  timer_.cancel();
}

Task<Reply> RedisConnection::evaluate(const Script& script, const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args, Deadline deadline) {
  // Twice at most: a server that restarted has forgotten the script and says NOSCRIPT once.
  for (int attempt = 0;; ++attempt) {
    auto known = script_sha_.find(script.lua);
    if (known == script_sha_.end()) {
      auto load = [&](std::string& out) {
        resp::append_command(out, {"SCRIPT", "LOAD", script.lua});
      };
      auto loaded = co_await call(load, deadline);
      known = script_sha_.emplace(script.lua, loaded.text()).first;
    }
    auto evalsha = [&](std::string& out) {
      resp::begin_command(out, 3 + keys.size() + args.size());
      resp::append_argument(out, "EVALSHA");
      resp::append_argument(out, known->second);
      resp::append_argument(out, std::to_string(keys.size()));
      for (const auto& k : keys) resp::append_argument(out, k);
      for (const auto& a : args) resp::append_argument(out, a);
    };
    try {
      co_return co_await call(evalsha, deadline);
    } catch (const resp::ErrorReply& e) {
      if (!e.starts_with("NOSCRIPT") || attempt > 0) throw;
    }
    script_sha_.erase(script.lua);
  }
}

}  // namespace svckit::kv
