#include "svckit/sql/database.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>

#include "backends.hpp"
#include "svckit/ids.hpp"
#include "svckit/settings.hpp"
#include "svckit/trace/span.hpp"

namespace svckit::sql {

DatabaseError::DatabaseError(std::string detail)
    : Error(500, "about:blank", "Database Error", std::move(detail)) {}

namespace {

// A statement's span name: its first word, as OpenTelemetry's database conventions suggest
// (the statement itself goes in db.statement; its values are placeholders, never inlined).
std::string operation_of(std::string_view sql) {
  auto start = sql.find_first_not_of(" \t\r\n(");
  if (start == std::string_view::npos) return "SQL";
  auto end = sql.find_first_of(" \t\r\n(;", start);
  std::string word(sql.substr(start, end == std::string_view::npos ? end : end - start));
  for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return word.size() > 16 ? "SQL" : word;
}

}  // namespace

Task<Result> Database::execute(std::string sql, std::vector<Value> params, const Context* context) {
  if (context && trace::recording(context->trace()))
    return traced_run(std::move(sql), std::move(params), false, *context);
  return run(std::move(sql), std::move(params), false, context);
}

Task<Result> Database::read(std::string sql, std::vector<Value> params, const Context* context) {
  if (context && trace::recording(context->trace()))
    return traced_run(std::move(sql), std::move(params), true, *context);
  return run(std::move(sql), std::move(params), true, context);
}

namespace {

// A statement's or a transaction's CLIENT span in `context`'s trace.
trace::Span database_span(const Context& context, std::string name, std::string_view backend) {
  auto span = trace::Span::child_of(context.trace(), std::move(name), trace::SpanKind::client);
  span.set("db.system", std::string(backend == "postgresql" ? "postgresql" : "sqlite"));
  return span;
}

// Ends `span`, failed with `error` when there is one, and records it.
void record_ended(trace::Span& span, const char* error) {
  span.end();
  if (error) span.fail(error);
  trace::record(span);
}

}  // namespace

Task<void> Database::transact(const std::function<Task<void>(Transaction&)>& work,
                              const TransactionOptions& options, const Context* context) {
  if (!context || !trace::recording(context->trace())) {
    co_await run_transaction(work, options, context);
    co_return;
  }
  auto span = database_span(*context, "transaction", backend());
  span.set("db.operation",
           std::string(options.read_only ? "read-only transaction" : "transaction"));
  try {
    co_await run_transaction(work, options, context);
  } catch (const std::exception& e) {
    record_ended(span, e.what());
    throw;
  }
  record_ended(span, nullptr);
}

Task<Result> Database::traced_run(std::string sql, std::vector<Value> params, bool read_only,
                                  const Context& context) {
  auto span = database_span(context, operation_of(sql), backend());
  span.set("db.statement", sql);
  std::optional<Result> result;
  try {
    result = co_await run(std::move(sql), std::move(params), read_only, &context);
  } catch (const std::exception& e) {
    record_ended(span, e.what());
    throw;
  }
  record_ended(span, nullptr);
  co_return std::move(*result);
}

Task<bool> Database::ping() {
  Context context;
  context.set_deadline(Deadline::after(std::chrono::seconds(1)));
  try {
    auto r = co_await run("SELECT 1", {}, false, &context);
    co_return !r.empty();
  } catch (const std::exception&) {
    co_return false;
  }
}

namespace {

constexpr std::string_view kMigrationsTable =
    "CREATE TABLE IF NOT EXISTS svckit_migrations ("
    " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL, PRIMARY KEY (component, version))";

std::vector<const Migration*> in_order(std::string_view component,
                                       std::span<const Migration> migrations) {
  std::vector<const Migration*> ordered;
  for (const auto& m : migrations) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](auto* a, auto* b) { return a->version < b->version; });
  for (std::size_t i = 1; i < ordered.size(); ++i)
    if (ordered[i]->version == ordered[i - 1]->version)
      throw DatabaseError("migration version " + std::to_string(ordered[i]->version) +
                          " appears twice for " + std::string(component));
  return ordered;
}

bool applied(BlockingSession& s, std::string_view component, int version) {
  Value params[] = {std::string(component), version};
  return !s.execute("SELECT 1 FROM svckit_migrations WHERE component = ? AND version = ?", params)
              .empty();
}

}  // namespace

void Database::migrate(std::string_view component, std::span<const Migration> migrations) {
  auto ordered = in_order(component, migrations);
  std::erase_if(known_migrations_, [&](const auto& k) { return k.first == component; });
  known_migrations_.emplace_back(std::string(component),
                                 std::vector<Migration>(migrations.begin(), migrations.end()));
  with_migration_lock([&](BlockingSession& s) {
    s.transaction([&] { s.execute(kMigrationsTable); });
    for (const Migration* m : ordered) {
      try {
        s.transaction([&] {
          if (applied(s, component, m->version)) return;
          s.execute(m->sql);
          Value params[] = {std::string(component), m->version, m->name, utc_now_iso8601()};
          s.execute(
              "INSERT INTO svckit_migrations (component, version, name, applied_at) "
              "VALUES (?, ?, ?, ?)",
              params);
        });
      } catch (const Error& e) {
        throw MigrationFailed("migration " + std::string(component) + " " +
                              std::to_string(m->version) + " (" + m->name +
                              ") failed and was rolled back: " + e.detail());
      }
    }
  });
}

void Database::roll_back(std::string_view component, std::span<const Migration> migrations,
                         int version) {
  auto ordered = in_order(component, migrations);
  std::reverse(ordered.begin(), ordered.end());
  with_migration_lock([&](BlockingSession& s) {
    s.transaction([&] { s.execute(kMigrationsTable); });
    for (const Migration* m : ordered) {
      if (m->version <= version) break;
      s.transaction([&] {
        if (!applied(s, component, m->version)) return;
        if (m->down.empty())
          throw DatabaseError("migration " + std::string(component) + " " +
                              std::to_string(m->version) + " has no down step");
        s.execute(m->down);
        Value params[] = {std::string(component), m->version};
        s.execute("DELETE FROM svckit_migrations WHERE component = ? AND version = ?", params);
      });
    }
  });
}

void Database::roll_back(std::string_view component, int version) {
  for (const auto& [name, migrations] : known_migrations_)
    if (name == component) return roll_back(component, migrations, version);
  throw std::invalid_argument("no migrations of '" + std::string(component) +
                              "' here; this service has: " + [&] {
                                std::string all;
                                for (const auto& c : components())
                                  all += (all.empty() ? "" : ", ") + c;
                                return all.empty() ? std::string("none") : all;
                              }());
}

std::vector<std::string> Database::components() const {
  std::vector<std::string> out;
  for (const auto& [name, migrations] : known_migrations_) out.push_back(name);
  return out;
}

int Database::schema_version(std::string_view component) {
  int version = 0;
  with_migration_lock([&](BlockingSession& s) {
    s.transaction([&] { s.execute(kMigrationsTable); });
    Value params[] = {std::string(component)};
    auto r = s.execute(
        "SELECT COALESCE(MAX(version), 0) AS v FROM svckit_migrations WHERE component = ?", params);
    version = static_cast<int>(r.rows.at(0).integer("v"));
  });
  return version;
}

std::string redacted_url(std::string_view url) {
  std::string out =
      Settings::masked({.name = "DATABASE_URL", .type = SettingType::url}, std::string(url));
  // libpq also takes the password as a parameter: ?password=... or &password=...
  static const std::regex kPasswordParameter(R"(([?&]password=)[^&]*)", std::regex::icase);
  return std::regex_replace(out, kPasswordParameter, "$1****");
}

std::unique_ptr<Database> open_database(std::string_view url, BlockingPool& pool,
                                        const DatabaseOptions& options) {
  if (url == "sqlite::memory:" || url == "sqlite://" || url == "sqlite:///:memory:")
    return make_sqlite_database(":memory:", pool);
  if (url.rfind("sqlite:///", 0) == 0 && url.size() > 10)
    return make_sqlite_database(std::string(url.substr(10)), pool);
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return make_postgres_database(std::string(url), pool, options);
  throw std::invalid_argument(
      "expected sqlite:///path, sqlite:////absolute/path, sqlite::memory: or "
      "postgresql://user:password@host:port/name");
}

}  // namespace svckit::sql
