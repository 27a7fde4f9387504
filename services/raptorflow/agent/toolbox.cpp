#include "toolbox.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include <svckit/error.hpp>
#include <svckit/http/client.hpp>

namespace raptorflow::agent {
namespace {

using nlohmann::json;
using svckit::Task;

class Arithmetic {
 public:
  explicit Arithmetic(std::string_view text) : text_(text) {}
  double run() {
    double v = expression(0);
    skip_space();
    if (at_ < text_.size()) fail("unexpected '" + std::string(1, text_[at_]) + "'");
    if (!std::isfinite(v)) fail("the result is not a finite number");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::invalid_argument(why + " at character " + std::to_string(at_ + 1));
  }
  void skip_space() {
    while (at_ < text_.size() && text_[at_] == ' ') ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void deeper(int depth) const {
    if (depth > 64) fail("nested too deeply");
  }
  double expression(int depth) {
    deeper(depth);
    double v = term(depth + 1);
    for (;;) {
      if (take('+'))
        v += term(depth + 1);
      else if (take('-'))
        v -= term(depth + 1);
      else
        return v;
    }
  }
  double term(int depth) {
    double v = power(depth + 1);
    for (;;) {
      if (take('*')) {
        v *= power(depth + 1);
      } else if (take('/')) {
        double d = power(depth + 1);
        if (d == 0) fail("division by zero");
        v /= d;
      } else if (take('%')) {
        double d = power(depth + 1);
        if (d == 0) fail("division by zero");
        v = std::fmod(v, d);
      } else {
        return v;
      }
    }
  }
  double power(int depth) {
    deeper(depth);
    double base = unary(depth + 1);
    if (take('^')) return std::pow(base, power(depth + 1));  // right-associative
    return base;
  }
  double unary(int depth) {
    deeper(depth);
    if (take('-')) return -unary(depth + 1);
    if (take('+')) return unary(depth + 1);
    if (take('(')) {
      double v = expression(depth + 1);
      if (!take(')')) fail("a ')' is missing");
      return v;
    }
    skip_space();
    double v = 0;
    auto [end, ec] = std::from_chars(text_.data() + at_, text_.data() + text_.size(), v);
    if (ec != std::errc() || end == text_.data() + at_) fail("a number is expected");
    at_ = static_cast<std::size_t>(end - text_.data());
    return v;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

json object_schema(json properties, json required) {
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

// Lower-case words of two or more letters or digits, at most eight: what retrieval matches.
std::vector<std::string> terms_of(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 2 && out.size() < 8 && std::find(out.begin(), out.end(), word) == out.end())
      out.push_back(word);
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c))
      word += static_cast<char>(std::tolower(c));
    else
      flush();
  }
  flush();
  return out;
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

std::string lowered(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string first_problems(const std::vector<svckit::JsonSchema::Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += "; ";
    out += (p.path.empty() ? std::string("(the whole)") : p.path) + ": " + p.message;
  }
  return out;
}

}  // namespace

double evaluate_arithmetic(std::string_view expression) {
  if (expression.size() > 1000) throw std::invalid_argument("longer than 1000 characters");
  return Arithmetic(expression).run();
}

Toolbox::Toolbox(AgentStore& store, std::vector<std::string> allowed_urls,
                 svckit::meter::Meter* meter)
    : store_(store), allowed_urls_(std::move(allowed_urls)), meter_(meter) {}
Toolbox::~Toolbox() = default;

std::vector<Skill> Toolbox::builtins() {
  return {
      {"arithmetic",
       "Evaluates an arithmetic expression: + - * / % ^ and parentheses.",
       object_schema({{"expression", {{"type", "string"}, {"minLength", 1}, {"maxLength", 1000}}}},
                     {"expression"}),
       object_schema({{"value", {{"type", "number"}}}}, {"value"}),
       "builtin",
       {{"builtin", "arithmetic"}},
       0},
      {"retrieval",
       "Finds the service's documents that best match a query.",
       object_schema({{"query", {{"type", "string"}, {"minLength", 1}, {"maxLength", 500}}},
                      {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10}}}},
                     {"query"}),
       nullptr,
       "builtin",
       {{"builtin", "retrieval"}},
       0},
  };
}

void Toolbox::check(const Skill& s) const {
  for (const auto* schema : {&s.input_schema, &s.output_schema}) {
    if (schema->is_null() && schema == &s.output_schema) continue;
    try {
      svckit::JsonSchema::compile(*schema);
    } catch (const std::invalid_argument& e) {
      throw svckit::ValidationError(schema == &s.input_schema ? "input_schema" : "output_schema",
                                    e.what());
    }
  }
  if (s.kind == "builtin") {
    auto name = s.config.value("builtin", "");
    if (name != "arithmetic" && name != "retrieval")
      throw svckit::ValidationError("config.builtin", "must be arithmetic or retrieval");
    return;
  }
  if (s.kind != "http") throw svckit::ValidationError("kind", "must be http or builtin");
  if (!s.config.is_object() || !s.config.contains("url") || !s.config["url"].is_string())
    throw svckit::ValidationError("config.url", "an http skill needs a url");
  auto url = s.config["url"].get<std::string>();
  bool allowed = std::any_of(allowed_urls_.begin(), allowed_urls_.end(),
                             [&](const std::string& base) { return url.starts_with(base); });
  if (!allowed)
    throw svckit::ValidationError("config.url",
                                  "is not under one of AGENT_TOOL_URLS (the endpoints this "
                                  "deployment lets agents call)");
  auto method = s.config.value("method", "POST");
  if (method != "POST" && method != "PUT" && method != "GET")
    throw svckit::ValidationError("config.method", "must be POST, PUT or GET");
  if (s.config.contains("timeout_ms") && (!s.config["timeout_ms"].is_number_integer() ||
                                          s.config["timeout_ms"].get<std::int64_t>() < 1 ||
                                          s.config["timeout_ms"].get<std::int64_t>() > 120000))
    throw svckit::ValidationError("config.timeout_ms", "must be 1 to 120000");
}

const svckit::JsonSchema& Toolbox::schema(const Skill& skill, bool output) {
  auto key = skill.name + "@" + std::to_string(skill.created_ms) + (output ? ":out" : ":in");
  std::lock_guard lock(mutex_);
  auto it = schemas_.find(key);
  if (it == schemas_.end())
    it = schemas_
             .emplace(key, svckit::JsonSchema::compile(output ? skill.output_schema
                                                              : skill.input_schema))
             .first;
  return it->second;
}

svckit::http::Client& Toolbox::client_for(const std::string& origin) {
  std::lock_guard lock(mutex_);
  auto& c = clients_[origin];
  if (!c) {
    svckit::http::ClientOptions options;
    options.name = "tool:" + origin;
    options.metrics = meter_;
    options.max_idle_per_loop = 1024;  // a thousand runs calling one tool at once
    c = std::make_unique<svckit::http::Client>(origin, options);
  }
  return *c;
}

Task<ToolOutcome> Toolbox::call(const Skill& skill, json input, const svckit::Context* context,
                                std::string idempotency_key) {
  ToolOutcome out;
  auto problems = schema(skill, false).validate(input, 5);
  if (!problems.empty()) {
    out.error = "the input does not match the skill's schema: " + first_problems(problems);
    co_return out;
  }
  if (skill.kind == "http") {
    out = co_await call_http(skill, input, context, std::move(idempotency_key));
  } else if (skill.config.value("builtin", "") == "arithmetic") {
    try {
      out.output = {{"value", evaluate_arithmetic(input["expression"].get<std::string>())}};
      out.ok = true;
    } catch (const std::invalid_argument& e) {
      out.error = e.what();
    }
  } else {
    out = co_await retrieve(input);
  }
  if (out.ok && !skill.output_schema.is_null()) {
    auto bad = schema(skill, true).validate(out.output, 5);
    if (!bad.empty()) {
      out.ok = false;
      out.error = "the tool's answer does not match its output schema: " + first_problems(bad);
    }
  }
  co_return out;
}

Task<ToolOutcome> Toolbox::call_http(const Skill& skill, const json& input,
                                     const svckit::Context* context, std::string key) {
  auto url = skill.config["url"].get<std::string>();
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto origin = slash == std::string::npos ? url : url.substr(0, slash);
  svckit::http::ClientRequest req;
  auto method = skill.config.value("method", "POST");
  req.method = method == "GET"   ? svckit::http::Method::get
               : method == "PUT" ? svckit::http::Method::put
                                 : svckit::http::Method::post;
  req.target = slash == std::string::npos ? "/" : url.substr(slash);
  if (req.method != svckit::http::Method::get) {
    req.body = input.dump();
    req.content_type = "application/json";
  }
  // The same key for a step's retries (and its re-run after a restart): a tool that honours it
  // acts once.
  req.headers.emplace_back("Idempotency-Key", std::move(key));
  req.idempotent = true;
  req.context = context;
  req.deadline = svckit::Deadline::after(
      std::chrono::milliseconds(skill.config.value("timeout_ms", std::int64_t{30000})));
  ToolOutcome out;
  try {
    auto answer = co_await client_for(origin).send(std::move(req));
    if (answer.status < 200 || answer.status > 299) {
      out.error = "the tool answered " + std::to_string(answer.status);
      co_return out;
    }
    out.output = json::parse(answer.body, nullptr, false);
    if (out.output.is_discarded()) {
      out.error = "the tool's answer is not JSON";
      co_return out;
    }
    out.ok = true;
  } catch (const svckit::Error& e) {
    out.error = std::string("the tool could not be reached: ") + e.detail();
  }
  co_return out;
}

Task<ToolOutcome> Toolbox::retrieve(const json& input) {
  auto terms = terms_of(input["query"].get<std::string>());
  std::int64_t limit = input.value("limit", std::int64_t{3});
  ToolOutcome out;
  out.ok = true;
  out.output = {{"documents", json::array()}};
  if (terms.empty()) co_return out;
  auto found = co_await store_.documents_with(terms, 500);
  std::vector<std::pair<double, const Document*>> scored;
  for (const auto& d : found) {
    auto title = lowered(d.title), text = lowered(d.text);
    double score = 0;
    for (const auto& t : terms) score += 2.0 * count_of(title, t) + count_of(text, t);
    scored.emplace_back(score, &d);
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second->id < b.second->id;
  });
  for (std::size_t i = 0; i < scored.size() && static_cast<std::int64_t>(i) < limit; ++i) {
    const auto& d = *scored[i].second;
    out.output["documents"].push_back({{"id", d.id},
                                       {"title", d.title},
                                       {"snippet", d.text.substr(0, 200)},
                                       {"score", scored[i].first}});
  }
  co_return out;
}

}  // namespace raptorflow::agent
