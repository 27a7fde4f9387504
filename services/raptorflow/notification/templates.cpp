#include "templates.hpp"

#include <map>

#include <kainjow/mustache.hpp>

namespace raptorflow::notification {
namespace {

namespace mustache = kainjow::mustache;

mustache::data to_data(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data out(mustache::data::type::object);
      for (const auto& [key, item] : value.items()) out.set(key, to_data(item));
      return out;
    }
    case nlohmann::json::value_t::array: {
      mustache::data out(mustache::data::type::list);
      for (const auto& item : value) out.push_back(to_data(item));
      return out;
    }
    case nlohmann::json::value_t::string:
      return mustache::data(value.get<std::string>());
    case nlohmann::json::value_t::boolean:
      return mustache::data(value.get<bool>());
    case nlohmann::json::value_t::null:
      return mustache::data(false);
    default:
      return mustache::data(value.dump());  // numbers as JSON writes them
  }
}

std::string render_part(const std::string& text, const mustache::data& data, bool escape_html) {
  if (text.empty()) return {};
  mustache::mustache tmpl(text);
  if (!escape_html) tmpl.set_custom_escape([](const std::string& s) { return s; });
  return tmpl.render(data);
}

using Catalogue = std::map<std::pair<std::string, std::string>, Template>;

const Catalogue& catalogue() {
  static const Catalogue kTemplates = {
      // An event's own "summary" when it has one, else its type.
      {{"default", "en"},
       {"{{#summary}}{{summary}}{{/summary}}{{^summary}}{{type}}{{/summary}}",
        "{{#summary}}{{summary}}{{/summary}}{{^summary}}Event {{type}}.{{/summary}}", ""}},
      {{"default", "de"},
       {"{{#summary}}{{summary}}{{/summary}}{{^summary}}{{type}}{{/summary}}",
        "{{#summary}}{{summary}}{{/summary}}{{^summary}}Ereignis {{type}}.{{/summary}}", ""}},
      {{"task.assigned", "en"},
       {"Task assigned to you: {{title}}",
        "The task \"{{title}}\" ({{priority}} priority) is now assigned to you."
        "{{#due_date}} It is due {{due_date}}.{{/due_date}}",
        "<p>The task <strong>{{title}}</strong> ({{priority}} priority) is now assigned to "
        "you.{{#due_date}} It is due {{due_date}}.{{/due_date}}</p>"}},
      {{"task.assigned", "de"},
       {"Neue Aufgabe für Sie: {{title}}",
        "Die Aufgabe \"{{title}}\" (Priorität {{priority}}) ist Ihnen zugewiesen."
        "{{#due_date}} Fällig: {{due_date}}.{{/due_date}}",
        "<p>Die Aufgabe <strong>{{title}}</strong> (Priorität {{priority}}) ist Ihnen "
        "zugewiesen.{{#due_date}} Fällig: {{due_date}}.{{/due_date}}</p>"}},
      {{"task.updated", "en"},
       {"Task changed: {{title}}", "The task \"{{title}}\" assigned to you is now {{status}}.",
        "<p>The task <strong>{{title}}</strong> assigned to you is now {{status}}.</p>"}},
      {{"task.completed", "en"},
       {"Task completed: {{title}}", "The task \"{{title}}\" assigned to you was completed.",
        "<p>The task <strong>{{title}}</strong> assigned to you was completed.</p>"}},
      {{"task.deleted", "en"},
       {"Task deleted: {{title}}", "The task \"{{title}}\" assigned to you was deleted.",
        "<p>The task <strong>{{title}}</strong> assigned to you was deleted.</p>"}},
      {{"task.reminder", "en"},
       {"Due soon: {{title}}", "The task \"{{title}}\" is due {{due_date}}.",
        "<p>The task <strong>{{title}}</strong> is due {{due_date}}.</p>"}},
      {{"task.reminder", "de"},
       {"Bald fällig: {{title}}", "Die Aufgabe \"{{title}}\" ist fällig am {{due_date}}.",
        "<p>Die Aufgabe <strong>{{title}}</strong> ist fällig am {{due_date}}.</p>"}},
      {{"digest", "en"},
       {"{{count}} × {{type}}",
        "{{count}} notifications of {{type}} since {{since}}:\n"
        "{{#items}}- {{summary}}\n{{/items}}",
        "<p>{{count}} notifications of {{type}} since {{since}}:</p>"
        "<ul>{{#items}}<li>{{summary}}</li>{{/items}}</ul>"}},
      // The Agent service's run events (a "summary", when an event brings one, wins).
      {{"agent.run.completed", "en"},
       {"{{#summary}}{{summary}}{{/summary}}{{^summary}}Agent run finished: {{agent}}{{/summary}}",
        "{{#summary}}{{summary}}{{/summary}}{{^summary}}Your run of {{agent}} finished after "
        "{{steps}} steps.{{#output}} {{output}}{{/output}}{{/summary}}",
        ""}},
      {{"agent.run.failed", "en"},
       {"{{#summary}}{{summary}}{{/summary}}{{^summary}}Agent run failed: {{agent}}{{/summary}}",
        "{{#summary}}{{summary}}{{/summary}}{{^summary}}Your run of {{agent}} failed: "
        "{{error}}{{/summary}}",
        ""}},
      {{"analytics.report.ready", "en"},
       {"{{title}}",
        "From {{start}} to {{end}}: {{events}} events, {{errors}} failures, {{active_users}} "
        "active users.{{#top}}\n- {{type}}: {{count}}{{/top}}",
        "<p>From {{start}} to {{end}}: {{events}} events, {{errors}} failures, {{active_users}} "
        "active users.</p><ul>{{#top}}<li>{{type}}: {{count}}</li>{{/top}}</ul>"}},
      {{"config.flag.changed", "en"},
       {"Feature flag changed: {{flag}}", "The flag {{flag}} was changed{{#by}} by {{by}}{{/by}}.",
        ""}},
  };
  return kTemplates;
}

}  // namespace

std::optional<std::string> template_error(const Template& t) {
  const std::pair<const char*, const std::string*> parts[] = {
      {"title", &t.title}, {"body", &t.body}, {"html", &t.html}};
  for (const auto& [name, text] : parts) {
    // kainjow looks a partial up among the values: {{>x}} would render an event's text as a
    // template (its HTML unescaped; "{{>x}}" in it recursing without end). A changed delimiter
    // could hide one. Neither is offered.
    if (text->find("{{>") != std::string::npos || text->find("{{=") != std::string::npos)
      return std::string(name) +
             ": partials ({{>...}}) and delimiter changes ({{=...=}}) are "
             "not offered";
    mustache::mustache tmpl(*text);
    if (!tmpl.is_valid()) return std::string(name) + ": " + tmpl.error_message();
  }
  return std::nullopt;
}

Rendered render(const Template& t, const nlohmann::json& data) {
  auto values = to_data(data);
  return {render_part(t.title, values, false), render_part(t.body, values, false),
          render_part(t.html, values, true)};
}

const Template& builtin_template(const std::string& type, const std::string& locale) {
  const auto& all = catalogue();
  for (const auto& key : {std::pair{type, locale}, std::pair{type, std::string("en")},
                          std::pair{std::string("default"), locale},
                          std::pair{std::string("default"), std::string("en")}}) {
    if (auto it = all.find(key); it != all.end()) return it->second;
  }
  return all.at({"default", "en"});
}

std::vector<std::pair<std::string, std::string>> builtin_templates() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, t] : catalogue()) out.push_back(key);
  return out;
}

}  // namespace raptorflow::notification
