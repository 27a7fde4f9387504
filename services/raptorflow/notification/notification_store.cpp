#include "notification_store.hpp"

#include <algorithm>

#include <svckit/ids.hpp>
#include <svckit/utf8.hpp>

namespace raptorflow::notification {
namespace {

using svckit::Task;
using svckit::sql::Result;
using svckit::sql::Row;
using svckit::sql::Transaction;
using svckit::sql::Value;

const svckit::sql::Migration kMigrations[] = {
    {1, "notifications, deliveries, recipients, templates, reminders",
     "CREATE TABLE notifications ("
     " id TEXT PRIMARY KEY,"
     " user_id TEXT NOT NULL,"
     " event_key TEXT NOT NULL,"
     " type TEXT NOT NULL,"
     " category TEXT NOT NULL,"
     " priority TEXT NOT NULL,"
     " title TEXT NOT NULL,"
     " body TEXT NOT NULL,"
     " html TEXT NOT NULL,"
     " data TEXT NOT NULL,"
     " created_at BIGINT NOT NULL,"
     " read_at BIGINT,"
     " gathering_until BIGINT,"
     " UNIQUE (event_key, user_id));"
     "CREATE INDEX notifications_user ON notifications (user_id, created_at);"
     "CREATE TABLE deliveries ("
     " notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,"
     " channel TEXT NOT NULL,"
     " status TEXT NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " due_at BIGINT NOT NULL,"
     " lease_until BIGINT,"
     " last_error TEXT,"
     " sent_at BIGINT,"
     " PRIMARY KEY (notification_id, channel));"
     "CREATE INDEX deliveries_due ON deliveries (status, due_at);"
     "CREATE TABLE recipients ("
     " user_id TEXT PRIMARY KEY,"
     " email TEXT, phone TEXT, push_token TEXT,"
     " locale TEXT NOT NULL,"
     " quiet_start INTEGER, quiet_end INTEGER,"
     " utc_offset INTEGER NOT NULL);"
     "CREATE TABLE channel_preferences ("
     " user_id TEXT NOT NULL, category TEXT NOT NULL, channel TEXT NOT NULL,"
     " enabled INTEGER NOT NULL,"
     " PRIMARY KEY (user_id, category, channel));"
     "CREATE TABLE templates ("
     " type TEXT NOT NULL, locale TEXT NOT NULL,"
     " title TEXT NOT NULL, body TEXT NOT NULL, html TEXT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " PRIMARY KEY (type, locale));"
     "CREATE TABLE reminders ("
     " task_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, title TEXT NOT NULL,"
     " due_date TEXT NOT NULL, remind_at BIGINT NOT NULL);"
     "CREATE INDEX reminders_due ON reminders (remind_at);",
     "DROP TABLE reminders; DROP TABLE templates; DROP TABLE channel_preferences;"
     "DROP TABLE recipients; DROP TABLE deliveries; DROP TABLE notifications"},
    // Addresses set before verification existed keep working: they count as proved.
    {2, "verified addresses",
     "ALTER TABLE recipients ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE recipients ADD COLUMN phone_verified INTEGER NOT NULL DEFAULT 0;"
     "UPDATE recipients SET email_verified = 1 WHERE email IS NOT NULL;"
     "UPDATE recipients SET phone_verified = 1 WHERE phone IS NOT NULL;"
     "CREATE TABLE verification_links ("
     " user_id TEXT NOT NULL, channel TEXT NOT NULL, day BIGINT NOT NULL, sent INTEGER NOT NULL,"
     " address TEXT NOT NULL, last_at BIGINT NOT NULL, PRIMARY KEY (user_id, channel))",
     "DROP TABLE verification_links; ALTER TABLE recipients DROP COLUMN email_verified;"
     "ALTER TABLE recipients DROP COLUMN phone_verified"},
};

const std::string kColumns =
    "id, user_id, type, category, priority, title, body, html, data, created_at, read_at, "
    "gathering_until";

std::optional<std::int64_t> optional_integer(const Row& row, std::string_view column) {
  const Value& v = row[column];
  if (v.is_null()) return std::nullopt;
  return v.as_int();
}

Notification from_row(const Row& row) {
  Notification n;
  n.id = row.text("id");
  n.user_id = row.text("user_id");
  n.type = row.text("type");
  n.category = row.text("category");
  n.priority = row.text("priority");
  n.text = {row.text("title"), row.text("body"), row.text("html")};
  n.data = nlohmann::json::parse(row.text("data"), nullptr, false);
  if (n.data.is_discarded()) n.data = nlohmann::json::object();
  n.created_at = row.integer("created_at");
  n.read_at = optional_integer(row, "read_at");
  n.gathering_until = optional_integer(row, "gathering_until");
  return n;
}

std::vector<Notification> notifications(const Result& result) {
  std::vector<Notification> out;
  out.reserve(result.rows.size());
  for (const auto& row : result.rows) out.push_back(from_row(row));
  return out;
}

Task<void> insert_deliveries(Transaction& tx, const std::string& id,
                             const std::vector<Delivery>& deliveries) {
  for (const auto& d : deliveries)
    co_await tx.execute(
        "INSERT INTO deliveries (notification_id, channel, status, attempts, due_at) "
        "VALUES (?, ?, 'pending', 0, ?)",
        id, d.channel, d.due_at);
}

// (Built outside the coroutines: GCC 12 miscompiles initializer lists in a coroutine frame.)
std::vector<Value> row_values(const Notification& n, const std::string& event_key) {
  return {n.id,         n.user_id,   event_key,   n.type,        n.category,   n.priority,
          n.text.title, n.text.body, n.text.html, n.data.dump(), n.created_at, n.gathering_until};
}

std::vector<Value> row_values(const Recipient& r) {
  return {r.user_id,     r.email,     r.phone,      r.push_token,     r.locale,
          r.quiet_start, r.quiet_end, r.utc_offset, r.email_verified, r.phone_verified};
}

// Inserts `n` unless the user has the notification of `event_key`; whether it did.
Task<bool> insert(Transaction& tx, const Notification& n, const std::string& event_key,
                  const std::vector<Delivery>& deliveries) {
  auto values = row_values(n, event_key);
  auto result = co_await tx.execute(
      "INSERT INTO notifications (id, user_id, event_key, type, category, priority, title, body, "
      "html, data, created_at, gathering_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (event_key, user_id) DO NOTHING",
      std::move(values));
  if (result.changes == 0) co_return false;
  co_await insert_deliveries(tx, n.id, deliveries);
  co_return true;
}

Recipient recipient_from_row(const Row& row) {
  Recipient r;
  r.user_id = row.text("user_id");
  r.email = row.optional_text("email");
  r.phone = row.optional_text("phone");
  r.push_token = row.optional_text("push_token");
  r.locale = row.text("locale");
  if (auto v = optional_integer(row, "quiet_start")) r.quiet_start = static_cast<int>(*v);
  if (auto v = optional_integer(row, "quiet_end")) r.quiet_end = static_cast<int>(*v);
  r.utc_offset = static_cast<int>(row.integer("utc_offset"));
  r.email_verified = row.integer("email_verified") != 0;
  r.phone_verified = row.integer("phone_verified") != 0;
  return r;
}

Task<Recipient> load_recipient(Transaction& tx, const std::string& user) {
  Recipient r;
  r.user_id = user;
  auto found = co_await tx.execute(
      "SELECT user_id, email, phone, push_token, locale, quiet_start, quiet_end, utc_offset, "
      "email_verified, phone_verified FROM recipients WHERE user_id = ?",
      user);
  if (!found.empty()) r = recipient_from_row(found.rows.front());
  auto prefs = co_await tx.execute(
      "SELECT category, channel, enabled FROM channel_preferences WHERE user_id = ?", user);
  for (const auto& row : prefs.rows)
    r.channels[row.text("category")][row.text("channel")] = row.integer("enabled") != 0;
  co_return r;
}

const svckit::sql::TransactionOptions kSerializable{.isolation =
                                                        svckit::sql::Isolation::serializable};

}  // namespace

bool is_channel(std::string_view name) {
  return std::find(std::begin(kChannels), std::end(kChannels), name) != std::end(kChannels);
}

std::optional<Cursor> Cursor::parse(std::string_view text) {
  auto sep = text.find('_');
  if (sep == 0 || sep == std::string_view::npos || sep > 15 || text.size() - sep - 1 > 64)
    return std::nullopt;
  Cursor c;
  for (char ch : text.substr(0, sep)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    c.at = c.at * 10 + (ch - '0');
  }
  c.id = std::string(text.substr(sep + 1));
  bool id_ok = !c.id.empty() && std::all_of(c.id.begin(), c.id.end(), [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == '-';
  });
  if (!id_ok) return std::nullopt;
  return c;
}

nlohmann::json Notification::to_json() const {
  nlohmann::json out = {{"id", id},
                        {"cursor", cursor().text()},
                        {"type", type},
                        {"category", category},
                        {"priority", priority},
                        {"title", text.title},
                        {"body", text.body},
                        {"data", data},
                        {"created_at", svckit::utc_iso8601(created_at / 1000)},
                        {"read", read_at.has_value()}};
  if (gathering_until) out["gathering_until"] = svckit::utc_iso8601(*gathering_until / 1000);
  return out;
}

void NotificationStore::migrate() {
  db_.migrate("notification", kMigrations);
}

Task<bool> NotificationStore::create(const Notification& n, const std::string& event_key,
                                     const std::vector<Delivery>& deliveries) {
  auto work = [&](Transaction& tx) -> Task<bool> {
    co_return co_await insert(tx, n, event_key, deliveries);
  };
  co_return co_await db_.transaction(work);
}

Task<bool> NotificationStore::gather(const Notification& digest, const std::string& event_key,
                                     const std::vector<Delivery>& deliveries, nlohmann::json item,
                                     const Template& tmpl) {
  // Serializable: two replicas adding to one digest at once must not lose an item.
  auto work = [&](Transaction& tx) -> Task<bool> {
    co_await insert(tx, digest, event_key, deliveries);
    auto found = co_await tx.execute(
        "SELECT " + kColumns + " FROM notifications WHERE event_key = ? AND user_id = ?", event_key,
        digest.user_id);
    auto n = from_row(found.rows.at(0));
    auto& events = n.data["event_ids"];
    if (!events.is_array()) events = nlohmann::json::array();
    // A copy: the transaction may run again (a serialization failure), and `item` must be whole.
    nlohmann::json entry = item;
    std::string id = entry.value("event_id", "");
    if (std::find(events.begin(), events.end(), id) != events.end()) co_return false;
    events.push_back(id);
    std::int64_t count = n.data.value("count", 0) + 1;
    n.data["count"] = count;
    auto& items = n.data["items"];
    if (!items.is_array()) items = nlohmann::json::array();
    // The first 20 are listed; the count says how many there were.
    if (items.size() < 20) items.push_back(std::move(entry));
    n.text = render(tmpl, n.data);
    co_await tx.execute(
        "UPDATE notifications SET data = ?, title = ?, body = ?, html = ? "
        "WHERE id = ?",
        n.data.dump(), n.text.title, n.text.body, n.text.html, n.id);
    co_return true;
  };
  co_return co_await db_.transaction(work, kSerializable);
}

Task<std::vector<Notification>> NotificationStore::history(std::string user, bool unread_only,
                                                           std::optional<Cursor> before,
                                                           int limit) {
  std::string sql = "SELECT " + kColumns + " FROM notifications WHERE user_id = ?";
  std::vector<Value> params(1, Value(user));
  if (unread_only) sql += " AND read_at IS NULL";
  if (before) {
    sql += " AND (created_at < ? OR (created_at = ? AND id < ?))";
    params.emplace_back(before->at);
    params.emplace_back(before->at);
    params.emplace_back(before->id);
  }
  sql += " ORDER BY created_at DESC, id DESC LIMIT ?";
  params.emplace_back(limit);
  auto result = co_await db_.read(std::move(sql), std::move(params));
  co_return notifications(result);
}

Task<std::vector<Notification>> NotificationStore::missed(std::string user,
                                                          std::optional<Cursor> after, int limit) {
  std::string sql = "SELECT " + kColumns + " FROM notifications WHERE user_id = ?";
  std::vector<Value> params(1, Value(user));
  if (after) {
    sql += " AND (created_at > ? OR (created_at = ? AND id > ?))";
    params.emplace_back(after->at);
    params.emplace_back(after->at);
    params.emplace_back(after->id);
  } else {
    sql += " AND read_at IS NULL";
  }
  sql += " ORDER BY created_at, id LIMIT ?";
  params.emplace_back(limit);
  auto result = co_await db_.read(std::move(sql), std::move(params));
  co_return notifications(result);
}

Task<std::optional<Notification>> NotificationStore::find(std::string user, std::string id) {
  auto result = co_await db_.read(
      "SELECT " + kColumns + " FROM notifications WHERE user_id = ? AND id = ?", user, id);
  if (result.empty()) co_return std::nullopt;
  co_return from_row(result.rows.front());
}

Task<std::int64_t> NotificationStore::unread(std::string user) {
  auto result = co_await db_.read(
      "SELECT COUNT(*) AS n FROM notifications WHERE user_id = ? AND read_at IS NULL", user);
  co_return result.rows.at(0).integer("n");
}

Task<bool> NotificationStore::mark_read(std::string user, std::string id, std::int64_t now) {
  auto result = co_await db_.execute(
      "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE user_id = ? AND id = ?", now,
      user, id);
  co_return result.changes > 0;
}

Task<std::int64_t> NotificationStore::mark_all_read(std::string user, std::int64_t now) {
  auto result = co_await db_.execute(
      "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL", now, user);
  co_return result.changes;
}

Task<Recipient> NotificationStore::recipient(std::string user) {
  auto work = [&](Transaction& tx) -> Task<Recipient> {
    co_return co_await load_recipient(tx, user);
  };
  co_return co_await db_.snapshot(work);
}

Task<void> NotificationStore::save_recipient(Recipient r) {
  auto work = [&](Transaction& tx) -> Task<void> {
    auto values = row_values(r);
    co_await tx.execute(
        "INSERT INTO recipients (user_id, email, phone, push_token, locale, quiet_start, "
        "quiet_end, utc_offset, email_verified, phone_verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?) ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, phone = "
        "excluded.phone, push_token = excluded.push_token, locale = excluded.locale, quiet_start "
        "= excluded.quiet_start, quiet_end = excluded.quiet_end, utc_offset = "
        "excluded.utc_offset, email_verified = excluded.email_verified, phone_verified = "
        "excluded.phone_verified",
        std::move(values));
    co_await tx.execute("DELETE FROM channel_preferences WHERE user_id = ?", r.user_id);
    for (const auto& [category, channels] : r.channels)
      for (const auto& [channel, enabled] : channels)
        co_await tx.execute(
            "INSERT INTO channel_preferences (user_id, category, channel, enabled) "
            "VALUES (?, ?, ?, ?)",
            r.user_id, category, channel, enabled);
  };
  co_await db_.transaction(work);
}

Task<bool> NotificationStore::verify(std::string user, std::string channel, std::string address) {
  std::string sql = "UPDATE recipients SET phone_verified = 1 WHERE user_id = ? AND phone = ?";
  if (channel == "email")
    sql = "UPDATE recipients SET email_verified = 1 WHERE user_id = ? AND email = ?";
  auto result = co_await db_.execute(std::move(sql), user, address);
  co_return result.changes > 0;
}

Task<bool> NotificationStore::take_link(std::string user, std::string channel, std::string address,
                                        std::int64_t now) {
  std::int64_t day = now / 86'400'000;
  auto work = [&](Transaction& tx) -> Task<bool> {
    auto found = co_await tx.execute(
        "SELECT day, sent, address, last_at FROM verification_links WHERE user_id = ? AND "
        "channel = ?",
        user, channel);
    std::int64_t sent = 0;
    if (!found.empty()) {
      const auto& row = found.rows.front();
      if (row.text("address") == address && row.integer("last_at") > now - 60'000) co_return false;
      if (row.integer("day") == day) sent = row.integer("sent");
    }
    if (sent >= 5) co_return false;
    co_await tx.execute(
        "INSERT INTO verification_links (user_id, channel, day, sent, address, last_at) VALUES "
        "(?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, channel) DO UPDATE SET day = excluded.day, "
        "sent = excluded.sent, address = excluded.address, last_at = excluded.last_at",
        user, channel, day, sent + 1, address, now);
    co_return true;
  };
  co_return co_await db_.transaction(work, kSerializable);
}

Task<void> NotificationStore::set_channel(std::string user, std::string category,
                                          std::string channel, bool enabled) {
  co_await db_.execute(
      "INSERT INTO channel_preferences (user_id, category, channel, enabled) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (user_id, category, channel) DO UPDATE SET enabled = excluded.enabled",
      user, category, channel, enabled);
}

Task<std::optional<ClaimedDelivery>> NotificationStore::claim(std::int64_t now, std::int64_t lease,
                                                              bool websocket) {
  std::string which = websocket ? "channel = 'websocket'" : "channel <> 'websocket'";
  auto due = co_await db_.execute(
      "SELECT notification_id, channel FROM deliveries WHERE status = 'pending' AND " + which +
          " AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY due_at LIMIT 8",
      now, now);
  for (const auto& row : due.rows) {
    std::string id = row.text("notification_id"), channel = row.text("channel");
    // Of replicas claiming one delivery at once, the row lock lets one update it; the others
    // find the lease taken when their update re-reads the row. The lease's end is the holder's
    // token: sent() and failed() change the row only while it is theirs.
    auto work = [&](Transaction& tx) -> Task<std::optional<ClaimedDelivery>> {
      auto claimed = co_await tx.execute(
          "UPDATE deliveries SET lease_until = ?, attempts = attempts + 1 WHERE notification_id "
          "= ? AND channel = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until < "
          "?) RETURNING attempts",
          now + lease, id, channel, now);
      if (claimed.empty()) co_return std::nullopt;
      // A digest whose window has closed takes its place in the history now: a device resuming
      // after a later notification's cursor gets it.
      co_await tx.execute(
          "UPDATE notifications SET created_at = gathering_until, gathering_until = NULL WHERE id "
          "= ? AND gathering_until IS NOT NULL AND gathering_until <= ?",
          id, now);
      auto found =
          co_await tx.execute("SELECT " + kColumns + " FROM notifications WHERE id = ?", id);
      if (found.empty()) co_return std::nullopt;
      ClaimedDelivery d;
      d.notification = from_row(found.rows.front());
      d.channel = channel;
      d.attempts = static_cast<int>(claimed.rows.front().integer("attempts"));
      d.lease_until = now + lease;
      d.recipient = co_await load_recipient(tx, d.notification.user_id);
      co_return d;
    };
    auto d = co_await db_.transaction(work);
    if (d) co_return d;
  }
  co_return std::nullopt;
}

Task<void> NotificationStore::sent(const ClaimedDelivery& d, std::int64_t now) {
  co_await db_.execute(
      "UPDATE deliveries SET status = 'sent', sent_at = ?, lease_until = NULL, last_error = NULL "
      "WHERE notification_id = ? AND channel = ? AND lease_until = ?",
      now, d.notification.id, d.channel, d.lease_until);
}

Task<void> NotificationStore::failed(const ClaimedDelivery& d, std::string error,
                                     std::optional<std::int64_t> retry_at) {
  std::string status = retry_at ? "pending" : "dead";
  co_await db_.execute(
      "UPDATE deliveries SET status = ?, due_at = COALESCE(?, due_at), lease_until = NULL, "
      "last_error = ? WHERE notification_id = ? AND channel = ? AND lease_until = ?",
      status, retry_at, svckit::utf8_prefix(error, 1000), d.notification.id, d.channel,
      d.lease_until);
}

Task<std::vector<DeadDelivery>> NotificationStore::dead(std::optional<std::string> channel,
                                                        int limit) {
  std::string sql =
      "SELECT d.notification_id, n.user_id, n.type, d.channel, d.last_error, d.attempts FROM "
      "deliveries d JOIN notifications n ON n.id = d.notification_id WHERE d.status = 'dead'";
  std::vector<Value> params;
  if (channel) {
    sql += " AND d.channel = ?";
    params.emplace_back(*channel);
  }
  sql += " ORDER BY d.due_at LIMIT ?";
  params.emplace_back(limit);
  auto result = co_await db_.read(std::move(sql), std::move(params));
  std::vector<DeadDelivery> out;
  for (const auto& row : result.rows)
    out.push_back({row.text("notification_id"), row.text("user_id"), row.text("type"),
                   row.text("channel"), row.optional_text("last_error").value_or(""),
                   static_cast<int>(row.integer("attempts"))});
  co_return out;
}

Task<bool> NotificationStore::revive(std::string id, std::string channel, std::int64_t now) {
  auto result = co_await db_.execute(
      "UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ?, lease_until = NULL "
      "WHERE notification_id = ? AND channel = ? AND status = 'dead'",
      now, id, channel);
  co_return result.changes > 0;
}

Task<std::optional<Template>> NotificationStore::stored_template(std::string type,
                                                                 std::string locale) {
  auto result = co_await db_.read(
      "SELECT title, body, html FROM templates WHERE type = ? AND locale = ?", type, locale);
  if (result.empty()) co_return std::nullopt;
  const auto& row = result.rows.front();
  co_return Template{row.text("title"), row.text("body"), row.text("html")};
}

Task<void> NotificationStore::save_template(std::string type, std::string locale, Template t,
                                            std::int64_t now) {
  co_await db_.execute(
      "INSERT INTO templates (type, locale, title, body, html, updated_at) VALUES (?, ?, ?, ?, "
      "?, ?) ON CONFLICT (type, locale) DO UPDATE SET title = excluded.title, body = "
      "excluded.body, html = excluded.html, updated_at = excluded.updated_at",
      type, locale, t.title, t.body, t.html, now);
}

Task<bool> NotificationStore::remove_template(std::string type, std::string locale) {
  auto result =
      co_await db_.execute("DELETE FROM templates WHERE type = ? AND locale = ?", type, locale);
  co_return result.changes > 0;
}

Task<void> NotificationStore::schedule(Reminder r) {
  co_await db_.execute(
      "INSERT INTO reminders (task_id, user_id, title, due_date, remind_at) VALUES (?, ?, ?, ?, "
      "?) ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id, title = "
      "excluded.title, due_date = excluded.due_date, remind_at = excluded.remind_at",
      r.task_id, r.user_id, r.title, r.due_date, r.remind_at);
}

Task<void> NotificationStore::unschedule(std::string task_id) {
  co_await db_.execute("DELETE FROM reminders WHERE task_id = ?", task_id);
}

Task<std::vector<Reminder>> NotificationStore::due_reminders(std::int64_t now, int limit) {
  auto result = co_await db_.execute(
      "SELECT task_id, user_id, title, due_date, remind_at FROM reminders WHERE remind_at <= ? "
      "ORDER BY remind_at LIMIT ?",
      now, limit);
  std::vector<Reminder> out;
  for (const auto& row : result.rows)
    out.push_back({row.text("task_id"), row.text("user_id"), row.text("title"),
                   row.text("due_date"), row.integer("remind_at")});
  co_return out;
}

Task<void> NotificationStore::fire(const Reminder& r, const Notification& n,
                                   const std::vector<Delivery>& deliveries) {
  auto work = [&](Transaction& tx) -> Task<void> {
    co_await insert(tx, n, "reminder:" + r.task_id + ":" + r.due_date, deliveries);
    // Only this reminder: one rescheduled meanwhile (another due date or assignee) stays.
    co_await tx.execute(
        "DELETE FROM reminders WHERE task_id = ? AND due_date = ? AND user_id = ? AND remind_at = "
        "?",
        r.task_id, r.due_date, r.user_id, r.remind_at);
  };
  co_await db_.transaction(work);
}

}  // namespace raptorflow::notification
