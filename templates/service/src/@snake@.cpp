#include "@snake@.hpp"

#include <charconv>
#include <cstdint>
@#db@
#include <optional>
@/db@
@^db@
#include <map>
#include <mutex>
@/db@
#include <string_view>
@^db@
#include <vector>
@/db@
@#grpc@

#include <svckit/app/grpc.hpp>

#include "@snake@.pb.h"
@/grpc@

namespace @snake@_service {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

namespace {
@#db@

// The schema, one numbered step at a time: a running service migrates itself at start-up. It is
// SQL both backends run (svckit's docs/sql.md: text ids, RFC 3339 times as text).
const svckit::sql::Migration kSchema[] = {
    {1, "items",
     "CREATE TABLE @snake@_items (id TEXT PRIMARY KEY, name TEXT NOT NULL, quantity BIGINT NOT "
     "NULL, created_at TEXT NOT NULL); CREATE INDEX @snake@_items_created ON @snake@_items "
     "(created_at, id)",
     "DROP TABLE @snake@_items"},
};

// The items in the service's database. Every call is a coroutine: the I/O thread never waits.
@#bus@
// A change and its event are one transaction: the outbox publishes the event once the change is
// committed, and a broker that is away delays it, never loses it.
@/bus@
class Items {
 public:
@#bus@
  Items(svckit::sql::Database& db, svckit::messaging::Outbox& outbox)
      : db_(db), outbox_(outbox) {}
@/bus@
@^bus@
  explicit Items(svckit::sql::Database& db) : db_(db) {}
@/bus@

  Task<Item> add(const ItemInput& in, const svckit::Context& context) {
    Item item{svckit::uuid_v4(), in.name, in.quantity, svckit::utc_now_iso8601()};
    auto work = [&](svckit::sql::Transaction& tx) -> Task<void> {
      co_await tx.execute(
          "INSERT INTO @snake@_items (id, name, quantity, created_at) VALUES (?, ?, ?, ?)",
          item.id, item.name, item.quantity, item.created_at);
@#bus@
      auto event = svckit::model::to_json(item);
      co_await announce(tx, "@name@.item.created", std::move(event), context);
@/bus@
    };
    co_await db_.transaction(work, {}, &context);
    co_return item;
  }
  Task<std::vector<Item>> list(std::int64_t limit, std::int64_t offset) {
    auto r = co_await db_.read(
        "SELECT id, name, quantity, created_at FROM @snake@_items ORDER BY created_at, id "
        "LIMIT ? OFFSET ?",
        limit, offset);
    std::vector<Item> items;
    for (const auto& row : r.rows) items.push_back(svckit::sql::from_row<Item>(row));
    co_return items;
  }
  // Throws svckit::NotFound (a 404, gRPC's NOT_FOUND) when there is no such item.
  Task<Item> find(const std::string& id) {
    auto r = co_await db_.read(
        "SELECT id, name, quantity, created_at FROM @snake@_items WHERE id = ?", id);
    if (r.empty()) throw svckit::NotFound("no item " + id);
    co_return svckit::sql::from_row<Item>(r.rows[0]);
  }
  Task<Item> replace(const std::string& id, const ItemInput& in,
                     const svckit::Context& context) {
    std::optional<Item> item;
    auto work = [&](svckit::sql::Transaction& tx) -> Task<void> {
      auto r = co_await tx.execute(
          "UPDATE @snake@_items SET name = ?, quantity = ? WHERE id = ? RETURNING created_at",
          in.name, in.quantity, id);
      if (r.empty()) throw svckit::NotFound("no item " + id);
      item = Item{id, in.name, in.quantity, r.rows[0].text("created_at")};
@#bus@
      auto event = svckit::model::to_json(*item);
      co_await announce(tx, "@name@.item.updated", std::move(event), context);
@/bus@
    };
    co_await db_.transaction(work, {}, &context);
    co_return *item;
  }
  Task<void> remove(const std::string& id, const svckit::Context& context) {
    auto work = [&](svckit::sql::Transaction& tx) -> Task<void> {
      auto r = co_await tx.execute("DELETE FROM @snake@_items WHERE id = ?", id);
      if (r.changes == 0) throw svckit::NotFound("no item " + id);
@#bus@
      nlohmann::json event = {{"id", id}};
      co_await announce(tx, "@name@.item.deleted", std::move(event), context);
@/bus@
    };
    co_await db_.transaction(work, {}, &context);
  }

 private:
@#bus@
  // The event of a change, in the change's transaction; the relay is woken once it commits.
  Task<void> announce(svckit::sql::Transaction& tx, std::string type, nlohmann::json data,
                      const svckit::Context& context) {
    co_await outbox_.add(tx, std::move(type), std::move(data), &context);
    outbox_.wake();
  }
  svckit::messaging::Outbox& outbox_;
@/bus@
  svckit::sql::Database& db_;
};
@/db@
@^db@

// The items in this process's memory: gone when it exits (`svckit new --db` keeps them in a
// database). The calls are coroutines so that a database can take its place unchanged.
class Items {
 public:
@#bus@
  explicit Items(svckit::bus::Bus& bus) : bus_(bus) {}
  static constexpr const char* kCreated = "@name@.item.created";
  static constexpr const char* kUpdated = "@name@.item.updated";
  static constexpr const char* kDeleted = "@name@.item.deleted";
@/bus@

  Task<Item> add(const ItemInput& in, const svckit::Context& context) {
    Item item{svckit::uuid_v4(), in.name, in.quantity, svckit::utc_now_iso8601()};
    {
      std::lock_guard lock(mutex_);
      order_.push_back(item.id);
      items_[item.id] = item;
    }
@#bus@
    auto event = svckit::model::to_json(item);
    co_await bus_.publish(kCreated, std::move(event), &context);
@/bus@
@^bus@
    (void)context;
@/bus@
    co_return item;
  }
  Task<std::vector<Item>> list(std::int64_t limit, std::int64_t offset) {
    std::lock_guard lock(mutex_);
    std::vector<Item> items;
    for (std::size_t i = offset; i < order_.size() && std::ssize(items) < limit; ++i)
      items.push_back(items_.at(order_[i]));
    co_return items;
  }
  // Throws svckit::NotFound (a 404, gRPC's NOT_FOUND) when there is no such item.
  Task<Item> find(const std::string& id) {
    std::lock_guard lock(mutex_);
    co_return at(id);
  }
  Task<Item> replace(const std::string& id, const ItemInput& in,
                     const svckit::Context& context) {
    Item item;
    {
      std::lock_guard lock(mutex_);
      Item& kept = at(id);
      kept.name = in.name;
      kept.quantity = in.quantity;
      item = kept;
    }
@#bus@
    auto event = svckit::model::to_json(item);
    co_await bus_.publish(kUpdated, std::move(event), &context);
@/bus@
@^bus@
    (void)context;
@/bus@
    co_return item;
  }
  Task<void> remove(const std::string& id, const svckit::Context& context) {
    {
      std::lock_guard lock(mutex_);
      at(id);
      items_.erase(id);
      std::erase(order_, id);
    }
@#bus@
    nlohmann::json event = {{"id", id}};
    co_await bus_.publish(kDeleted, std::move(event), &context);
@/bus@
@^bus@
    (void)context;
    co_return;
@/bus@
  }

 private:
  Item& at(const std::string& id) {
    auto it = items_.find(id);
    if (it == items_.end()) throw svckit::NotFound("no item " + id);
    return it->second;
  }
@#bus@
  svckit::bus::Bus& bus_;  // publish() completes once the bus has taken the event
@/bus@
  std::mutex mutex_;
  std::map<std::string, Item> items_;
  std::vector<std::string> order_;  // ids, oldest first
};
@/db@

// A whole number in [min, max] from the query, `fallback` when absent; anything else is the
// client's mistake (400), never a 500.
std::int64_t query_number(const Request& req, std::string_view name, std::int64_t fallback,
                          std::int64_t min, std::int64_t max) {
  auto text = req.query_param(name);
  if (!text) return fallback;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < min || n > max)
    throw svckit::BadRequest(std::string(name) + " must be a number from " + std::to_string(min) +
                             " to " + std::to_string(max));
  return n;
}
@#grpc@

// The same resource over gRPC: @snake@_service.v1.@camel@/GetItem (proto/@snake@.proto).
Task<v1::ItemReply> get_item(Items& items, std::string id) {
  auto item = co_await items.find(id);
  v1::ItemReply reply;
  reply.set_id(item.id);
  reply.set_name(item.name);
  reply.set_quantity(item.quantity);
  reply.set_created_at(item.created_at);
  co_return reply;
}
@/grpc@

}  // namespace

void @camel@::install(svckit::App& app) {
@#db@
  auto& db = app.database("@name@");
  db.migrate("@name@", kSchema);
@#bus@
  auto& items = app.keep("@name@:items", std::make_shared<Items>(db, app.outbox("@name@")));
@/bus@
@^bus@
  auto& items = app.keep("@name@:items", std::make_shared<Items>(db));
@/bus@
@/db@
@^db@
@#bus@
  auto& items = app.keep("@name@:items", std::make_shared<Items>(app.bus()));
@/bus@
@^bus@
  auto& items = app.keep("@name@:items", std::make_shared<Items>());
@/bus@
@/db@

  auto api = app.http().group("@api@");
  api.post("/",
           [&items](Request& req) -> Task<Response> {
             auto input = req.json<ItemInput>();  // 415, 400, or 422 naming the field
             auto item = co_await items.add(input, req.context());
             auto res = svckit::http::json_response(201, item);
             res.set_header("Location", "@api@/" + item.id);
             co_return res;
           })
      .summary("Add an item")
      .accepts<ItemInput>()
      .returns<Item>(201);
  api.get("/",
          [&items](Request& req) -> Task<Response> {
            auto limit = query_number(req, "limit", 100, 1, 1000);
            auto offset = query_number(req, "offset", 0, 0, 1'000'000'000);
            auto page = co_await items.list(limit, offset);
            co_return svckit::http::json_response(200, ItemList{std::move(page)});
          })
      .summary("The items, oldest first")
      .query("limit", "how many at most: 1 to 1000, 100 by default", {{"type", "integer"}})
      .query("offset", "how many to skip first, 0 by default", {{"type", "integer"}})
      .returns<ItemList>();
  api.get("/{id}",
          [&items](Request& req) -> Task<Response> {
            auto id = req.param("id");
            auto item = co_await items.find(id);
            co_return svckit::http::json_response(200, item);
          })
      .summary("One item")
      .returns<Item>();
  api.put("/{id}",
          [&items](Request& req) -> Task<Response> {
            auto input = req.json<ItemInput>();
            auto id = req.param("id");
            auto item = co_await items.replace(id, input, req.context());
            co_return svckit::http::json_response(200, item);
          })
      .summary("Replace an item")
      .accepts<ItemInput>()
      .returns<Item>();
  api.del("/{id}",
          [&items](Request& req) -> Task<Response> {
            auto id = req.param("id");
            co_await items.remove(id, req.context());
            co_return Response::empty(204);
          })
      .summary("Remove an item")
      .responds(204);
@#grpc@

  svckit::grpc::server(app)
      .service("@snake@_service.v1.@camel@")
      .unary<v1::GetItemRequest, v1::ItemReply>(
          "GetItem",
          [&items](svckit::grpc::Call&,
                   const v1::GetItemRequest& req) -> svckit::grpc::Reply<v1::ItemReply> {
            return get_item(items, req.id());
          });
@/grpc@
}

}  // namespace @snake@_service
