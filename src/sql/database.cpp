#include "svckit/sql/database.hpp"

#include <algorithm>

namespace svckit::sql {

DatabaseError::DatabaseError(std::string detail)
    : Error(500, "about:blank", "Database Error", std::move(detail)) {}

Task<Result> Database::execute(std::string sql, std::vector<Value> params) {
  co_return co_await pool().run([this, &sql, &params] {
    Result result;
    run_with_connection([&](Connection& c) { result = c.execute(sql, params); });
    return result;
  });
}

Task<Result> Database::read(std::string sql, std::vector<Value> params) {
  if (auto answered = try_read_inline(sql, params)) co_return std::move(*answered);
  co_return co_await execute(std::move(sql), std::move(params));
}

Task<bool> Database::ping() {
  co_return co_await pool().run([this] {
    bool ok = false;
    run_with_connection([&](Connection& c) { ok = !c.execute("SELECT 1").empty(); });
    return ok;
  });
}

void Database::migrate(std::string_view component, std::span<const Migration> migrations) {
  std::vector<const Migration*> ordered;
  for (const auto& m : migrations) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](auto* a, auto* b) { return a->version < b->version; });
  for (std::size_t i = 1; i < ordered.size(); ++i)
    if (ordered[i]->version == ordered[i - 1]->version)
      throw DatabaseError("migration version " + std::to_string(ordered[i]->version) +
                          " appears twice for " + std::string(component));

  run_in_transaction(
      [](Connection& c) {
        c.execute(
            "CREATE TABLE IF NOT EXISTS svckit_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
            " PRIMARY KEY (component, version))");
      },
      true);
  for (const Migration* m : ordered) {
    run_in_transaction(
        [&](Connection& c) {
          auto applied =
              c.execute("SELECT 1 FROM svckit_migrations WHERE component = ? AND version = ?",
                        {std::string(component), m->version});
          if (!applied.empty()) return;
          c.execute(m->sql);
          c.execute("INSERT INTO svckit_migrations (component, version, name) VALUES (?, ?, ?)",
                    {std::string(component), m->version, m->name});
        },
        true);
  }
}

}  // namespace svckit::sql
