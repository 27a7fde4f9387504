#include "toolbox.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <svckit/auth/jwt.hpp>
#include <svckit/error.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/percent_encode.hpp>
#include <svckit/utf8.hpp>

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
    if (depth > 256) fail("nested too deeply");  // about 64 parentheses
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

// A URL's parts, when it is a plain http(s) URL: no userinfo, no backslash, no whitespace or
// control characters, no ".." segment, no query or fragment (a skill's input is its body).
struct Url {
  std::string scheme, host, port, path;
};
std::optional<Url> parse_url(std::string_view text) {
  Url u;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  u.scheme = std::string(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  auto rest = text.substr(sep + 3);
  for (unsigned char c : rest)
    if (c <= ' ' || c == 0x7f || c == '@' || c == '\\' || c == '?' || c == '#') return std::nullopt;
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    u.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (u.port.empty() || u.port.size() > 5 ||
        !std::all_of(u.port.begin(), u.port.end(), [](unsigned char c) { return std::isdigit(c); }))
      return std::nullopt;
  }
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  u.host = lowered(std::string(authority));
  if (u.host.empty()) return std::nullopt;
  for (std::size_t at = 0; (at = u.path.find("/..", at)) != std::string::npos; ++at)
    if (at + 3 == u.path.size() || u.path[at + 3] == '/') return std::nullopt;
  return u;
}

// Whether `url` is under `base`: the same scheme, host and port, and the base's path a prefix
// ending at a segment boundary ("http://tools" does not allow "http://tools.evil.net").
bool under(const std::string& url, const std::string& base) {
  auto u = parse_url(url);
  auto b = parse_url(base);
  if (!u || !b || u->scheme != b->scheme || u->host != b->host || u->port != b->port) return false;
  if (!u->path.starts_with(b->path)) return false;
  return b->path.ends_with('/') || u->path.size() == b->path.size() ||
         u->path[b->path.size()] == '/';
}

// A string field of a built-in's input (its schema may be looser than the built-in).
std::optional<std::string> text_of(const json& input, const char* name) {
  if (!input.is_object()) return std::nullopt;
  auto it = input.find(name);
  if (it == input.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::string clip(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) >> 6) == 0x2) --cut;  // mid-character
  return std::string(text.substr(0, cut));
}

double evaluate_arithmetic(std::string_view expression) {
  if (expression.size() > 1000) throw std::invalid_argument("longer than 1000 characters");
  return Arithmetic(expression).run();
}

Toolbox::Toolbox(AgentStore& store, std::vector<std::string> allowed_urls, FilesAccess files,
                 svckit::meter::Meter* meter)
    : store_(store),
      allowed_urls_(std::move(allowed_urls)),
      files_(std::move(files)),
      meter_(meter) {}
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
      {"files",
       "Reads a text file from the File Storage service, as the run's user.",
       object_schema({{"bucket", {{"type", "string"}, {"minLength", 1}, {"maxLength", 63}}},
                      {"key", {{"type", "string"}, {"minLength", 1}, {"maxLength", 1024}}}},
                     {"bucket", "key"}),
       nullptr,
       "builtin",
       {{"builtin", "files"}},
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
  if (!s.config.is_object()) throw svckit::ValidationError("config", "must be an object");
  if (s.kind == "builtin") {
    auto name = text_of(s.config, "builtin").value_or("");
    if (name != "arithmetic" && name != "retrieval" && name != "files")
      throw svckit::ValidationError("config.builtin", "must be arithmetic, retrieval or files");
    return;
  }
  if (s.kind != "http") throw svckit::ValidationError("kind", "must be http or builtin");
  auto url = text_of(s.config, "url");
  if (!url) throw svckit::ValidationError("config.url", "an http skill needs a url");
  if (!parse_url(*url))
    throw svckit::ValidationError("config.url",
                                  "must be an http(s) URL without userinfo, query, fragment, "
                                  "spaces or '..'");
  if (!allowed(*url))
    throw svckit::ValidationError("config.url",
                                  "is not under one of AGENT_TOOL_URLS (the endpoints this "
                                  "deployment lets agents call)");
  if (s.config.contains("method") && !s.config["method"].is_string())
    throw svckit::ValidationError("config.method", "must be POST, PUT or GET");
  auto method = text_of(s.config, "method").value_or("POST");
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

bool Toolbox::allowed(const std::string& url) const {
  return std::any_of(allowed_urls_.begin(), allowed_urls_.end(),
                     [&](const std::string& base) { return under(url, base); });
}

svckit::http::Client& Toolbox::client_for(const std::string& origin) {
  std::lock_guard lock(mutex_);
  auto& c = clients_[origin];
  if (!c) {
    svckit::http::ClientOptions options;
    options.name = "tool:" + origin;
    options.metrics = meter_;
    options.max_idle_per_loop = 1024;  // a thousand runs calling one tool at once
    options.timeout = std::chrono::milliseconds(120000);  // each call's own deadline is shorter
    options.max_response_bytes = kMaxToolAnswer;
    c = std::make_unique<svckit::http::Client>(origin, options);
  }
  return *c;
}

Task<ToolOutcome> Toolbox::call(const Skill& skill, json input, std::string user,
                                const svckit::Context* context, std::string idempotency_key) {
  ToolOutcome out;
  try {
    auto problems = schema(skill, false).validate(input, 5);
    if (!problems.empty()) {
      out.error = "the input does not match the skill's schema: " + first_problems(problems);
      co_return out;
    }
    auto builtin = text_of(skill.config, "builtin").value_or("");
    if (skill.kind == "http") {
      out = co_await call_http(skill, input, context, std::move(idempotency_key));
    } else if (builtin == "arithmetic") {
      out = arithmetic(input);
    } else if (builtin == "files") {
      out = co_await read_file(input, user, context);
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
  } catch (const std::exception& e) {
    // Whatever goes wrong in a call is that step's failure, which the planner sees.
    out.ok = false;
    out.output = nullptr;
    out.error = clip(std::string("the call failed: ") + e.what(), 500);
  }
  if (out.ok && out.output.dump().size() > kMaxStoredOutput) {
    // Kept whole in neither the history nor the prompt: its start, and what was cut.
    auto text = out.output.dump();
    json kept = {{"truncated", true}, {"bytes", text.size()}, {"start", clip(text, 4096)}};
    out.output = std::move(kept);
  }
  co_return out;
}

ToolOutcome Toolbox::arithmetic(const json& input) {
  ToolOutcome out;
  auto expression = text_of(input, "expression");
  if (!expression) {
    out.error = "arithmetic needs {\"expression\": \"...\"}";
    return out;
  }
  try {
    out.output = {{"value", evaluate_arithmetic(*expression)}};
    out.ok = true;
  } catch (const std::invalid_argument& e) {
    out.error = e.what();
  }
  return out;
}

Task<ToolOutcome> Toolbox::call_http(const Skill& skill, const json& input,
                                     const svckit::Context* context, std::string key) {
  ToolOutcome out;
  auto url = text_of(skill.config, "url").value_or("");
  auto parsed = parse_url(url);
  // Checked again at each call: AGENT_TOOL_URLS may have narrowed since the skill was added.
  if (!parsed || !allowed(url)) {
    out.error = "the skill's URL is not under AGENT_TOOL_URLS";
    co_return out;
  }
  auto origin = url.substr(0, url.find('/', url.find("://") + 3));  // scheme://host:port
  svckit::http::ClientRequest req;
  auto method = text_of(skill.config, "method").value_or("POST");
  req.method = svckit::http::Method::post;
  if (method == "GET") req.method = svckit::http::Method::get;
  if (method == "PUT") req.method = svckit::http::Method::put;
  req.target = parsed->path;
  if (req.method != svckit::http::Method::get) {
    req.body = input.dump();
    req.content_type = "application/json";
  }
  // The same key for a step's retries (and its re-run after a restart): a tool that honours it
  // acts once.
  req.headers.emplace_back("Idempotency-Key", std::move(key));
  req.idempotent = true;
  req.context = context;
  std::int64_t timeout_ms = 30000;
  if (auto t = skill.config.find("timeout_ms"); t != skill.config.end() && t->is_number_integer())
    timeout_ms = t->get<std::int64_t>();
  req.deadline = svckit::Deadline::after(std::chrono::milliseconds(timeout_ms));
  try {
    auto answer = co_await client_for(origin).send(std::move(req));
    if (answer.status < 200 || answer.status > 299) {
      out.error = "the tool answered " + std::to_string(answer.status);
      co_return out;
    }
    out.output = json::parse(answer.body, nullptr, false);
    if (out.output.is_discarded()) {
      out.output = nullptr;
      out.error = "the tool's answer is not JSON";
      co_return out;
    }
    out.ok = true;
  } catch (const svckit::Error& e) {
    out.error = clip(std::string("the tool could not be reached: ") + e.detail(), 500);
  }
  co_return out;
}

Task<ToolOutcome> Toolbox::retrieve(const json& input) {
  ToolOutcome out;
  auto query = text_of(input, "query");
  if (!query) {
    out.error = "retrieval needs {\"query\": \"...\"}";
    co_return out;
  }
  auto terms = terms_of(*query);
  std::int64_t limit = 3;
  if (auto l = input.find("limit"); l != input.end() && l->is_number_integer())
    limit = std::clamp<std::int64_t>(l->get<std::int64_t>(), 1, 10);
  out.ok = true;
  out.output = {{"documents", json::array()}};
  if (terms.empty()) co_return out;
  // Candidates and their first 20,000 bytes only: what a query scores stays bounded.
  auto found = co_await store_.documents_with(terms, 200);
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
                                       {"snippet", clip(d.text, 200)},
                                       {"score", scored[i].first}});
  }
  co_return out;
}

// GET /api/v1/files/{bucket}/{key} on the File Storage service with a one-minute token of the
// run's user: the run reads exactly what its user may.
Task<ToolOutcome> Toolbox::read_file(const json& input, const std::string& user,
                                     const svckit::Context* context) {
  ToolOutcome out;
  if (files_.url.empty() || !files_.signer) {
    out.error = "the files skill needs AGENT_FILES_URL and JWT_SECRET_KEY";
    co_return out;
  }
  auto bucket = text_of(input, "bucket").value_or("");
  auto key = text_of(input, "key").value_or("");
  if (bucket.empty() || key.empty()) {
    out.error = "files needs {\"bucket\": ..., \"key\": ...}";
    co_return out;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json claims = {{"sub", user},
                 {"type", "access"},
                 {"iat", now},
                 {"exp", now + 60},
                 {"act", {{"sub", "agent"}}}};  // RFC 8693: the agent acting for the user
  if (files_.issuer) claims["iss"] = *files_.issuer;
  if (files_.audience) claims["aud"] = *files_.audience;
  svckit::http::ClientRequest req;
  req.method = svckit::http::Method::get;
  req.target = "/api/v1/files/" + svckit::http::percent_encode(bucket) + "/" +
               svckit::http::percent_encode(key, "/");
  req.headers.emplace_back("Authorization", "Bearer " + svckit::auth::sign(claims, *files_.signer));
  req.context = context;
  req.deadline = svckit::Deadline::after(std::chrono::seconds(30));
  try {
    auto answer = co_await client_for(files_.url).send(std::move(req));
    if (answer.status != 200) {
      out.error = "File Storage answered " + std::to_string(answer.status);
      co_return out;
    }
    if (!svckit::is_utf8(answer.body)) {
      out.error = "the file is not text (UTF-8)";
      co_return out;
    }
    out.output = {{"bucket", bucket},
                  {"key", key},
                  {"bytes", answer.body.size()},
                  {"content", clip(answer.body, 32 * 1024)}};
    out.ok = true;
  } catch (const svckit::Error& e) {
    out.error = clip(std::string("File Storage could not be reached: ") + e.detail(), 500);
  }
  co_return out;
}

}  // namespace raptorflow::agent
