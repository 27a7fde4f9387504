#pragma once
// What a notification says, per type and locale: Mustache templates (kainjow's engine, Debian's
// libkainjow-mustache-dev). `title` and `body` are plain text (the email subject and text part,
// the push title, the SMS, the WebSocket message) and are not escaped; `html`, the email's HTML
// part, escapes every {{value}} (only {{{value}}} would not, and the built-in templates never
// use it). Partials and delimiter changes are refused by template_error() (kainjow would take a
// partial's text from the values: an event's text rendered as a template); no value is a lambda.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace raptorflow::notification {

struct Template {
  std::string title;
  std::string body;
  std::string html;  // empty: the email has a text part only
};

struct Rendered {
  std::string title;
  std::string body;
  std::string html;
};

// Why `t` cannot be used (a syntax error, naming the part), or nullopt.
std::optional<std::string> template_error(const Template& t);
// `t` with `data` (a JSON object: the event's data and the notification's own fields).
Rendered render(const Template& t, const nlohmann::json& data);

// The built-in template for `type` in `locale`, falling back to the type in English, then to the
// "default" template in the locale, then in English.
const Template& builtin_template(const std::string& type, const std::string& locale);
// The (type, locale) pairs that have a built-in template.
std::vector<std::pair<std::string, std::string>> builtin_templates();

}  // namespace raptorflow::notification
