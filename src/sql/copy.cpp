// Database::copy_from: the rows of a SQLite database into a migrated PostgreSQL one (or any
// two backends), for teams leaving the embedded default.
#include <algorithm>
#include <set>

#include "svckit/sql/database.hpp"

namespace svckit::sql {
namespace {

std::vector<std::string> tables_of(BlockingSession& s, std::string_view backend) {
  auto sql = backend == "sqlite"
                 ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                   "'sqlite_%' ORDER BY name"
                 : "SELECT table_name AS name FROM information_schema.tables WHERE "
                   "table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1";
  std::vector<std::string> out;
  // Not data: the migrations each side ran itself, and the outbox relay's lease, which names a
  // process of the old deployment (copied, it would keep the new relay waiting until it expired).
  for (const auto& r : s.execute(sql).rows)
    if (r.text("name") != "svckit_migrations" && r.text("name") != "svckit_outbox_lease")
      out.push_back(r.text("name"));
  return out;
}

std::set<std::string> columns_of(BlockingSession& s, std::string_view backend,
                                 const std::string& table) {
  std::set<std::string> out;
  if (backend == "sqlite") {
    Value params[] = {table};
    for (const auto& r : s.execute("SELECT name FROM pragma_table_info(?)", params).rows)
      out.insert(r.text("name"));
  } else {
    Value params[] = {table};
    for (const auto& r : s.execute("SELECT column_name AS name FROM information_schema.columns "
                                   "WHERE table_schema = current_schema() AND table_name = ?",
                                   params)
                             .rows)
      out.insert(r.text("name"));
  }
  return out;
}

// The tables a table's foreign keys point at (SQLite sources only; others copy in name order).
std::set<std::string> parents_of(BlockingSession& s, std::string_view backend,
                                 const std::string& table) {
  std::set<std::string> out;
  if (backend != "sqlite") return out;
  Value params[] = {table};
  for (const auto& r :
       s.execute("SELECT \"table\" AS parent FROM pragma_foreign_key_list(?)", params).rows)
    if (r.text("parent") != table) out.insert(r.text("parent"));
  return out;
}

// The columns whose values a PostgreSQL sequence generates (identity or serial): copied rows keep
// their values, and the sequence moves past them afterwards.
std::vector<std::string> generated_columns_of(BlockingSession& s, std::string_view backend,
                                              const std::string& table) {
  std::vector<std::string> out;
  if (backend != "postgresql") return out;
  Value params[] = {table};
  for (const auto& r : s.execute("SELECT column_name AS name FROM information_schema.columns "
                                 "WHERE table_schema = current_schema() AND table_name = ? AND "
                                 "(is_identity = 'YES' OR column_default LIKE 'nextval(%')",
                                 params)
                           .rows)
    out.push_back(r.text("name"));
  return out;
}

// Identifiers come from the databases' own catalogues; quoted all the same.
std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::vector<std::pair<std::string, std::int64_t>> Database::copy_from(Database& source) {
  std::vector<std::pair<std::string, std::int64_t>> copied;
  source.with_migration_lock([&](BlockingSession& from) {
    with_migration_lock([&](BlockingSession& to) {
      auto mine = tables_of(to, backend());
      std::vector<std::string> pending;
      for (const auto& t : tables_of(from, source.backend()))
        if (std::find(mine.begin(), mine.end(), t) != mine.end()) pending.push_back(t);
      to.transaction([&] {
        std::set<std::string> done;
        while (!pending.empty()) {
          // The first table whose parents are copied (or are not among those copied).
          auto next = std::find_if(pending.begin(), pending.end(), [&](const std::string& t) {
            for (const auto& p : parents_of(from, source.backend(), t))
              if (!done.contains(p) &&
                  std::find(pending.begin(), pending.end(), p) != pending.end())
                return false;
            return true;
          });
          if (next == pending.end()) next = pending.begin();  // a cycle: try in name order
          std::string table = *next;
          pending.erase(next);
          done.insert(table);
          auto here = columns_of(to, backend(), table);
          std::vector<std::string> columns;
          for (const auto& c : columns_of(from, source.backend(), table))
            if (here.contains(c)) columns.push_back(c);
          if (columns.empty()) continue;
          if (!to.execute("SELECT 1 FROM " + quoted(table) + " LIMIT 1").empty())
            throw Conflict("table " + table +
                           " already has rows here; copy into an empty, "
                           "migrated database");
          std::string list, marks;
          for (const auto& c : columns) {
            list += (list.empty() ? "" : ", ") + quoted(c);
            marks += marks.empty() ? "?" : ", ?";
          }
          auto generated = generated_columns_of(to, backend(), table);
          auto insert = "INSERT INTO " + quoted(table) + " (" + list + ")" +
                        (generated.empty() ? "" : " OVERRIDING SYSTEM VALUE") + " VALUES (" +
                        marks + ")";
          auto rows = from.execute("SELECT " + list + " FROM " + quoted(table));
          for (const auto& row : rows.rows) {
            std::vector<Value> values;
            for (std::size_t i = 0; i < row.size(); ++i) values.push_back(row.at(i));
            to.execute(insert, values);
          }
          for (const auto& c : generated) {
            // The next generated value follows the largest copied one (or stays 1 when none).
            Value params[] = {quoted(table), c};
            to.execute("SELECT setval(pg_get_serial_sequence(?, ?), GREATEST(COALESCE(MAX(" +
                           quoted(c) + "), 0), 1), MAX(" + quoted(c) + ") IS NOT NULL) FROM " +
                           quoted(table),
                       params);
          }
          copied.emplace_back(table, static_cast<std::int64_t>(rows.rows.size()));
        }
      });
    });
  });
  return copied;
}

}  // namespace svckit::sql
