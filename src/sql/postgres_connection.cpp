#include "postgres_connection.hpp"

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

std::exception_ptr copy_refused() {
  return std::make_exception_ptr(
      DatabaseError("statement failed: COPY to or from the client is not supported here"));
}

namespace {

bool same_names(const std::vector<std::string>& names, const PGresult* result, int cols) {
  if (names.size() != static_cast<std::size_t>(cols)) return false;
  for (int c = 0; c < cols; ++c)
    if (names[c] != PQfname(result, c)) return false;
  return true;
}

}  // namespace

Result to_result(const PGresult* result, std::shared_ptr<const std::vector<std::string>>* columns) {
  Result out;
  const char* changed = PQcmdTuples(const_cast<PGresult*>(result));
  if (changed && *changed) out.changes = std::atoll(changed);
  int rows = PQntuples(result), cols = PQnfields(result);
  if (rows == 0) return out;
  std::shared_ptr<const std::vector<std::string>> names;
  if (columns && *columns && same_names(**columns, result, cols)) {
    names = *columns;
  } else {
    auto made = std::make_shared<std::vector<std::string>>();
    for (int c = 0; c < cols; ++c) made->emplace_back(PQfname(result, c));
    names = std::move(made);
    if (columns) *columns = names;
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
      switch (PQftype(result, c)) {
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
  pointers_.reserve(params.size());
  std::size_t numbers = 0;
  for (const Value& v : params)
    if (!v.is_null() && !std::holds_alternative<std::string>(v.storage())) ++numbers;
  numbers_.resize(numbers);  // sized once: the pointers into it stay valid
  std::size_t next = 0;
  for (const Value& v : params) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            pointers_.push_back(nullptr);
          } else if constexpr (std::is_same_v<T, std::string>) {
            pointers_.push_back(x.c_str());
          } else {
            auto& buf = numbers_[next++];
            auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size() - 1, x);
            *end = '\0';
            pointers_.push_back(buf.data());
          }
        },
        v.storage());
  }
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
    co_await c->wait(state == PGRES_POLLING_WRITING, deadline);
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

// Waits until the socket is readable (or writable). Asio re-arms the descriptor in epoll
// (EPOLL_CTL_MOD) for every wait, and the kernel then reports data that is already there: a
// wait never misses what arrived before it began.
Task<void> PgConnection::wait(bool writable, Deadline deadline) {
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
    co_await wait(true, deadline);
    if (!PQconsumeInput(conn_)) lost("receive failed");
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> last(nullptr, PQclear);
  for (;;) {
    while (PQisBusy(conn_)) {
      co_await wait(false, deadline);
      if (!PQconsumeInput(conn_)) lost("receive failed");
    }
    PGresult* r = PQgetResult(conn_);
    if (!r) break;
    if (starts_copy(r)) {  // libpq would hand this result back forever
      PQclear(r);
      usable_ = false;
      std::rethrow_exception(copy_refused());
    }
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
  auto found = prepared_.find(sql);
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
  co_return to_result(r, &found->second.columns);
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
