#pragma once
// What the Notification Service keeps, in its SQL database (SQLite or PostgreSQL): notifications
// (the history, read or unread), their deliveries per channel (pending, sent or dead), recipients'
// addresses and preferences, templates edited at run time, and task reminders to come.
//
// Exactly one notification per (event, user): the event's key is unique per user, so a
// redelivered event, or two replicas handling one event at once, insert it once. Deliveries are
// claimed with a lease: a replica that dies holding one leaves it to another once the lease ends.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "templates.hpp"

namespace raptorflow::notification {

inline constexpr const char* kChannels[] = {"websocket", "email", "sms", "push", "webhook"};
bool is_channel(std::string_view name);

// A place in a user's history, "<created_at>_<id>": notifications made in one millisecond are
// ordered by id, so paging and resuming miss none.
struct Cursor {
  std::int64_t at = 0;
  std::string id;
  std::string text() const { return std::to_string(at) + "_" + id; }
  // nullopt unless `text` is a cursor this service gave.
  static std::optional<Cursor> parse(std::string_view text);
};

struct Notification {
  std::string id;
  std::string user_id;
  std::string type;                 // "task.assigned", the event type, or the digested type
  std::string category;             // what preferences are set by: "task", "agent", "config"
  std::string priority = "medium";  // low, medium, high, urgent (urgent ignores quiet hours)
  Rendered text;
  nlohmann::json data = nlohmann::json::object();
  std::int64_t created_at = 0;  // milliseconds since 1970
  std::optional<std::int64_t> read_at;
  std::optional<std::int64_t> gathering_until;  // a digest gathering until then
  Cursor cursor() const { return {created_at, id}; }
  // What the API and the WebSocket send.
  nlohmann::json to_json() const;
};

// Where and how a user is reached.
struct Recipient {
  std::string user_id;
  std::optional<std::string> email, phone, push_token;
  std::string locale = "en";
  // Quiet hours in the user's time: minutes after midnight, [start, end), across midnight when
  // end < start; none when either is unset. `utc_offset`: the user's offset in minutes.
  std::optional<int> quiet_start, quiet_end;
  int utc_offset = 0;
  // Whether the user proved the address theirs (a link sent to it), or an admin set it. An
  // address not verified is not sent to (NOTIFY_VERIFY_ADDRESSES).
  bool email_verified = false, phone_verified = false;
  // Per category ("*" for all of them), per channel: on or off.
  std::map<std::string, std::map<std::string, bool>> channels;
};

struct Delivery {
  std::string channel;
  std::int64_t due_at = 0;
};

// A delivery a worker holds, with what it delivers.
struct ClaimedDelivery {
  Notification notification;
  Recipient recipient;
  std::string channel;
  int attempts = 0;              // this one included
  std::int64_t lease_until = 0;  // the claim: what sent() and failed() change the row under
};

struct DeadDelivery {
  std::string notification_id, user_id, type, channel, last_error;
  int attempts = 0;
};

struct Reminder {
  std::string task_id, user_id, title, due_date;
  std::int64_t remind_at = 0;
};

class NotificationStore {
 public:
  explicit NotificationStore(svckit::sql::Database& db) : db_(db) {}
  void migrate();

  // Inserts `n` under `event_key` with its deliveries; false (and nothing changes) when the user
  // already has the notification of that event.
  svckit::Task<bool> create(const Notification& n, const std::string& event_key,
                            const std::vector<Delivery>& deliveries);
  // Adds `item` (with its event id under "event_id") to the digest of `digest.type` for the user
  // in the window `event_key` names, creating the digest with `deliveries` due when it closes;
  // the digest's text is rendered anew with `tmpl`. false when the item was in it already.
  svckit::Task<bool> gather(const Notification& digest, const std::string& event_key,
                            const std::vector<Delivery>& deliveries, nlohmann::json item,
                            const Template& tmpl);

  // History, newest first; `before`: only what comes before that cursor.
  svckit::Task<std::vector<Notification>> history(std::string user, bool unread_only,
                                                  std::optional<Cursor> before, int limit);
  // What a connecting device missed: unread (or after the cursor `after`), oldest first.
  svckit::Task<std::vector<Notification>> missed(std::string user, std::optional<Cursor> after,
                                                 int limit);
  svckit::Task<std::optional<Notification>> find(std::string user, std::string id);
  svckit::Task<std::int64_t> unread(std::string user);
  // false when the user has no such notification.
  svckit::Task<bool> mark_read(std::string user, std::string id, std::int64_t now);
  svckit::Task<std::int64_t> mark_all_read(std::string user, std::int64_t now);

  // The user's recipient record; a default one (no addresses, English) when none is stored.
  svckit::Task<Recipient> recipient(std::string user);
  svckit::Task<void> save_recipient(Recipient r);
  svckit::Task<void> set_channel(std::string user, std::string category, std::string channel,
                                 bool enabled);
  // Marks the user's `channel` ("email" or "phone") verified when its address is `address`
  // still; false when it is not (changed meanwhile).
  svckit::Task<bool> verify(std::string user, std::string channel, std::string address);
  // Whether a verification link may go to the user's `channel` address now (five a day, one a
  // minute to the same address), counting it when it may.
  svckit::Task<bool> take_link(std::string user, std::string channel, std::string address,
                               std::int64_t now);

  // A delivery due at `now` (of the websocket channel, or of the others), leased to this caller
  // until now + lease; nullopt when none is.
  svckit::Task<std::optional<ClaimedDelivery>> claim(std::int64_t now, std::int64_t lease,
                                                     bool websocket);
  // Records what became of a claimed delivery, unless its lease ended and another replica took
  // it meanwhile. failed(): due again at `retry_at`, or dead when `retry_at` is nullopt.
  svckit::Task<void> sent(const ClaimedDelivery& d, std::int64_t now);
  svckit::Task<void> failed(const ClaimedDelivery& d, std::string error,
                            std::optional<std::int64_t> retry_at);
  svckit::Task<std::vector<DeadDelivery>> dead(std::optional<std::string> channel, int limit);
  // A dead delivery pending again, due now; false when there is none.
  svckit::Task<bool> revive(std::string id, std::string channel, std::int64_t now);

  svckit::Task<std::optional<Template>> stored_template(std::string type, std::string locale);
  svckit::Task<void> save_template(std::string type, std::string locale, Template t,
                                   std::int64_t now);
  svckit::Task<bool> remove_template(std::string type, std::string locale);

  svckit::Task<void> schedule(Reminder r);
  svckit::Task<void> unschedule(std::string task_id);
  svckit::Task<std::vector<Reminder>> due_reminders(std::int64_t now, int limit);
  // Creates the reminder's notification (once per task and due date) and removes the reminder.
  svckit::Task<void> fire(const Reminder& r, const Notification& n,
                          const std::vector<Delivery>& deliveries);

  svckit::sql::Database& database() { return db_; }

 private:
  svckit::sql::Database& db_;
};

}  // namespace raptorflow::notification
