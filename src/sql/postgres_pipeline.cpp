#include "postgres_pipeline.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "svckit/error.hpp"

namespace svckit::sql {
namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Past the server's statement timeouts, how long a silent server gets before it counts as gone.
constexpr milliseconds kSilenceMargin{1000};
// A pipeline waiting this long for its next answer (or four batch times, when more) is held up.
constexpr milliseconds kHeldUpAfter{20};
// A batch time above this is a slow statement, not a distant server: averaged as this much.
constexpr milliseconds kBatchTimeCap{100};

std::exception_ptr error_of(const PGresult* result) {
  try {
    throw_result_error(result, "statement failed");
  } catch (...) {
    return std::current_exception();
  }
}

// "prepared statement ... does not exist": what a read gets whose Parse the server skipped.
bool unknown_statement(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return state && std::strcmp(state, "26000") == 0;
}

// A result that says the connection is going away (an administrator's or a shutdown's
// termination, or libpq's own report with no SQLSTATE) rather than that the statement failed:
// what waits is failed as lost, and reads are tried again elsewhere.
bool connection_going(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return !state || std::strncmp(state, "57P", 3) == 0 || std::strncmp(state, "08", 2) == 0;
}

std::string last_error(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace

// A caller waiting for its result: the completion handler of its co_await.
struct PgPipeline::Waiter {
  virtual ~Waiter() = default;
  virtual void complete(std::exception_ptr failure, Result result) = 0;
  virtual void complete_now(Result result) = 0;
};

// Completes on the caller's executor: later (post), or now when that is this thread (dispatch:
// the caller resumes inside the receiver, between results, which holds nothing it can
// invalidate). The same as svckit::kv's connection does.
template <class Handler>
struct PgPipeline::WaiterOf final : Waiter {
  explicit WaiterOf(Handler h) : handler(std::move(h)) {}
  void complete(std::exception_ptr failure, Result result) override {
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::move(handler), failure, r = std::move(result)]() mutable {
      std::move(h)(failure, std::move(r));
    });
  }
  void complete_now(Result result) override {
    auto ex = asio::get_associated_executor(handler);
    asio::dispatch(ex, [h = std::move(handler), r = std::move(result)]() mutable {
      std::move(h)(nullptr, std::move(r));
    });
  }
  Handler handler;
};

PgPipeline::PgPipeline(std::unique_ptr<PgConnection> connection, milliseconds timeout,
                       PipelineMetrics metrics)
    : connection_(std::move(connection)),
      conn_(connection_->native()),
      timeout_(timeout),
      metrics_(metrics),
      timer_(connection_->socket().get_executor()) {}

PgPipeline::~PgPipeline() = default;

Task<std::shared_ptr<PgPipeline>> PgPipeline::open(std::unique_ptr<PgConnection> connection,
                                                   milliseconds timeout, PipelineMetrics metrics,
                                                   Deadline deadline) {
  co_await connection->command("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", deadline);
  if (PQenterPipelineMode(connection->native()) != 1)
    throw ConnectionLost("cannot enter pipeline mode: " + last_error(connection->native()));
  co_return std::shared_ptr<PgPipeline>(new PgPipeline(std::move(connection), timeout, metrics));
}

Task<Result> PgPipeline::read(std::string_view sql, std::span<const Value> params,
                              Deadline deadline) {
  if (!usable_) throw ConnectionLost("the pipelined connection is closed");
  auto now = Clock::now();
  auto read = std::make_unique<Read>();
  read->sql = sql;
  read->params = params;
  read->deadline = deadline.when();
  Read* raw = read.get();
  queued_.push_back(std::move(read));
  arm(std::min(raw->deadline, now + timeout_ + kSilenceMargin));
  send_soon();
  // The caller awaits this at once, before the loop runs anything else: `raw` is still queued.
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Result)>(
      [self = shared_from_this(), raw](auto handler) {
        self->attach(raw, std::make_unique<WaiterOf<decltype(handler)>>(std::move(handler)));
      },
      asio::use_awaitable);
}

void PgPipeline::attach(Read* read, std::unique_ptr<Waiter> waiter) {
  read->waiter = std::move(waiter);
}

void PgPipeline::answer(Read& read, std::exception_ptr failure, Result result) {
  read.answered = true;
  auto waiter = std::move(read.waiter);
  if (!waiter) return;
  if (failure)
    waiter->complete(failure, {});
  else
    waiter->complete_now(std::move(result));
}

bool PgPipeline::held_up(Clock::time_point now) const {
  return !in_flight_.empty() &&
         now - progress_at_ > std::max<Clock::duration>(kHeldUpAfter, 4 * batch_time_);
}

// Waits for answers only while some are owed: an idle pipeline holds no operation on its loop,
// which can then run out of work and return (the App's shutdown relies on it). A server that
// closed the connection meanwhile is found at the next batch, whose reads are tried elsewhere.
void PgPipeline::receive() {
  if (receiving_ || !usable_ || batches_.empty()) return;
  receiving_ = true;
  connection_->socket().async_wait(asio::posix::stream_descriptor::wait_read,
                                   [self = shared_from_this()](boost::system::error_code ec) {
                                     self->receiving_ = false;
                                     if (!self->usable_) return;
                                     if (ec) {
                                       self->fail("socket wait failed: " + ec.message());
                                       return;
                                     }
                                     if (!PQconsumeInput(self->conn_)) {
                                       self->fail("receive failed: " + last_error(self->conn_));
                                       return;
                                     }
                                     try {
                                       self->take_results();
                                     } catch (const std::exception& e) {
                                       self->fail(e.what());
                                       return;
                                     }
                                     self->receive();
                                   });
}

// Each read's results end with a null; each batch ends with a PGRES_PIPELINE_SYNC result.
void PgPipeline::take_results() {
  int nulls = 0;
  while (usable_ && !batches_.empty() && !PQisBusy(conn_)) {
    PGresult* result = PQgetResult(conn_);
    if (!result) {
      if (++nulls > 1) break;  // libpq has nothing more for now
      continue;
    }
    nulls = 0;
    progress_at_ = Clock::now();
    take(result);
  }
  if (usable_ && batches_.empty() && queued_.empty() && timer_armed_) {
    timer_armed_ = false;  // nothing owed: no timer holds the loop either
    timer_.cancel();
  }
}

void PgPipeline::take(PGresult* result) {
  std::unique_ptr<PGresult, decltype(&PQclear)> owned(result, PQclear);
  auto status = PQresultStatus(result);
  if (status == PGRES_PIPELINE_SYNC) {
    batch_done();
    return;
  }
  if (in_flight_.empty()) {
    fail("an answer nobody asked for");
    return;
  }
  if (status == PGRES_FATAL_ERROR && connection_going(result)) {
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    fail(std::string("the connection is going away: ") +
         (primary ? primary : PQresultErrorMessage(result)));
    return;
  }
  Read& front = *in_flight_.front();
  if (front.awaits_prepare) {
    front.awaits_prepare = false;
    Prepared& p = *front.prepared;
    if (status == PGRES_COMMAND_OK) {
      p.state = Prepared::State::ready;
    } else {
      forget(p);
      if (status == PGRES_PIPELINE_ABORTED) {
        p.state = Prepared::State::skipped;
      } else {
        p.state = Prepared::State::failed;
        p.failure = error_of(result);
      }
    }
    return;
  }
  auto read = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (starts_copy(result)) {
    // The connection is in the middle of a COPY nothing here drives: it is given up.
    if (!read->answered) answer(*read, copy_refused(), {});
    fail("a COPY was sent as a read");
    return;
  }
  if (read->answered) return;
  Prepared& p = *read->prepared;
  // Skipped for another read's failure in its batch (or its Parse was): sent again.
  bool skipped = status == PGRES_PIPELINE_ABORTED ||
                 (p.state == Prepared::State::skipped && unknown_statement(result));
  if (p.state == Prepared::State::failed) {
    answer(*read, p.failure, {});
  } else if (skipped) {
    read->prepared.reset();
    queued_.push_back(std::move(read));
    send_soon();
  } else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    answer(*read, nullptr, to_result(result, &p.columns));
  } else {
    answer(*read, error_of(result), {});
  }
}

void PgPipeline::batch_done() {
  if (batches_.empty()) {
    fail("a Sync nobody sent");
    return;
  }
  auto took = std::min<Clock::duration>(progress_at_ - batches_.front(), kBatchTimeCap);
  batches_.pop_front();
  batch_time_ = batch_time_ == Clock::duration::zero() ? took : (batch_time_ * 7 + took) / 8;
}

void PgPipeline::forget(const Prepared& prepared) {
  auto found = prepared_.find(prepared.sql);
  if (found != prepared_.end() && found->second.get() == &prepared) prepared_.erase(found);
}

// libpq reads what has come while it waits to write (so that neither side blocks on a full
// buffer): answers already in its buffer would wake no wait on the socket.
void PgPipeline::take_buffered() {
  if (usable_ && !batches_.empty() && !PQisBusy(conn_)) take_results();
}

// Sent once the loop has run what is ready now, so that the reads of the requests it is serving
// go out as one batch.
void PgPipeline::send_soon() {
  if (send_posted_ || !usable_) return;
  send_posted_ = true;
  asio::post(timer_.get_executor(), [self = shared_from_this()] {
    self->send_posted_ = false;
    self->send();
  });
}

void PgPipeline::send() {
  if (!usable_ || queued_.empty()) return;
  bool was_idle = in_flight_.empty();
  std::uint64_t sent = 0;
  for (auto& read : queued_) {
    if (read->answered) continue;
    if (!send_one(*read)) {
      fail("send failed: " + last_error(conn_));
      return;
    }
    ++sent;
  }
  for (auto& read : queued_)
    if (!read->answered) in_flight_.push_back(std::move(read));
  queued_.clear();
  if (sent == 0) return;
  if (PQpipelineSync(conn_) != 1) {
    fail("send failed: " + last_error(conn_));
    return;
  }
  auto now = Clock::now();
  batches_.push_back(now);
  if (metrics_.reads) metrics_.reads->increment(sent);
  if (metrics_.batches) metrics_.batches->increment();
  if (was_idle) progress_at_ = now;
  push_output();
  receive();
  take_buffered();
}

bool PgPipeline::send_one(Read& read) {
  auto found = prepared_.find(read.sql);
  if (found == prepared_.end()) {
    auto p = std::make_shared<Prepared>();
    p->sql = std::string(read.sql);
    p->name = "p" + std::to_string(++names_);
    if (PQsendPrepare(conn_, p->name.c_str(), numbered_parameters(read.sql).c_str(),
                      static_cast<int>(read.params.size()), nullptr) != 1)
      return false;
    std::string_view key = p->sql;  // into the Prepared the map keeps
    found = prepared_.emplace(key, std::move(p)).first;
    read.awaits_prepare = true;
  }
  read.prepared = found->second;
  TextParameters text(read.params);
  return PQsendQueryPrepared(conn_, read.prepared->name.c_str(), text.count(), text.values(),
                             nullptr, nullptr, 0) == 1;
}

// libpq writes what it can without blocking; the rest goes when the socket takes it.
void PgPipeline::push_output() {
  if (output_waiting_ || !usable_) return;
  int flushed = PQflush(conn_);
  if (flushed < 0) {
    fail("send failed: " + last_error(conn_));
    return;
  }
  if (flushed == 0) return;
  take_buffered();
  output_waiting_ = true;
  connection_->socket().async_wait(asio::posix::stream_descriptor::wait_write,
                                   [self = shared_from_this()](boost::system::error_code ec) {
                                     self->output_waiting_ = false;
                                     if (!self->usable_) return;
                                     if (ec)
                                       self->fail("socket wait failed: " + ec.message());
                                     else
                                       self->push_output();
                                     self->take_buffered();
                                   });
}

// The one timer: set for the earliest deadline only when that is earlier than it is set for.
void PgPipeline::arm(Clock::time_point when) {
  if (timer_armed_ && when >= timer_at_) return;
  timer_armed_ = true;
  timer_at_ = when;
  timer_.expires_at(when);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->sweep();
  });
}

void PgPipeline::sweep() {
  timer_armed_ = false;
  if (!usable_) return;
  auto now = Clock::now();
  // Each read may run for the statement timeout, and a batch is answered at its end.
  auto silent_until =
      progress_at_ + timeout_ * static_cast<int>(in_flight_.size()) + kSilenceMargin;
  if (!in_flight_.empty() && silent_until <= now) {
    fail("no answer for " +
         std::to_string(std::chrono::duration_cast<milliseconds>(now - progress_at_).count()) +
         " ms");
    return;
  }
  auto next = in_flight_.empty() ? Clock::time_point::max() : silent_until;
  for (auto* reads : {&queued_, &in_flight_}) {
    for (auto& read : *reads) {
      if (read->answered) continue;
      if (read->deadline <= now) {
        if (metrics_.timeouts) metrics_.timeouts->increment();
        answer(
            *read,
            std::make_exception_ptr(ServiceUnavailable("the database did not answer in time", 1)),
            {});
      } else {
        next = std::min(next, read->deadline);
      }
    }
  }
  if (next != Clock::time_point::max()) arm(next);
}

void PgPipeline::fail(const std::string& why) {
  if (!usable_) return;
  usable_ = false;
  timer_.cancel();
  boost::system::error_code ignored;
  connection_->socket().cancel(ignored);
  auto lost = std::make_exception_ptr(ConnectionLost(why));
  for (auto* reads : {&in_flight_, &queued_})
    for (auto& read : *reads)
      if (!read->answered) answer(*read, lost, {});
  in_flight_.clear();
  queued_.clear();
}

void PgPipeline::close() {
  fail("the database is closed");
}

}  // namespace svckit::sql
