#pragma once
// Raptorflow's Notification Service (seed 003) as a svckit module: notifications made from bus
// events and from direct requests, kept as a per-user history (read/unread), delivered over
// WebSocket (every device of the user, on whichever replica it is connected), email, SMS, push
// and a webhook, as each user's preferences and quiet hours allow, with retries and dead
// letters per channel; alerts of one kind inside a window gathered into one digest; reminders
// before a task's due date. docs/raptorflow-notification.md.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <svckit/app/module.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>
#include <svckit/http/websocket.hpp>

#include "channels.hpp"
#include "live.hpp"
#include "notification_store.hpp"

namespace prometheus {
class Counter;
template <class T>
class Family;
}  // namespace prometheus

namespace raptorflow::notification {

class NotificationService : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  ~NotificationService() override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  using Task = svckit::Task<Response>;

  // What one user is to be told.
  struct Intent {
    std::string user_id, type, category, priority = "medium";
    nlohmann::json data = nlohmann::json::object();
    std::string event_key;  // unique per event (and per due date for reminders)
    std::int64_t at = 0;    // when the event happened (ms since 1970), 0 when unknown
  };

  Task list(Request& req);
  Task unread_count(Request& req);
  Task get(Request& req);
  Task read(Request& req);
  Task read_all(Request& req);
  Task preferences(Request& req);
  Task set_preferences(Request& req);
  Task send(Request& req);
  Task get_template(Request& req);
  Task put_template(Request& req);
  Task delete_template(Request& req);
  Task dead_letters(Request& req);
  Task retry_dead_letter(Request& req);
  Task unsubscribe_page(Request& req);
  Task unsubscribe(Request& req);
  Task verify_page(Request& req);
  Task verify(Request& req);
  Task resend_verification(Request& req);
  svckit::Task<void> connect(svckit::http::WebSocket ws, Request& upgrade);

  svckit::Task<svckit::bus::Outcome> on_event(const svckit::bus::Event& event);
  svckit::Task<void> on_task_event(const svckit::bus::Event& event, const std::string& key);
  svckit::Task<svckit::bus::Outcome> on_live(const svckit::bus::Event& event);

  // Makes the notification (once per event and user) with its deliveries; true when new.
  svckit::Task<bool> notify(Intent intent);
  svckit::Task<Template> template_for(std::string type, std::string locale);
  std::vector<Delivery> plan(const Recipient& r, const std::string& category,
                             const std::string& priority, std::int64_t due) const;

  // Delivers what is due (the websocket channel's, or the others'), fires reminders, until the
  // App stops it.
  svckit::Task<void> work(bool websocket);
  svckit::Task<std::size_t> deliver_due(bool websocket);
  svckit::Task<void> deliver(ClaimedDelivery d);
  svckit::Task<SendResult> send_over(const ClaimedDelivery& d);
  svckit::Task<void> fire_reminders();
  void wake();

  // Links that need no login: their fields, signed with NOTIFY_LINK_SECRET for one purpose.
  std::string sign_link(std::string_view purpose, const std::vector<std::string>& fields) const;
  std::optional<std::vector<std::string>> read_link(std::string_view purpose,
                                                    std::string_view token,
                                                    std::size_t count) const;
  std::string unsubscribe_url(const std::string& user, const std::string& category) const;
  std::optional<std::pair<std::string, std::string>> unsubscribe_token(std::string_view t) const;
  std::string verify_url(const std::string& user, const std::string& channel,
                         const std::string& address) const;
  // Sends the link that proves the user's `channel` ("email", "phone") address theirs.
  svckit::Task<SendResult> send_verification(const Recipient& r, std::string channel);

  svckit::App* app_ = nullptr;
  std::unique_ptr<NotificationStore> store_;
  std::unique_ptr<SmtpSender> smtp_;
  std::unique_ptr<HttpSender> sms_, push_, webhook_;
  LiveDevices live_;
  std::string replica_;  // this replica's live group: notification-live-<uuid>
  std::vector<std::string> default_channels_, default_recipients_, digest_types_;
  std::int64_t digest_window_ = 0, reminder_before_ = 0, lease_ = 0, poll_ = 0, retry_backoff_ = 0;
  int max_attempts_ = 5;
  bool verify_addresses_ = true;
  std::size_t missed_bytes_ = 512 * 1024;  // what a connecting device is sent of its history
  std::string link_secret_, public_url_;
  struct Waker;
  std::shared_ptr<Waker> waker_;
  prometheus::Family<prometheus::Counter>* sent_ = nullptr;
};

}  // namespace raptorflow::notification
