#pragma once
// What clients of the Notification Service send and get, described once (Boost.Describe): their
// JSON, their checks and their OpenAPI schemas.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/describe/class.hpp>
#include <nlohmann/json.hpp>
#include <svckit/model/rules.hpp>

namespace raptorflow::notification {

inline constexpr std::array<std::string_view, 4> kPriorities = {"low", "medium", "high", "urgent"};

struct QuietHours {
  std::string start;  // "22:00", the user's time
  std::string end;    // "07:00"; before start: across midnight
  static void rules(svckit::model::Rules<QuietHours>& r) {
    r.field(&QuietHours::start).pattern("([01][0-9]|2[0-3]):[0-5][0-9]");
    r.field(&QuietHours::end).pattern("([01][0-9]|2[0-3]):[0-5][0-9]");
  }
};
BOOST_DESCRIBE_STRUCT(QuietHours, (), (start, end))

// GET and PUT /api/v1/notifications/preferences. A PUT replaces them all.
struct Preferences {
  std::optional<std::string> email;
  std::optional<std::string> phone;       // E.164: "+4915112345678"
  std::optional<std::string> push_token;  // the device token the push provider knows
  std::optional<std::string> locale;      // "en", "de", "pt-BR"; default "en"
  std::optional<std::string> utc_offset;  // "+02:00"; default "+00:00"
  std::optional<QuietHours> quiet_hours;
  // category ("task", "agent", "config"; "*" for all) → channel → on/off. Unset: the service's
  // NOTIFY_DEFAULT_CHANNELS.
  std::optional<std::map<std::string, std::map<std::string, bool>>> channels;
  // Answers only (ignored in a PUT): whether the address was proved the user's (a link sent to
  // it was followed) or set by an admin. Until then nothing is sent to it.
  std::optional<bool> email_verified;
  std::optional<bool> phone_verified;
  static void rules(svckit::model::Rules<Preferences>& r) {
    r.field(&Preferences::email).length(3, 254).describe("where emails go");
    r.field(&Preferences::phone).pattern("\\+[1-9][0-9]{5,14}");
    r.field(&Preferences::push_token).length(1, 4096);
    r.field(&Preferences::locale).pattern("[a-z]{2}(-[A-Z]{2})?");
    r.field(&Preferences::utc_offset).pattern("[+-](0[0-9]|1[0-4]):[0-5][0-9]");
  }
};
BOOST_DESCRIBE_STRUCT(Preferences, (),
                      (email, phone, push_token, locale, utc_offset, quiet_hours, channels,
                       email_verified, phone_verified))

// POST /api/v1/notifications/preferences/verify: send the link to prove an address again.
struct VerifyRequest {
  std::string channel;  // email or phone
  static void rules(svckit::model::Rules<VerifyRequest>& r) {
    r.field(&VerifyRequest::channel).one_of({"email", "phone"});
  }
};
BOOST_DESCRIBE_STRUCT(VerifyRequest, (), (channel))

// POST /api/v1/notifications: a service notifies users directly.
struct NewNotification {
  std::vector<std::string> recipients;
  std::string type;                     // "billing.invoice_due": picks the template
  std::optional<std::string> category;  // default: the type's first word
  std::optional<std::string> priority;  // default "medium"; "urgent" ignores quiet hours
  std::optional<nlohmann::json> data;   // the template's values (an object)
  // The caller's id of what happened: a second request with it notifies nobody again.
  std::optional<std::string> event_id;
  static void rules(svckit::model::Rules<NewNotification>& r) {
    r.field(&NewNotification::recipients).items(1, 1000);
    r.field(&NewNotification::type).length(1, 100).pattern("[a-z0-9_-]+(\\.[a-z0-9_-]+)*");
    r.field(&NewNotification::category).length(1, 64).pattern("[a-z0-9_-]+");
    r.field(&NewNotification::priority).one_of(kPriorities);
    r.field(&NewNotification::event_id).length(1, 200);
  }
};
BOOST_DESCRIBE_STRUCT(NewNotification, (), (recipients, type, category, priority, data, event_id))

struct NotificationsCreated {
  std::int64_t created = 0;  // users newly notified (not those notified of this event before)
};
BOOST_DESCRIBE_STRUCT(NotificationsCreated, (), (created))

// PUT /api/v1/notifications/templates/{type}/{locale}
struct TemplateBody {
  std::string title;
  std::string body;
  std::optional<std::string> html;
  static void rules(svckit::model::Rules<TemplateBody>& r) {
    r.field(&TemplateBody::title).length(1, 1000);
    r.field(&TemplateBody::body).length(0, 65536);
    r.field(&TemplateBody::html).length(0, 262144);
  }
};
BOOST_DESCRIBE_STRUCT(TemplateBody, (), (title, body, html))

struct TemplateReply {
  std::string type, locale;
  std::string source;  // "stored" (edited here) or "builtin"
  TemplateBody template_;
  static void rules(svckit::model::Rules<TemplateReply>& r) {
    r.field(&TemplateReply::template_).json_name("template");
  }
};
BOOST_DESCRIBE_STRUCT(TemplateReply, (), (type, locale, source, template_))

struct DeadLetterView {
  std::string notification_id, user_id, type, channel, last_error;
  std::int64_t attempts = 0;
};
BOOST_DESCRIBE_STRUCT(DeadLetterView, (),
                      (notification_id, user_id, type, channel, last_error, attempts))

struct DeadLetters {
  std::vector<DeadLetterView> dead_letters;
};
BOOST_DESCRIBE_STRUCT(DeadLetters, (), (dead_letters))

}  // namespace raptorflow::notification
