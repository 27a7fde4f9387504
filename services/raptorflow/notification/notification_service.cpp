#include "notification_service.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>

#include <prometheus/counter.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <kainjow/mustache.hpp>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/hmac.hpp>
#include <svckit/auth/jwt.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/comma_list.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>
#include <svckit/utf8.hpp>

#include "notification_models.hpp"
#include "schedule.hpp"

namespace raptorflow::notification {
namespace {

namespace asio = boost::asio;
using svckit::bus::Event;
using svckit::bus::Outcome;
using svckit::http::Request;
using svckit::http::Response;

constexpr int kBatch = 100;
constexpr const char* kLiveType = "notification.live";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool is_user_id(const nlohmann::json& v) {
  return v.is_string() && !v.get_ref<const std::string&>().empty() &&
         v.get_ref<const std::string&>().size() <= 200;
}

// Whom an event names: "recipients" (a list), else "user_id", else "assignee".
std::vector<std::string> recipients_of(const nlohmann::json& data) {
  std::vector<std::string> out;
  if (!data.is_object()) return out;
  if (auto it = data.find("recipients"); it != data.end() && it->is_array()) {
    for (const auto& r : *it)
      if (is_user_id(r) && !contains(out, r.get<std::string>())) out.push_back(r);
    return out;
  }
  for (const char* key : {"user_id", "assignee"})
    if (auto it = data.find(key); it != data.end() && is_user_id(*it))
      return {it->get<std::string>()};
  return out;
}

std::string text_field(const nlohmann::json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// What preferences know a category by: 1-64 of a-z, 0-9, '_' and '-'.
bool is_category(std::string_view c) {
  return !c.empty() && c.size() <= 64 && std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

// An event's category: its data's "category", else its type's first word, when either is one;
// else "other".
std::string category_of(const Event& event) {
  std::string named = text_field(event.data, "category");
  if (is_category(named)) return named;
  std::string first = event.type.substr(0, event.type.find('.'));
  if (is_category(first)) return first;
  return "other";
}

bool is_priority(std::string_view p) {
  return std::find(kPriorities.begin(), kPriorities.end(), p) != kPriorities.end();
}

nlohmann::json as_object(const nlohmann::json& data) {
  if (data.is_object()) return data;
  return {{"value", data}};
}

// Who made the change a task event announces.
std::string task_actor(const Event& event) {
  const char* key = "updated_by";
  if (event.type == "task.created") key = "created_by";
  if (event.type == "task.completed") key = "completed_by";
  if (event.type == "task.deleted") key = "deleted_by";
  return text_field(event.data, key);
}

// The notice a task event gives its assignee; empty for none.
std::string task_notice(const Event& event) {
  if (event.type == "task.created") return "task.assigned";
  if (event.type == "task.updated")
    return event.data.contains("previous_assignee") ? "task.assigned" : "task.updated";
  if (event.type == "task.completed" || event.type == "task.deleted") return event.type;
  return {};
}

Preferences to_preferences(const Recipient& r) {
  Preferences p;
  p.email = r.email;
  p.phone = r.phone;
  p.push_token = r.push_token;
  p.locale = r.locale;
  p.utc_offset = offset_text(r.utc_offset);
  if (r.quiet_start && r.quiet_end)
    p.quiet_hours = QuietHours{hhmm(*r.quiet_start), hhmm(*r.quiet_end)};
  p.channels = r.channels;
  if (r.email) p.email_verified = r.email_verified;
  if (r.phone) p.phone_verified = r.phone_verified;
  return p;
}

Recipient to_recipient(const std::string& user, const Preferences& p) {
  if (p.email && !is_email_address(*p.email))
    throw svckit::ValidationError("email", "is not a plain email address (name@example.com)");
  Recipient r;
  r.user_id = user;
  r.email = p.email;
  r.phone = p.phone;
  r.push_token = p.push_token;
  r.locale = p.locale.value_or("en");
  if (p.utc_offset) {
    r.utc_offset = offset_minutes(*p.utc_offset);
    if (std::abs(r.utc_offset) > 14 * 60)
      throw svckit::ValidationError("utc_offset", "must lie within -14:00 and +14:00");
  }
  if (p.quiet_hours) {
    r.quiet_start = minutes_of(p.quiet_hours->start);
    r.quiet_end = minutes_of(p.quiet_hours->end);
  }
  if (p.channels) {
    if (p.channels->size() > 100)
      throw svckit::ValidationError("channels", "at most 100 categories");
    for (const auto& [category, channels] : *p.channels) {
      if (category != "*" && !is_category(category))
        throw svckit::ValidationError("channels." + category,
                                      "a category is '*' or 1-64 of a-z, 0-9, '_' and '-'");
      for (const auto& [channel, on] : channels)
        if (!is_channel(channel))
          throw svckit::ValidationError("channels." + category + "." + channel,
                                        "is not a channel (websocket, email, sms, push, webhook)");
    }
    r.channels = *p.channels;
  }
  return r;
}

// What a device is sent: the notification, and the cursor to resume after it.
std::string live_message(const Notification& n) {
  return nlohmann::json{{"type", "notification"}, {"notification", n.to_json()}}.dump();
}

// What a device remembers a notification by, not to get it twice: its id, except that a digest
// still gathering is sent (from the history) as it stands, and again once its window closes.
std::string device_key(const Notification& n, std::int64_t now) {
  if (n.gathering_until && *n.gathering_until > now) return n.id + "@gathering";
  return n.id;
}

std::optional<Cursor> cursor_param(const Request& req, const char* name) {
  auto text = req.query_param(name);
  if (!text) return std::nullopt;
  auto cursor = Cursor::parse(*text);
  if (!cursor) throw svckit::ValidationError(name, "is not a cursor this service gave");
  return cursor;
}

// Text in the unsubscribe pages: the template engine's own escaping.
std::string html_escape(const std::string& text) {
  return kainjow::mustache::html_escape<std::string>(text);
}

Response html_page(int status, const std::string& title, const std::string& body) {
  auto r = Response::text(status, "<!doctype html><html><head><meta charset=\"utf-8\"><title>" +
                                      html_escape(title) + "</title></head><body><h1>" +
                                      html_escape(title) + "</h1>" + body + "</body></html>");
  r.set_header("Content-Type", "text/html; charset=utf-8");
  r.set_header("Cache-Control", "no-store");
  r.set_header("Content-Security-Policy", "default-src 'none'; form-action 'self'");
  return r;
}

void check_type_and_locale(const std::string& type, const std::string& locale) {
  auto type_ok =
      !type.empty() && type.size() <= 100 && std::all_of(type.begin(), type.end(), [](char c) {
        return std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (!type_ok) throw svckit::ValidationError("type", "is 1-100 of a-z, 0-9, '.', '_' and '-'");
  bool locale_ok = (locale.size() == 2 || (locale.size() == 5 && locale[2] == '-')) &&
                   std::islower(static_cast<unsigned char>(locale[0])) &&
                   std::islower(static_cast<unsigned char>(locale[1])) &&
                   (locale.size() == 2 || (std::isupper(static_cast<unsigned char>(locale[3])) &&
                                           std::isupper(static_cast<unsigned char>(locale[4]))));
  if (!locale_ok) throw svckit::ValidationError("locale", "is like 'en' or 'pt-BR'");
}

}  // namespace

// The worker's timer lives on its loop; wake() posts its cancellation there.
struct NotificationService::Waker {
  std::mutex mutex;
  std::optional<asio::any_io_executor> executor;
  std::vector<asio::steady_timer*> timers;  // each worker's
  std::atomic<bool> pending{false};
};

NotificationService::~NotificationService() = default;

void NotificationService::declare(svckit::Settings& s) {
  using svckit::SettingType;
  const char* m = "notification";
  s.declare(m, {.name = "NOTIFY_SUBSCRIPTIONS",
                .default_value = "task.#,agent.#,config.flag.changed,analytics.report.ready",
                .help = "bus events that notify (topic patterns, comma-separated)"});
  s.declare(m, {.name = "NOTIFY_DEFAULT_RECIPIENTS",
                .default_value = "",
                .help = "users told of events that name nobody (comma-separated ids)"});
  s.declare(m, {.name = "NOTIFY_DEFAULT_CHANNELS",
                .default_value = "websocket,email,push,webhook",
                .help = "channels on for a user who has not chosen (sms is opt-in)"});
  s.declare(m, {.name = "NOTIFY_DIGEST_TYPES",
                .default_value = "agent.alert",
                .help = "event types gathered into one digest per user and window"});
  s.declare(m, {.name = "NOTIFY_DIGEST_WINDOW",
                .type = SettingType::duration,
                .default_value = "5m",
                .min = 1000,
                .help = "the window a digest gathers over"});
  s.declare(m, {.name = "NOTIFY_REMINDER_BEFORE",
                .type = SettingType::duration,
                .default_value = "24h",
                .min = 0,
                .help = "how long before a task's due date its reminder goes"});
  s.declare(m, {.name = "NOTIFY_MAX_ATTEMPTS",
                .type = SettingType::integer,
                .default_value = "6",
                .min = 1,
                .max = 100,
                .help = "attempts per channel before a delivery is dead-lettered"});
  s.declare(m, {.name = "NOTIFY_RETRY_BACKOFF",
                .type = SettingType::duration,
                .default_value = "2s",
                .min = 10,
                .help = "the wait after a first failed attempt (doubling, at most 10 minutes)"});
  s.declare(m, {.name = "NOTIFY_SEND_LEASE",
                .type = SettingType::duration,
                .default_value = "60s",
                .min = 1000,
                .help = "how long a replica holds a delivery it is sending"});
  s.declare(m, {.name = "NOTIFY_POLL",
                .type = SettingType::duration,
                .default_value = "250ms",
                .min = 10,
                .help = "how often due deliveries are looked for when nothing wakes the worker"});
  s.declare(m, {.name = "NOTIFY_SMTP_URL",
                .type = SettingType::url,
                .choices = {"smtp://", "smtps://"},
                .help = "the mail server (smtp://host:587 with STARTTLS); unset: no email"});
  s.declare(m, {.name = "NOTIFY_SMTP_USER", .help = "SMTP AUTH user"});
  s.declare(
      m,
      {.name = "NOTIFY_SMTP_PASSWORD", .type = SettingType::secret, .help = "SMTP AUTH password"});
  s.declare(m, {.name = "NOTIFY_SMTP_STARTTLS",
                .type = SettingType::boolean,
                .default_value = "true",
                .help = "require TLS (STARTTLS on smtp://)"});
  s.declare(m, {.name = "NOTIFY_SMTP_CA_FILE",
                .type = SettingType::file,
                .help = "the CA the mail server's certificate chains to (default: the system's)"});
  s.declare(m, {.name = "NOTIFY_EMAIL_FROM",
                .default_value = "notifications@raptorflow.local",
                .help = "the From address"});
  for (auto [name, what] :
       {std::pair{"SMS", "an SMS provider"}, std::pair{"PUSH", "a push provider"}}) {
    s.declare(m, {.name = std::string("NOTIFY_") + name + "_URL",
                  .type = SettingType::url,
                  .choices = {"http://", "https://"},
                  .help = std::string("the send endpoint of ") + what + "; unset: none"});
    s.declare(m, {.name = std::string("NOTIFY_") + name + "_TOKEN",
                  .type = SettingType::secret,
                  .help = std::string("the bearer token of ") + what});
  }
  s.declare(m, {.name = "NOTIFY_WEBHOOK_URL",
                .type = SettingType::url,
                .choices = {"http://", "https://"},
                .help = "where every notification is POSTed, signed; unset: no webhook"});
  s.declare(m, {.name = "NOTIFY_WEBHOOK_SECRET",
                .type = SettingType::secret,
                .help = "the webhook's signing secret (Svckit-Signature)"});
  s.declare(m, {.name = "NOTIFY_VERIFY_ADDRESSES",
                .type = SettingType::boolean,
                .default_value = "true",
                .help = "send to an email address or phone number only once its user followed a "
                        "link sent to it (false: addresses come from a trusted source)"});
  s.declare(m, {.name = "NOTIFY_LINK_SECRET",
                .type = SettingType::secret,
                .help = "signs unsubscribe and verification links; unset: a random one (links die "
                        "with the process)"});
  s.declare(m, {.name = "NOTIFY_PUBLIC_URL",
                .default_value = "http://localhost:8000",
                .help = "the address users reach this service at (in unsubscribe links)"});
}

void NotificationService::install(svckit::App& app) {
  app_ = &app;
  const auto& s = app.settings();
  store_ = std::make_unique<NotificationStore>(app.database("notification"));
  store_->migrate();
  replica_ = "notification-live-" + svckit::uuid_v4();
  waker_ = std::make_shared<Waker>();
  default_channels_ = svckit::comma_list(s.text("NOTIFY_DEFAULT_CHANNELS"));
  for (const auto& c : default_channels_)
    if (!is_channel(c))
      throw svckit::ConfigError("NOTIFY_DEFAULT_CHANNELS", "'" + c + "' is not a channel");
  default_recipients_ = svckit::comma_list(s.text("NOTIFY_DEFAULT_RECIPIENTS"));
  digest_types_ = svckit::comma_list(s.text("NOTIFY_DIGEST_TYPES"));
  digest_window_ = s.duration("NOTIFY_DIGEST_WINDOW").count();
  reminder_before_ = s.duration("NOTIFY_REMINDER_BEFORE").count();
  max_attempts_ = static_cast<int>(s.integer("NOTIFY_MAX_ATTEMPTS"));
  retry_backoff_ = s.duration("NOTIFY_RETRY_BACKOFF").count();
  lease_ = s.duration("NOTIFY_SEND_LEASE").count();
  poll_ = s.duration("NOTIFY_POLL").count();
  verify_addresses_ = s.boolean("NOTIFY_VERIFY_ADDRESSES");
  public_url_ = s.text("NOTIFY_PUBLIC_URL");
  while (public_url_.ends_with('/')) public_url_.pop_back();
  link_secret_ = s.is_set("NOTIFY_LINK_SECRET") ? s.text("NOTIFY_LINK_SECRET") : "";
  if (link_secret_.empty() && app.database("notification").backend() != "sqlite")
    throw svckit::ConfigError("NOTIFY_LINK_SECRET",
                              "replicas sharing a database must sign unsubscribe links alike: set "
                              "it");
  if (link_secret_.empty()) {
    link_secret_ = svckit::uuid_v4() + svckit::uuid_v4();
    app.logger().warning(
        "NOTIFY_LINK_SECRET is unset: unsubscribe links are signed with a random "
        "key and stop working when this process ends");
  }

  SmtpSettings smtp;
  if (s.is_set("NOTIFY_SMTP_URL")) smtp.url = s.text("NOTIFY_SMTP_URL");
  if (s.is_set("NOTIFY_SMTP_USER")) smtp.user = s.text("NOTIFY_SMTP_USER");
  if (s.is_set("NOTIFY_SMTP_PASSWORD")) smtp.password = s.text("NOTIFY_SMTP_PASSWORD");
  smtp.require_tls = s.boolean("NOTIFY_SMTP_STARTTLS");
  if (s.is_set("NOTIFY_SMTP_CA_FILE")) smtp.ca_file = s.text("NOTIFY_SMTP_CA_FILE");
  smtp.from = s.text("NOTIFY_EMAIL_FROM");
  if (!is_email_address(smtp.from))
    throw svckit::ConfigError("NOTIFY_EMAIL_FROM", "'" + smtp.from + "' is not an email address");
  smtp_ = std::make_unique<SmtpSender>(std::move(smtp), app.blocking());
  auto text_or_empty = [&](const std::string& name) {
    return s.is_set(name) ? s.text(name) : std::string();
  };
  auto provider = [&](const char* name, const std::string& url, std::string token,
                      std::string secret) -> std::unique_ptr<HttpSender> {
    if (!s.is_set(url)) return nullptr;
    svckit::http::ClientOptions options;
    options.retry.max_attempts = 1;  // the delivery worker retries, with its own backoff
    // The client takes the origin; each call the path (and query).
    std::string full = s.text(url);
    auto path = full.find('/', full.find("//") + 2);
    std::string target = path == std::string::npos ? "/" : full.substr(path);
    auto& client = app.client(name, full.substr(0, path), options);
    return std::make_unique<HttpSender>(&client, std::move(target), std::move(token),
                                        std::move(secret));
  };
  sms_ = provider("sms", "NOTIFY_SMS_URL", text_or_empty("NOTIFY_SMS_TOKEN"), "");
  push_ = provider("push", "NOTIFY_PUSH_URL", text_or_empty("NOTIFY_PUSH_TOKEN"), "");
  webhook_ = provider("webhook", "NOTIFY_WEBHOOK_URL", "", text_or_empty("NOTIFY_WEBHOOK_SECRET"));
  sent_ = &app.metrics().counter("notification_deliveries_total",
                                 "Deliveries by channel and outcome (sent, retry, dead).");

  using svckit::http::bind;
  auto auth = svckit::required_bearer_options_from_settings(app, "the Notification Service");
  auto api = app.http().group("/api/v1/notifications", {svckit::auth::bearer(std::move(auth))});
  auto admin = svckit::auth::require("notifications:admin");
  auto whole = [](int min, int max) {
    return nlohmann::json{{"type", "integer"}, {"minimum", min}, {"maximum", max}};
  };
  api.get("/", bind(this, &NotificationService::list))
      .summary("Your notifications, newest first")
      .query("unread", "only unread ones", {{"type", "boolean"}})
      .query("before", "only what comes before this cursor (a notification's, or next_before)")
      .query("limit", "at most this many (default 20)", whole(1, 100))
      .responds(200)
      .errors({422});
  api.get("/unread-count", bind(this, &NotificationService::unread_count))
      .summary("How many of your notifications are unread")
      .responds(200);
  api.post("/read-all", bind(this, &NotificationService::read_all))
      .summary("Mark all your notifications read")
      .responds(200);
  api.get("/preferences", bind(this, &NotificationService::preferences))
      .summary("Your addresses, channels per category, quiet hours and locale")
      .returns<Preferences>();
  api.put("/preferences", bind(this, &NotificationService::set_preferences))
      .summary("Replace your preferences")
      .accepts<Preferences>()
      .returns<Preferences>();
  api.post("/preferences/verify", bind(this, &NotificationService::resend_verification))
      .summary("Send the link that proves your email address or phone number again")
      .accepts<VerifyRequest>()
      .responds(202)
      .errors({422, 503});
  api.get("/users/{user}/preferences", admin, bind(this, &NotificationService::preferences))
      .summary("A user's preferences (notifications:admin)")
      .returns<Preferences>();
  api.put("/users/{user}/preferences", admin, bind(this, &NotificationService::set_preferences))
      .summary("Replace a user's preferences (notifications:admin)")
      .accepts<Preferences>()
      .returns<Preferences>();
  api.post("/", svckit::auth::require("notifications:send"), bind(this, &NotificationService::send))
      .summary("Notify users (notifications:send); once per event_id and user")
      .accepts<NewNotification>()
      .returns<NotificationsCreated>(202);
  api.get("/templates/{type}/{locale}", admin, bind(this, &NotificationService::get_template))
      .summary("The template a type and locale render with (notifications:admin)")
      .returns<TemplateReply>();
  api.put("/templates/{type}/{locale}", admin, bind(this, &NotificationService::put_template))
      .summary("Store a template (Mustache; notifications:admin)")
      .accepts<TemplateBody>()
      .returns<TemplateReply>();
  api.del("/templates/{type}/{locale}", admin, bind(this, &NotificationService::delete_template))
      .summary("Remove a stored template: the built-in one applies again")
      .responds(204);
  api.get("/dead-letters", admin, bind(this, &NotificationService::dead_letters))
      .summary("Deliveries that used up their attempts (notifications:admin)")
      .query("channel", "only this channel",
             svckit::http::one_of_schema(
                 std::vector<std::string_view>(std::begin(kChannels), std::end(kChannels))))
      .returns<DeadLetters>();
  api.post("/dead-letters/{id}/{channel}/retry", admin,
           bind(this, &NotificationService::retry_dead_letter))
      .summary("Try a dead delivery again, now")
      .responds(202);
  api.get("/{id}", bind(this, &NotificationService::get))
      .summary("One of your notifications")
      .responds(200);
  api.post("/{id}/read", bind(this, &NotificationService::read))
      .summary("Mark one of your notifications read")
      .responds(200);
  auto options = app.websocket_options();
  missed_bytes_ = options.send_queue_bytes / 2;
  api.websocket(
         "/ws",
         [this](svckit::http::WebSocket ws, Request& upgrade) {
           return connect(std::move(ws), upgrade);
         },
         options)
      .summary(
          "Your notifications as they happen, after what you missed (unread, or after a cursor)")
      .query("after", "a cursor: send what came after it rather than what is unread");

  // The token is the authority: links in emails work without logging in (RFC 8058 one-click).
  auto links = app.http().group("/api/v1/notifications/unsubscribe", {});
  links.get("/", bind(this, &NotificationService::unsubscribe_page))
      .summary("The page an email's unsubscribe link opens")
      .query("token", "the signed token of the link")
      .responds(200);
  links.post("/", bind(this, &NotificationService::unsubscribe))
      .summary("Unsubscribe (one-click, RFC 8058): no more emails of the link's category")
      .query("token", "the signed token of the link")
      .responds(200);

  auto proofs = app.http().group("/api/v1/notifications/verify", {});
  proofs.get("/", bind(this, &NotificationService::verify_page))
      .summary("The page an address's verification link opens")
      .query("token", "the signed token of the link")
      .responds(200);
  proofs.post("/", bind(this, &NotificationService::verify))
      .summary("Confirm that the address the link was sent to is yours")
      .query("token", "the signed token of the link")
      .responds(200);

  auto& bus = app.bus();
  for (const auto& pattern : svckit::comma_list(s.text("NOTIFY_SUBSCRIPTIONS")))
    bus.subscribe("notification", pattern, [this](const Event& e) { return on_event(e); });
  svckit::bus::SubscribeOptions live{.expires_unused = std::chrono::minutes(1)};
  live.retry.max_attempts = 1;  // a device that missed it gets it from the history
  bus.subscribe(
      replica_, kLiveType, [this](const Event& e) { return on_live(e); }, live);
  app.run_in_background("notification deliveries: websocket", [this] { return work(true); });
  app.run_in_background("notification deliveries", [this] { return work(false); });
}

// --- making notifications --------------------------------------------------------------------

svckit::Task<Template> NotificationService::template_for(std::string type, std::string locale) {
  std::array<std::string, 2> locales{locale, "en"};
  for (const auto& l : locales) {
    auto stored = co_await store_->stored_template(type, l);
    if (stored) co_return *stored;
  }
  co_return builtin_template(type, locale);
}

std::vector<Delivery> NotificationService::plan(const Recipient& r, const std::string& category,
                                                const std::string& priority,
                                                std::int64_t due) const {
  auto enabled = [&](const std::string& channel) {
    for (const std::string& c : {category, std::string("*")}) {
      auto it = r.channels.find(c);
      if (it == r.channels.end()) continue;
      if (auto on = it->second.find(channel); on != it->second.end()) return on->second;
    }
    return contains(default_channels_, channel);
  };
  auto reachable = [&](const std::string& channel) {
    if (channel == "email")
      return smtp_->configured() && r.email && (r.email_verified || !verify_addresses_);
    if (channel == "sms") return sms_ && r.phone && (r.phone_verified || !verify_addresses_);
    if (channel == "push") return push_ && r.push_token.has_value();
    if (channel == "webhook") return webhook_ != nullptr;
    return true;  // websocket: whoever is connected, the history for whoever is not
  };
  std::vector<Delivery> out;
  for (const std::string channel : kChannels) {
    // The webhook is the operator's, not the user's: it hears every notification.
    bool wanted = channel == "webhook" || enabled(channel);
    if (!wanted || !reachable(channel)) continue;
    // Quiet hours hold what would buzz a phone or fill an inbox; urgent ones go through.
    bool personal = channel == "email" || channel == "sms" || channel == "push";
    bool hold = personal && priority != "urgent";
    out.push_back({channel, hold ? after_quiet_hours(r, due) : due});
  }
  return out;
}

svckit::Task<bool> NotificationService::notify(Intent intent) {
  auto r = co_await store_->recipient(intent.user_id);
  std::int64_t now = now_ms();
  Notification n;
  n.id = svckit::uuid_v4();
  n.user_id = intent.user_id;
  n.type = intent.type;
  n.category = intent.category;
  n.priority = intent.priority;
  n.created_at = now;
  nlohmann::json values = intent.data;
  if (!values.contains("type")) values["type"] = intent.type;
  auto own = co_await template_for(intent.type, r.locale);
  if (!contains(digest_types_, intent.type)) {
    n.text = render(own, values);
    n.data = std::move(intent.data);
    auto deliveries = plan(r, n.category, n.priority, now);
    bool created = co_await store_->create(n, intent.event_key, deliveries);
    if (created) wake();
    co_return created;
  }
  // A digest: one notification per user, type and window (windows are aligned to the epoch, so
  // every replica agrees which one an alert falls in: by the alert's own time when it is recent,
  // so that a redelivery after the window closed still finds it), delivered when it closes.
  std::int64_t moment = now;
  if (intent.at > now - 2 * digest_window_ && intent.at <= now + 60'000) moment = intent.at;
  std::int64_t start = moment - moment % digest_window_, end = start + digest_window_;
  n.gathering_until = end;
  n.data = {{"type", intent.type},
            {"count", 0},
            {"items", nlohmann::json::array()},
            {"since", svckit::utc_iso8601(start / 1000)}};
  nlohmann::json item = {{"event_id", intent.event_key},
                         {"summary", render(own, values).title},
                         {"data", std::move(intent.data)}};
  auto digest = co_await template_for("digest", r.locale);
  n.text = render(digest, n.data);
  auto deliveries = plan(r, n.category, n.priority, end);
  std::string key = "digest:" + intent.type + ":" + std::to_string(start);
  co_return co_await store_->gather(n, key, deliveries, std::move(item), digest);
}

svckit::Task<Outcome> NotificationService::on_event(const Event& event) {
  // Its own live fan-out is not a notification (a "#" subscription would see it).
  if (event.type.starts_with("notification.")) co_return Outcome::success;
  std::string key = event.source + "/" + event.id;
  if (event.type.starts_with("task.")) {
    co_await on_task_event(event, key);
    co_return Outcome::success;
  }
  auto users = recipients_of(event.data);
  if (users.empty()) users = default_recipients_;
  if (users.size() > 1000) {
    app_->logger().warning("an event names more than 1000 recipients; not notified",
                           {{"type", event.type}, {"id", event.id}});
    co_return Outcome::drop;
  }
  Intent intent;
  intent.type = event.type;
  intent.category = category_of(event);
  if (auto at = parse_time(event.time)) intent.at = *at;
  auto priority = text_field(event.data, "priority");
  if (is_priority(priority)) intent.priority = priority;
  intent.data = as_object(event.data);
  intent.event_key = key;
  for (const auto& user : users) {
    intent.user_id = user;
    co_await notify(intent);
  }
  co_return Outcome::success;
}

// The Task Manager's events (seed 000 §4.2.3): a notice to the assignee when a task assigned to
// them is created, changed, completed or deleted by someone else, and a reminder before it is due.
svckit::Task<void> NotificationService::on_task_event(const Event& event, const std::string& key) {
  const auto& d = event.data;
  std::string task = text_field(d, "task_id");
  if (task.empty()) co_return;
  std::string assignee = text_field(d, "assignee");
  std::string type = task_notice(event);
  if (!type.empty() && !assignee.empty() && assignee != task_actor(event)) {
    Intent intent;
    intent.user_id = assignee;
    intent.type = type;
    intent.category = "task";
    auto priority = text_field(d, "priority");
    if (is_priority(priority)) intent.priority = priority;
    intent.data = d;
    intent.event_key = key;
    co_await notify(std::move(intent));
  }
  // The reminder: for the assignee, else the creator; none once done or past due.
  std::string owner = !assignee.empty() ? assignee : text_field(d, "created_by");
  std::string due_date = text_field(d, "due_date");
  auto due = parse_time(due_date);
  bool done = event.type == "task.completed" || event.type == "task.deleted" ||
              text_field(d, "status") == "completed";
  std::int64_t now = now_ms();
  if (done || !due || owner.empty() || *due <= now) {
    co_await store_->unschedule(task);
    co_return;
  }
  Reminder r{task, owner, text_field(d, "title"), due_date, std::max(now, *due - reminder_before_)};
  co_await store_->schedule(std::move(r));
  wake();
}

svckit::Task<Outcome> NotificationService::on_live(const Event& event) {
  const auto& d = event.data;
  std::string user = text_field(d, "user_id"), id = text_field(d, "id");
  auto message = d.find("message");
  if (user.empty() || id.empty() || message == d.end() || !message->is_string())
    co_return Outcome::drop;
  live_.deliver(user, id, std::make_shared<const std::string>(message->get<std::string>()));
  co_return Outcome::success;
}

// --- delivering ------------------------------------------------------------------------------

void NotificationService::wake() {
  auto& w = *waker_;
  if (w.pending.exchange(true)) return;
  std::lock_guard lock(w.mutex);
  if (!w.executor) {
    w.pending = false;  // no worker yet: it looks when it starts
    return;
  }
  asio::post(*w.executor, [waker = waker_] {
    waker->pending = false;
    std::lock_guard lock(waker->mutex);
    for (auto* timer : waker->timers) timer->cancel();
  });
}

// Two workers: one for the WebSocket channel (and reminders), one for the others, so that a
// mail server taking its time holds up no device.
svckit::Task<void> NotificationService::work(bool websocket) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(waker_->mutex);
    waker_->executor = timer.get_executor();
    waker_->timers.push_back(&timer);
  }
  struct Forget {
    Waker& w;
    asio::steady_timer* timer;
    ~Forget() {
      std::lock_guard lock(w.mutex);
      std::erase(w.timers, timer);
      if (w.timers.empty()) w.executor.reset();
    }
  } forget{*waker_, &timer};
  for (;;) {
    std::size_t delivered = 0;
    try {
      delivered = co_await deliver_due(websocket);
      if (websocket) co_await fire_reminders();
    } catch (const std::exception& e) {
      app_->logger().warning("a delivery round failed; trying again", {{"error", e.what()}});
    }
    if (delivered == kBatch) continue;  // more may be due
    timer.expires_after(std::chrono::milliseconds(poll_));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // Cancelled by wake(): look now. Cancelled by the App at shutdown: stop.
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

// Claims and sends one delivery at a time (so a claim's lease covers one send, not a batch's),
// up to kBatch in a round.
svckit::Task<std::size_t> NotificationService::deliver_due(bool websocket) {
  std::size_t done = 0;
  while (done < kBatch) {
    auto d = co_await store_->claim(now_ms(), lease_, websocket);
    if (!d) break;
    co_await deliver(std::move(*d));
    ++done;
  }
  co_return done;
}

svckit::Task<void> NotificationService::deliver(ClaimedDelivery d) {
  SendResult result;
  try {
    result = co_await send_over(d);
  } catch (const std::exception& e) {
    result = SendResult::again(e.what());
  }
  const auto& id = d.notification.id;
  if (result.kind == SendResult::Kind::sent) {
    co_await store_->sent(d, now_ms());
    sent_->Add({{"channel", d.channel}, {"outcome", "sent"}}).Increment();
    co_return;
  }
  bool dead = result.kind == SendResult::Kind::refused || d.attempts >= max_attempts_;
  std::optional<std::int64_t> retry_at;
  if (!dead) {
    std::int64_t backoff = retry_backoff_ << std::min(d.attempts - 1, 20);
    retry_at = now_ms() + std::min<std::int64_t>(backoff, 600'000);
  }
  co_await store_->failed(d, result.error, retry_at);
  sent_->Add({{"channel", d.channel}, {"outcome", dead ? "dead" : "retry"}}).Increment();
  if (dead)
    app_->logger().warning("a delivery is dead-lettered", {{"notification_id", id},
                                                           {"channel", d.channel},
                                                           {"attempts", d.attempts},
                                                           {"error", result.error}});
}

svckit::Task<SendResult> NotificationService::send_over(const ClaimedDelivery& d) {
  const auto& n = d.notification;
  const auto& r = d.recipient;
  std::string key = n.id + ":" + d.channel;
  if (d.channel == "websocket") {
    // To every replica's devices of the user, through the bus.
    nlohmann::json live = {{"user_id", n.user_id}, {"id", n.id}, {"message", live_message(n)}};
    co_await app_->bus().publish(kLiveType, std::move(live));
    co_return SendResult::ok();
  }
  if (d.channel == "email") {
    if (!smtp_->configured() || !r.email) co_return SendResult::never("no email address or server");
    // Checked again now: the address may have changed since the delivery was planned.
    if (verify_addresses_ && !r.email_verified)
      co_return SendResult::never("the address is unproved");
    Email email{*r.email,
                n.text.title,
                n.text.body,
                n.text.html,
                n.id + "@notification.svckit",
                unsubscribe_url(n.user_id, n.category)};
    co_return co_await smtp_->send(std::move(email));
  }
  if (d.channel == "sms") {
    if (!sms_ || !r.phone) co_return SendResult::never("no phone number or SMS provider");
    if (verify_addresses_ && !r.phone_verified)
      co_return SendResult::never("the number is unproved");
    std::string text(svckit::utf8_prefix(n.text.body, 1600));  // characters, not bytes
    nlohmann::json body = {{"to", *r.phone}, {"text", std::move(text)}};
    co_return co_await sms_->send(std::move(body), key);
  }
  if (d.channel == "push") {
    if (!push_ || !r.push_token) co_return SendResult::never("no device token or push provider");
    nlohmann::json body = {{"token", *r.push_token},
                           {"title", n.text.title},
                           {"body", n.text.body},
                           {"data", {{"notification_id", n.id}, {"type", n.type}}}};
    co_return co_await push_->send(std::move(body), key);
  }
  if (d.channel == "webhook" && webhook_) {
    nlohmann::json body = n.to_json();
    body["user_id"] = n.user_id;
    co_return co_await webhook_->send(std::move(body), key);
  }
  co_return SendResult::never("no such channel here: " + d.channel);
}

svckit::Task<void> NotificationService::fire_reminders() {
  auto due = co_await store_->due_reminders(now_ms(), kBatch);
  for (const auto& reminder : due) {
    auto r = co_await store_->recipient(reminder.user_id);
    nlohmann::json values = {
        {"task_id", reminder.task_id}, {"title", reminder.title}, {"due_date", reminder.due_date}};
    auto tmpl = co_await template_for("task.reminder", r.locale);
    Notification n;
    n.id = svckit::uuid_v4();
    n.user_id = reminder.user_id;
    n.type = "task.reminder";
    n.category = "task";
    n.created_at = now_ms();
    n.text = render(tmpl, values);
    n.data = std::move(values);
    auto deliveries = plan(r, n.category, n.priority, n.created_at);
    co_await store_->fire(reminder, n, deliveries);
  }
  if (!due.empty()) wake();
}

// --- signed links ----------------------------------------------------------------------------

std::string NotificationService::sign_link(std::string_view purpose,
                                           const std::vector<std::string>& fields) const {
  std::string payload;
  for (const auto& f : fields) payload += (payload.empty() ? "" : "\n") + f;
  return svckit::auth::base64url_encode(payload) + "." +
         svckit::auth::base64url_encode(
             svckit::auth::hmac_sha256(link_secret_, std::string(purpose) + "\n" + payload));
}

std::optional<std::vector<std::string>> NotificationService::read_link(std::string_view purpose,
                                                                       std::string_view token,
                                                                       std::size_t count) const {
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.size() > 2048) return std::nullopt;
  auto payload = svckit::auth::base64url_decode(token.substr(0, dot));
  auto mac = svckit::auth::base64url_decode(token.substr(dot + 1));
  if (!payload || !mac) return std::nullopt;
  if (!svckit::auth::equal_in_constant_time(
          *mac, svckit::auth::hmac_sha256(link_secret_, std::string(purpose) + "\n" + *payload)))
    return std::nullopt;
  std::vector<std::string> fields;
  for (std::size_t start = 0;;) {
    auto newline = payload->find('\n', start);
    fields.push_back(payload->substr(start, newline - start));
    if (newline == std::string::npos) break;
    start = newline + 1;
  }
  if (fields.size() != count) return std::nullopt;
  return fields;
}

std::string NotificationService::unsubscribe_url(const std::string& user,
                                                 const std::string& category) const {
  return public_url_ +
         "/api/v1/notifications/unsubscribe?token=" + sign_link("unsubscribe", {user, category});
}

std::optional<std::pair<std::string, std::string>> NotificationService::unsubscribe_token(
    std::string_view token) const {
  auto fields = read_link("unsubscribe", token, 2);
  if (!fields) return std::nullopt;
  return std::pair{(*fields)[0], (*fields)[1]};
}

// A link that proves `address` the user's: valid for a day, for that address only.
std::string NotificationService::verify_url(const std::string& user, const std::string& channel,
                                            const std::string& address) const {
  auto expires = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(24))
                     .count();
  return public_url_ + "/api/v1/notifications/verify?token=" +
         sign_link("verify", {user, channel, address, std::to_string(expires)});
}

svckit::Task<SendResult> NotificationService::send_verification(const Recipient& r,
                                                                std::string channel) {
  // At most five a day per user and channel, and one a minute to the same address: a link
  // costs an SMS, and an address given is not yet known to be the user's.
  std::string address = r.phone.value_or("");  // not a ?: of strings (GCC 12)
  if (channel == "email") address = r.email.value_or("");
  if (!co_await store_->take_link(r.user_id, channel, address, now_ms()))
    co_return SendResult::again("too many verification links lately: try again later");
  if (channel == "email") {
    if (!smtp_->configured() || !r.email) co_return SendResult::never("no email server");
    auto link = verify_url(r.user_id, "email", *r.email);
    Email email{*r.email,
                "Confirm your email address",
                "Follow this link to receive notifications at this address:\n" + link +
                    "\n\nIf you did not ask for this, ignore this email.\n",
                "",
                svckit::uuid_v4() + "@notification.svckit",
                ""};
    co_return co_await smtp_->send(std::move(email));
  }
  if (!sms_ || !r.phone) co_return SendResult::never("no SMS provider");
  nlohmann::json body = {{"to", *r.phone},
                         {"text", "Confirm this number for notifications: " +
                                      verify_url(r.user_id, "phone", *r.phone)}};
  co_return co_await sms_->send(std::move(body), "verify:" + svckit::uuid_v4());
}

// --- the API ---------------------------------------------------------------------------------

namespace {

svckit::NotFound notification_not_found(const std::string& id) {
  return svckit::NotFound("notification '" + id + "' not found");
}

// The user a preferences route is about: the {user} of the admin routes, else the caller.
std::string subject_of(const Request& req) {
  return req.route().find("{user}") != std::string_view::npos ? req.param("user") : req.user_id();
}

}  // namespace

svckit::Task<Response> NotificationService::list(Request& req) {
  auto unread = req.query_param("unread");
  if (unread && *unread != "true" && *unread != "false")
    throw svckit::ValidationError("unread", "is true or false");
  auto before = cursor_param(req, "before");
  auto limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
  std::string user = req.user_id();
  auto page = co_await store_->history(user, unread == "true", before, static_cast<int>(limit));
  auto count = co_await store_->unread(user);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& n : page) items.push_back(n.to_json());
  nlohmann::json next = nullptr;
  if (static_cast<std::int64_t>(page.size()) == limit) next = page.back().cursor().text();
  nlohmann::json answer = {
      {"notifications", std::move(items)}, {"unread", count}, {"next_before", next}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> NotificationService::unread_count(Request& req) {
  auto count = co_await store_->unread(req.user_id());
  nlohmann::json answer = {{"unread", count}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> NotificationService::get(Request& req) {
  auto id = req.param("id");
  auto n = co_await store_->find(req.user_id(), id);
  if (!n) throw notification_not_found(id);
  co_return Response::json(200, n->to_json());
}

svckit::Task<Response> NotificationService::read(Request& req) {
  auto id = req.param("id");
  if (!co_await store_->mark_read(req.user_id(), id, now_ms())) throw notification_not_found(id);
  auto n = co_await store_->find(req.user_id(), id);
  if (!n) throw notification_not_found(id);
  co_return Response::json(200, n->to_json());
}

svckit::Task<Response> NotificationService::read_all(Request& req) {
  auto marked = co_await store_->mark_all_read(req.user_id(), now_ms());
  nlohmann::json answer = {{"marked", marked}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> NotificationService::preferences(Request& req) {
  auto r = co_await store_->recipient(subject_of(req));
  auto answer = to_preferences(r);
  co_return svckit::http::json_response(200, answer);
}

svckit::Task<Response> NotificationService::set_preferences(Request& req) {
  auto input = req.json<Preferences>();
  std::string user = subject_of(req);
  auto r = to_recipient(user, input);
  auto old = co_await store_->recipient(user);
  // An address stays proved while it stays the same; an admin's word proves it.
  bool trusted = req.route().find("{user}") != std::string_view::npos;  // the admin's routes
  r.email_verified = r.email && (trusted || (old.email == r.email && old.email_verified));
  r.phone_verified = r.phone && (trusted || (old.phone == r.phone && old.phone_verified));
  co_await store_->save_recipient(r);
  std::array<std::pair<const char*, bool>, 2> proofs = {
      std::pair{"email", verify_addresses_ && r.email && !r.email_verified && r.email != old.email},
      std::pair{"phone",
                verify_addresses_ && r.phone && !r.phone_verified && r.phone != old.phone}};
  for (const auto& proof : proofs) {
    if (!proof.second) continue;
    auto sent = co_await send_verification(r, proof.first);
    if (sent.kind != SendResult::Kind::sent)
      app_->logger().warning("a verification link could not be sent",
                             {{"user_id", user}, {"channel", proof.first}, {"error", sent.error}});
  }
  auto answer = to_preferences(r);
  co_return svckit::http::json_response(200, answer);
}

svckit::Task<Response> NotificationService::send(Request& req) {
  auto input = req.json<NewNotification>();
  for (const auto& user : input.recipients)
    if (user.empty() || user.size() > 200)
      throw svckit::ValidationError("recipients", "each is a user id of 1-200 characters");
  if (input.data && !input.data->is_object())
    throw svckit::ValidationError("data", "is an object (the template's values)");
  Intent intent;
  intent.type = input.type;
  intent.category = input.category.value_or(input.type.substr(0, input.type.find('.')));
  intent.priority = input.priority.value_or("medium");
  if (input.data) intent.data = std::move(*input.data);
  // Keyed by the caller, so that two services' event ids never meet.
  intent.event_key = "api:" + req.user_id() + ":" + input.event_id.value_or(svckit::uuid_v4());
  NotificationsCreated answer;
  for (const auto& user : input.recipients) {
    intent.user_id = user;
    if (co_await notify(intent)) ++answer.created;
  }
  co_return svckit::http::json_response(202, answer);
}

svckit::Task<Response> NotificationService::get_template(Request& req) {
  auto type = req.param("type"), locale = req.param("locale");
  check_type_and_locale(type, locale);
  TemplateReply answer{type, locale, "stored", {}};
  auto stored = co_await store_->stored_template(type, locale);
  Template t = stored ? *stored : builtin_template(type, locale);
  if (!stored) answer.source = "builtin";
  answer.template_ = {t.title, t.body, t.html};
  co_return svckit::http::json_response(200, answer);
}

svckit::Task<Response> NotificationService::put_template(Request& req) {
  auto type = req.param("type"), locale = req.param("locale");
  check_type_and_locale(type, locale);
  auto input = req.json<TemplateBody>();
  Template t{input.title, input.body, input.html.value_or("")};
  if (auto error = template_error(t)) throw svckit::ValidationError("template", *error);
  co_await store_->save_template(type, locale, t, now_ms());
  TemplateReply answer{type, locale, "stored", {t.title, t.body, t.html}};
  co_return svckit::http::json_response(200, answer);
}

svckit::Task<Response> NotificationService::delete_template(Request& req) {
  auto type = req.param("type"), locale = req.param("locale");
  check_type_and_locale(type, locale);
  if (!co_await store_->remove_template(type, locale))
    throw svckit::NotFound("no stored template for '" + type + "' in '" + locale + "'");
  co_return Response::empty(204);
}

svckit::Task<Response> NotificationService::dead_letters(Request& req) {
  auto channel = req.query_param("channel");
  if (channel && !is_channel(*channel))
    throw svckit::ValidationError("channel", "is websocket, email, sms, push or webhook");
  auto dead = co_await store_->dead(channel, 100);
  DeadLetters answer;
  for (auto& d : dead)
    answer.dead_letters.push_back(
        {d.notification_id, d.user_id, d.type, d.channel, d.last_error, d.attempts});
  co_return svckit::http::json_response(200, answer);
}

svckit::Task<Response> NotificationService::retry_dead_letter(Request& req) {
  auto id = req.param("id"), channel = req.param("channel");
  if (!co_await store_->revive(id, channel, now_ms()))
    throw svckit::NotFound("no dead " + channel + " delivery of notification '" + id + "'");
  wake();
  nlohmann::json answer = {{"retrying", true}};
  co_return Response::json(202, answer);
}

svckit::Task<Response> NotificationService::unsubscribe_page(Request& req) {
  auto token = req.query_param("token").value_or("");
  auto subject = unsubscribe_token(token);
  if (!subject) co_return html_page(400, "This link is not valid", "<p>Ask for a new email.</p>");
  // A GET changes nothing (mail scanners follow links); the button POSTs.
  co_return html_page(
      200, "Unsubscribe",
      "<p>Stop emails about <strong>" + html_escape(subject->second) +
          "</strong>?</p><form method=\"post\" action=\"?token=" + html_escape(token) +
          "\"><button type=\"submit\">Unsubscribe</button></form>");
}

svckit::Task<Response> NotificationService::unsubscribe(Request& req) {
  auto token = req.query_param("token").value_or("");
  auto subject = unsubscribe_token(token);
  if (!subject) co_return html_page(400, "This link is not valid", "<p>Ask for a new email.</p>");
  co_await store_->set_channel(subject->first, subject->second, "email", false);
  app_->logger().info("unsubscribed from emails",
                      {{"user_id", subject->first}, {"category", subject->second}});
  co_return html_page(200, "Unsubscribed",
                      "<p>You will get no more emails about <strong>" +
                          html_escape(subject->second) + "</strong>.</p>");
}

svckit::Task<Response> NotificationService::verify_page(Request& req) {
  auto token = req.query_param("token").value_or("");
  if (!read_link("verify", token, 4))
    co_return html_page(400, "This link is not valid", "<p>Ask for a new one.</p>");
  // A GET changes nothing (mail scanners follow links); the button POSTs.
  co_return html_page(200, "Confirm your address",
                      "<form method=\"post\" action=\"?token=" + html_escape(token) +
                          "\"><button type=\"submit\">Confirm</button></form>");
}

svckit::Task<Response> NotificationService::verify(Request& req) {
  auto token = req.query_param("token").value_or("");
  auto fields = read_link("verify", token, 4);
  if (!fields) co_return html_page(400, "This link is not valid", "<p>Ask for a new one.</p>");
  std::int64_t expires = 0;
  std::from_chars((*fields)[3].data(), (*fields)[3].data() + (*fields)[3].size(), expires);
  if (expires * 1000 < now_ms())
    co_return html_page(410, "This link has expired", "<p>Ask for a new one.</p>");
  if (!co_await store_->verify((*fields)[0], (*fields)[1], (*fields)[2]))
    co_return html_page(409, "This address is no longer yours here",
                        "<p>It was changed after this link was sent.</p>");
  app_->logger().info("address verified", {{"user_id", (*fields)[0]}, {"channel", (*fields)[1]}});
  co_return html_page(200, "Confirmed", "<p>Notifications will reach this address now.</p>");
}

svckit::Task<Response> NotificationService::resend_verification(Request& req) {
  auto input = req.json<VerifyRequest>();
  auto r = co_await store_->recipient(req.user_id());
  bool has = input.channel == "email" ? r.email.has_value() : r.phone.has_value();
  if (!has) throw svckit::ValidationError("channel", "you have no such address set");
  bool verified = input.channel == "email" ? r.email_verified : r.phone_verified;
  nlohmann::json answer = {{"channel", input.channel}, {"verified", verified}};
  if (verified || !verify_addresses_) co_return Response::json(200, answer);
  auto sent = co_await send_verification(r, input.channel);
  if (sent.kind != SendResult::Kind::sent && sent.error.starts_with("too many"))
    throw svckit::TooManyRequests(sent.error, 60);
  if (sent.kind != SendResult::Kind::sent)
    throw svckit::ServiceUnavailable("the link could not be sent: " + sent.error, 30);
  co_return Response::json(202, answer);
}

svckit::Task<void> NotificationService::connect(svckit::http::WebSocket ws, Request& upgrade) {
  std::string user = ws.context().user_id();
  std::optional<Cursor> after;
  bool bad_cursor = false;
  if (auto a = upgrade.query_param("after")) {
    after = Cursor::parse(*a);
    bad_cursor = !after;
  }
  if (user.empty() || bad_cursor) {
    std::string why = "bad cursor";
    if (user.empty()) why = "no user";
    ws.close(svckit::http::close_code::policy_violation, why);
    while (co_await ws.receive()) {
    }
    co_return;
  }
  // Joined before the history is read: what happens meanwhile waits, nothing falls between.
  auto device = live_.join(user, ws);
  bool failed = false;
  try {
    // What fits in half the send queue goes now; past it, or past 500, the device is told there
    // is more (and pages through GET /api/v1/notifications, or reconnects after the last cursor).
    auto missed = co_await store_->missed(user, after, 500);
    std::int64_t now = now_ms();
    std::size_t room = missed_bytes_;
    bool more = missed.size() == 500;
    for (const auto& n : missed) {
      auto text = live_message(n);
      if (text.size() > room) {
        more = true;
        break;
      }
      room -= text.size();
      device->send_missed(device_key(n, now), std::move(text));
    }
    nlohmann::json caught_up = {{"type", "caught_up"}, {"more", more}};
    device->send_now(caught_up.dump());
  } catch (const std::exception& e) {
    failed = true;
    app_->logger().warning("could not read the history for a device", {{"error", e.what()}});
  }
  device->live();
  if (failed) ws.close(svckit::http::close_code::internal_error, "history unavailable");
  // The device may mark notifications read: {"read": "<id>"}.
  while (auto message = co_await ws.receive()) {
    auto j = nlohmann::json::parse(message->data, nullptr, false);
    if (!j.is_object() || !j.contains("read") || !j["read"].is_string()) continue;
    std::string id = j["read"].get<std::string>();
    co_await store_->mark_read(user, id, now_ms());
  }
}

}  // namespace raptorflow::notification
