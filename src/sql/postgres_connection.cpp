#include "postgres_connection.hpp"

#include <poll.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "svckit/context.hpp"
#include "svckit/sql/database.hpp"

namespace svckit::sql {
namespace asio = boost::asio;

std::string numbered_parameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    auto copy_until = [&](std::string_view end) {
      auto stop = sql.find(end, i + 1);
      stop = stop == std::string_view::npos ? sql.size() : stop + end.size();
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
    };
    if (c == '\'')
      copy_until("'");  // '' inside a literal is two literals back to back: the same text
    else if (c == '"')
      copy_until("\"");
    else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-')
      copy_until("\n");
    else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*')
      copy_until("*/");
    else if (c == '?')
      out += '$' + std::to_string(++n);
    else
      out += c;
  }
  return out;
}

namespace {

bool starts_with(const char* state, std::string_view prefix) {
  return state && std::string_view(state).substr(0, prefix.size()) == prefix;
}

}  // namespace

void throw_result_error(const PGresult* result, std::string_view what) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string message =
      std::string(what) + ": " + (primary ? primary : PQresultErrorMessage(result));
  if (starts_with(state, "40001") || starts_with(state, "40P01"))
    throw SerializationFailure(message);
  if (starts_with(state, "23")) throw Conflict(message);
  // Going away, cannot connect now, out of connections or resources, cancelled (a timeout).
  if (starts_with(state, "57") || starts_with(state, "53") || starts_with(state, "08"))
    throw ServiceUnavailable("database unavailable: " + message, 1);
  throw DatabaseError(message);
}

Result to_result(const PGresult* result) {
  Result out;
  const char* changed = PQcmdTuples(const_cast<PGresult*>(result));
  if (changed && *changed) out.changes = std::atoll(changed);
  int rows = PQntuples(result), cols = PQnfields(result);
  if (rows == 0) return out;
  auto names = std::make_shared<std::vector<std::string>>();
  std::vector<Oid> types;
  for (int c = 0; c < cols; ++c) {
    names->emplace_back(PQfname(result, c));
    types.push_back(PQftype(result, c));
  }
  out.rows.reserve(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    std::vector<Value> values;
    values.reserve(static_cast<std::size_t>(cols));
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(result, r, c)) {
        values.emplace_back();
        continue;
      }
      const char* text = PQgetvalue(result, r, c);
      int length = PQgetlength(result, r, c);
      switch (types[c]) {
        case 16:  // bool: 0/1, as SQLite stores it
          values.emplace_back(text[0] == 't' ? 1 : 0);
          break;
        case 20:    // int8
        case 21:    // int2
        case 23:    // int4
        case 26: {  // oid
          long long v = 0;
          std::from_chars(text, text + length, v);
          values.emplace_back(v);
          break;
        }
        case 700:   // float4
        case 701:   // float8
        case 1700:  // numeric (SUM, AVG)
          values.emplace_back(std::strtod(text, nullptr));
          break;
        default:
          values.emplace_back(std::string(text, static_cast<std::size_t>(length)));
      }
    }
    out.rows.emplace_back(names, std::move(values));
  }
  return out;
}

TextParameters::TextParameters(std::span<const Value> params) {
  texts_.reserve(params.size());
  pointers_.reserve(params.size());
  for (const Value& v : params) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            texts_.emplace_back();
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            texts_.push_back(std::to_string(x));
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[32];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
            texts_.emplace_back(buf, end);
          } else {
            texts_.push_back(x);
          }
        },
        v.storage());
  }
  // Pointers once every text is in place (the vector does not move again).
  for (std::size_t i = 0; i < params.size(); ++i)
    pointers_.push_back(params[i].is_null() ? nullptr : texts_[i].c_str());
}

PgConnection::PgConnection(asio::any_io_executor executor, PGconn* conn)
    : conn_(conn),
      socket_(executor),
      timer_(executor),
      self_(std::make_shared<PgConnection*>(this)) {}

PgConnection::~PgConnection() {
  if (socket_.is_open()) socket_.release();  // libpq owns the descriptor and closes it
  PQfinish(conn_);
}

Task<std::unique_ptr<PgConnection>> PgConnection::connect(asio::any_io_executor executor,
                                                          const std::string& conninfo,
                                                          Deadline deadline) {
  PGconn* raw = PQconnectStart(conninfo.c_str());
  if (!raw) throw ConnectionLost("out of memory");
  std::unique_ptr<PgConnection> c(new PgConnection(executor, raw));
  if (PQstatus(raw) == CONNECTION_BAD) c->lost("cannot connect");
  for (;;) {
    auto state = PQconnectPoll(raw);
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) c->lost("cannot connect");
    // The socket may change between polls (another host or address of the URL is tried).
    if (c->socket_.is_open() && c->socket_.native_handle() != PQsocket(raw)) c->socket_.release();
    if (!c->socket_.is_open()) c->socket_.assign(PQsocket(raw));
    co_await c->wait(state == PGRES_POLLING_WRITING, deadline, true);
  }
  if (PQsetnonblocking(raw, 1) != 0) c->lost("cannot switch to non-blocking mode");
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);  // notices go nowhere: no stderr
  co_return c;
}

void PgConnection::lost(std::string_view what) {
  usable_ = false;
  std::string message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw ConnectionLost(std::string(what) + (message.empty() ? "" : ": " + message));
}

// Waits until the socket is readable (or writable). The loop's epoll is edge-triggered and a
// wait does not look at the present state: a socket that may already be ready (libpq read only
// part of what was there) is asked first with poll(). Right after a send nothing was ready,
// and whatever arrives since is a new edge, so that wait skips the syscall.
Task<void> PgConnection::wait(bool writable, Deadline deadline, bool may_be_ready) {
  if (may_be_ready) {
    pollfd p{PQsocket(conn_), static_cast<short>(writable ? POLLOUT : POLLIN), 0};
    if (::poll(&p, 1, 0) > 0) co_return;
  }
  if (deadline.expired()) {
    usable_ = false;
    throw ServiceUnavailable("the database did not answer in time", 1);
  }
  // The timer's handler may run after this wait ended (both completed in one turn of the
  // loop) or after the connection is gone: it acts only on the wait it was armed for.
  std::uint64_t armed_for = ++waits_;
  timer_.expires_at(deadline.when());
  timer_.async_wait(
      [alive = std::weak_ptr<PgConnection*>(self_), armed_for](boost::system::error_code ec) {
        auto self = alive.lock();
        if (ec || !self || (*self)->waits_ != armed_for) return;
        (*self)->timed_out_ = true;
        (*self)->socket_.cancel();
      });
  boost::system::error_code ec;
  auto what = writable ? asio::posix::stream_descriptor::wait_write
                       : asio::posix::stream_descriptor::wait_read;
  co_await socket_.async_wait(what, asio::redirect_error(asio::use_awaitable, ec));
  ++waits_;  // disarms the handler if it is already on its way
  if (timed_out_) {
    usable_ = false;  // the statement may still run on the server: never reuse this one
    throw ServiceUnavailable("the database did not answer in time", 1);
  }
  timer_.cancel();
  if (ec) {
    usable_ = false;
    throw ConnectionLost("socket wait failed: " + ec.message());
  }
}

Task<PGresult*> PgConnection::finish(Deadline deadline) {
  for (;;) {
    int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) lost("send failed");
    co_await wait(true, deadline, false);
    if (!PQconsumeInput(conn_)) lost("receive failed");
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> last(nullptr, PQclear);
  bool consumed = false;  // whether libpq has read since the send
  for (;;) {
    while (PQisBusy(conn_)) {
      co_await wait(false, deadline, consumed);
      consumed = true;
      if (!PQconsumeInput(conn_)) lost("receive failed");
    }
    PGresult* r = PQgetResult(conn_);
    if (!r) break;
    // Of several results (a multi-statement command) the last counts, unless one failed.
    if (last && PQresultStatus(last.get()) == PGRES_FATAL_ERROR)
      PQclear(r);
    else
      last.reset(r);
  }
  if (!last) lost("no result");
  co_return last.release();
}

Task<void> PgConnection::prepare(std::string_view sql, const std::string& name, int params,
                                 Deadline deadline) {
  std::string numbered = numbered_parameters(sql);
  if (!PQsendPrepare(conn_, name.c_str(), numbered.c_str(), params, nullptr)) lost("send failed");
  PGresult* r = co_await finish(deadline);
  std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, PQclear);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) throw_result_error(r, "prepare failed");
}

Task<Result> PgConnection::execute(std::string_view sql, std::span<const Value> params,
                                   Deadline deadline) {
  auto found = prepared_.find(std::string(sql));
  if (found == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    co_await prepare(sql, name, static_cast<int>(params.size()), deadline);
    found = prepared_.emplace(std::string(sql), Prepared{name}).first;
  }
  TextParameters text(params);
  if (!PQsendQueryPrepared(conn_, found->second.name.c_str(), text.count(), text.values(), nullptr,
                           nullptr, 0))
    lost("send failed");
  PGresult* r = co_await finish(deadline);
  std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, PQclear);
  auto status = PQresultStatus(r);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw_result_error(r, "statement failed");
  co_return to_result(r);
}

Task<void> PgConnection::command(std::string_view sql, Deadline deadline) {
  std::string text(sql);
  if (!PQsendQuery(conn_, text.c_str())) lost("send failed");
  PGresult* r = co_await finish(deadline);
  std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, PQclear);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    throw_result_error(r, "statement failed");
}

}  // namespace svckit::sql
