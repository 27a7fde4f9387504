#include "request_store.hpp"

#include <svckit/model/json.hpp>

namespace apartment::requests {
namespace {

using svckit::sql::Transaction;

const svckit::sql::Migration kMigrations[] = {
    {1, "requests",
     "CREATE TABLE requests ("
     " id TEXT PRIMARY KEY,"
     " resident_id TEXT NOT NULL,"
     " unit TEXT NOT NULL,"
     " status TEXT NOT NULL,"
     " category TEXT,"
     " urgency TEXT,"
     " created_at TEXT NOT NULL,"
     " updated_at TEXT NOT NULL,"
     " retry_at TEXT,"
     " document TEXT NOT NULL);"
     "CREATE INDEX requests_resident ON requests (resident_id, created_at);"
     "CREATE INDEX requests_unit ON requests (unit, status);"
     "CREATE INDEX requests_status ON requests (status, created_at);"
     "CREATE INDEX requests_created ON requests (created_at);"
     "CREATE INDEX requests_retry ON requests (retry_at);",
     "DROP TABLE requests"},
};

// Read, change, write in one serializable transaction (PostgreSQL retries a conflict; SQLite
// serializes writers anyway).
const svckit::sql::TransactionOptions kReadModifyWrite{.isolation =
                                                           svckit::sql::Isolation::serializable};

std::vector<svckit::sql::Value> columns(const ServiceRequest& r) {
  std::vector<svckit::sql::Value> v;
  v.emplace_back(r.resident_id);
  v.emplace_back(r.unit);
  v.emplace_back(r.status);
  v.emplace_back(r.classification ? svckit::sql::Value(r.classification->category)
                                  : svckit::sql::Value());
  v.emplace_back(r.classification ? svckit::sql::Value(r.classification->urgency)
                                  : svckit::sql::Value());
  v.emplace_back(r.created_at);
  v.emplace_back(r.updated_at);
  v.emplace_back(r.retry_at ? svckit::sql::Value(*r.retry_at) : svckit::sql::Value());
  v.emplace_back(svckit::model::to_json_text(r));
  return v;
}

ServiceRequest from_document(const svckit::sql::Row& row) {
  return svckit::model::from_json<ServiceRequest>(nlohmann::json::parse(row.text("document")));
}

}  // namespace

void RequestStore::migrate() {
  db_.migrate("request-management", kMigrations);
}

svckit::Task<void> RequestStore::insert(ServiceRequest r) {
  auto values = columns(r);
  values.insert(values.begin(), svckit::sql::Value(r.id));
  co_await db_.execute(
      "INSERT INTO requests (id, resident_id, unit, status, category, urgency, created_at, "
      "updated_at, retry_at, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      std::move(values));
}

svckit::Task<std::optional<ServiceRequest>> RequestStore::find(std::string id) {
  auto r = co_await db_.read("SELECT document FROM requests WHERE id = ?", std::move(id));
  if (r.empty()) co_return std::nullopt;
  co_return from_document(r.rows.front());
}

svckit::Task<RequestList> RequestStore::list(RequestFilter f) {
  std::string where = " WHERE 1 = 1";
  std::vector<svckit::sql::Value> params;
  auto add = [&](const char* column, const std::optional<std::string>& value) {
    if (!value) return;
    where += std::string(" AND ") + column + " = ?";
    params.emplace_back(*value);
  };
  add("status", f.status);
  add("category", f.category);
  add("urgency", f.urgency);
  add("unit", f.unit);
  add("resident_id", f.resident_id);
  RequestList out;
  out.page = f.page;
  out.limit = f.limit;
  auto page_params = params;
  page_params.emplace_back(f.limit);
  page_params.emplace_back((f.page - 1) * f.limit);
  auto rows = co_await db_.read(
      "SELECT document FROM requests" + where + " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
      std::move(page_params));
  for (const auto& row : rows.rows) out.requests.push_back(from_document(row));
  auto count = co_await db_.read("SELECT COUNT(*) AS n FROM requests" + where, std::move(params));
  out.total = count.rows.front().integer("n");
  co_return out;
}

svckit::Task<std::optional<ServiceRequest>> RequestStore::update(std::string id, Change change,
                                                                 const svckit::Context* context) {
  bool announced = false;
  auto work = [&](Transaction& tx) -> svckit::Task<std::optional<ServiceRequest>> {
    announced = false;
    auto found = co_await tx.execute("SELECT document FROM requests WHERE id = ?", id);
    if (found.empty()) co_return std::nullopt;
    auto r = from_document(found.rows.front());
    auto events = change(r);
    auto values = columns(r);
    values.emplace_back(id);
    co_await tx.execute(
        "UPDATE requests SET resident_id = ?, unit = ?, status = ?, category = ?, urgency = ?, "
        "created_at = ?, updated_at = ?, retry_at = ?, document = ? WHERE id = ?",
        std::move(values));
    for (auto& e : events) co_await outbox_.add(tx, e.type, std::move(e.data), context);
    announced = !events.empty();
    co_return r;
  };
  auto r = co_await db_.transaction(work, kReadModifyWrite, context);
  if (announced) outbox_.wake();  // committed: publish now rather than at the relay's next look
  co_return r;
}

svckit::Task<std::vector<std::string>> RequestStore::due(std::string now, std::int64_t limit) {
  auto r = co_await db_.read(
      "SELECT id FROM requests WHERE retry_at IS NOT NULL AND retry_at <= ? ORDER BY retry_at "
      "LIMIT ?",
      std::move(now), limit);
  std::vector<std::string> ids;
  for (const auto& row : r.rows) ids.push_back(row.text("id"));
  co_return ids;
}

svckit::Task<bool> RequestStore::claim(std::string id, std::string seen, std::string until) {
  bool claimed = false;
  auto take = [&](ServiceRequest& r) -> std::vector<Outgoing> {
    claimed = r.retry_at == seen;
    if (claimed) r.retry_at = until;
    return {};
  };
  co_await update(std::move(id), take, nullptr);
  co_return claimed;
}

svckit::Task<std::int64_t> RequestStore::count_since(std::string resident_id, std::string since,
                                                     std::string except) {
  auto r = co_await db_.read(
      "SELECT COUNT(*) AS n FROM requests WHERE resident_id = ? AND created_at >= ? AND id <> ?",
      std::move(resident_id), std::move(since), std::move(except));
  co_return r.rows.front().integer("n");
}

svckit::Task<std::int64_t> RequestStore::count_open(std::string unit, std::string except) {
  auto r = co_await db_.read(
      "SELECT COUNT(*) AS n FROM requests WHERE unit = ? AND status NOT IN ('resolved', "
      "'failed') AND id <> ?",
      std::move(unit), std::move(except));
  co_return r.rows.front().integer("n");
}

}  // namespace apartment::requests
