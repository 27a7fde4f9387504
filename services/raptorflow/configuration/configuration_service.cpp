#include "configuration_service.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_group.hpp>
#include <svckit/http/server.hpp>
#include <svckit/ids.hpp>
#include <svckit/json_writer.hpp>
#include <svckit/log/logger.hpp>
#include <svckit/model/json.hpp>

#include "configuration_models.hpp"
#include "conventions.hpp"

namespace raptorflow::configuration {

using nlohmann::json;
using svckit::flags::ErrorCode;
using svckit::flags::FlagSet;
using svckit::flags::FlagSetError;

namespace {

svckit::Error precondition_failed(std::int64_t current) {
  return svckit::Error(412, "about:blank", "Precondition Failed",
                       "the flags are at version " + std::to_string(current) +
                           " now: read them again and send your change with If-Match: \"v" +
                           std::to_string(current) + "\"");
}

// A flag set that flagd's format refuses: 422, each problem a field error.
svckit::Error invalid_set(const FlagSetError& e, const std::string& field) {
  const auto& problems = e.problems();
  svckit::ValidationError error(field, problems.empty() ? "invalid flag set" : problems.front());
  for (std::size_t i = 1; i < problems.size() && i < 50; ++i)
    error.with_field_error(field, problems[i]);
  return error;
}

VersionSummary summary_of(const FlagVersion& v) {
  return {v.version, v.author, v.message, iso8601(v.created_at), v.restored_from, v.changes};
}

// OFREP's own error body (not problem+json: its providers read errorCode).
svckit::http::Response ofrep_error(int status, std::string_view key, std::string_view code,
                                   std::string details) {
  json body = {{"errorCode", code}, {"errorDetails", std::move(details)}};
  if (!key.empty()) body["key"] = key;
  return svckit::http::Response::json(status, body);
}

// The evaluation context of an OFREP request: {"context": {...}}; a missing body or context is
// an empty one. `body` holds what was read; the context points into it (or at an empty object).
// Returns what is wrong with it, if anything.
std::optional<std::string> read_context(const svckit::http::Request& req, json& body,
                                        const json*& context) {
  static const json no_context = json::object();
  context = &no_context;
  if (req.body().empty()) return std::nullopt;
  try {
    body = req.json();
  } catch (const svckit::Error& e) {
    return e.detail();
  }
  if (!body.is_object()) return "the request body must be an object: {\"context\": {...}}";
  auto found = body.find("context");
  if (found == body.end() || found->is_null()) return std::nullopt;
  if (!found->is_object()) return "context must be an object";
  context = &*found;
  return std::nullopt;
}

// One OFREP evaluation's answer, appended as text: the service's hot path. OFREP's names and
// reasons are plain words, written as they are; what comes from the flag set is escaped.
void append_evaluation(std::string& out, std::string_view key, const svckit::flags::Evaluation& e) {
  using svckit::log::append_json_string;
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"reason\":\"";
  out += svckit::flags::to_string(e.reason);
  out += '"';
  if (e.value) {
    const auto& v = *e.value;
    out += ",\"value\":";
    if (v.is_boolean())
      out += v.get<bool>() ? "true" : "false";
    else if (v.is_string())
      append_json_string(out, v.get_ref<const std::string&>());
    else
      out += v.dump();  // numbers as nlohmann writes them (integers stay integers), objects
    out += ",\"variant\":";
    append_json_string(out, e.variant);
  }
  out += ",\"metadata\":";
  out += !e.metadata || e.metadata->empty() ? "{}" : e.metadata->dump();
  out += '}';
}

// OFREP's bulk answer: every flag, each evaluated or with its error.
std::string bulk_evaluation(const FlagSet& set, std::int64_t version, const json& context) {
  svckit::JsonWriter out;
  std::string one;  // an evaluation's text
  out.begin_object().key("flags").begin_array();
  for (const auto& key : set.keys()) {
    auto e = set.evaluate(key, context);
    if (e.ok()) {
      one.clear();
      append_evaluation(one, key, e);
      out.raw(one);
    } else {
      out.begin_object()
          .field("key", key)
          .field("errorCode", svckit::flags::to_string(e.error_code))
          .field("errorDetails", e.error_details)
          .end_object();
    }
  }
  out.end_array()
      .key("metadata")
      .begin_object()
      .field("version", version)
      .end_object()
      .end_object();
  return out.take();
}

// The server-sent event of a version: id the version, so Last-Event-ID says where one stands.
svckit::http::ServerEvent version_event(std::int64_t version, const std::string& environment,
                                        json changes) {
  json data = {{"version", version}, {"environment", environment}};
  if (!changes.empty()) data["changes"] = std::move(changes);
  return {.data = data.dump(), .event = "flags", .id = std::to_string(version)};
}

std::string fnv1a_etag(std::string_view text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, h, 16);
  return "\"" + std::string(buf, end) + "\"";
}

bool etag_matches(std::optional<std::string_view> header, std::string_view etag) {
  if (!header) return false;
  std::string_view list = *header;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == etag || item == "*") return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void ConfigurationService::declare(svckit::Settings& settings) {
  SecretsApi::declare(settings);
  settings.declare("configuration", {.name = "CONFIG_ENVIRONMENT",
                                     .type = svckit::SettingType::enumeration,
                                     .default_value = "dev",
                                     .choices = {"dev", "staging", "prod"},
                                     .help = "the environment whose flags this instance keeps"});
  settings.declare("configuration",
                   {.name = "CONFIG_FLAGS_FILE",
                    .type = svckit::SettingType::file,
                    .help = "a flagd flag-definition file stored as version 1 when "
                            "nothing is stored yet"});
  settings.declare("configuration",
                   {.name = "CONFIG_POLL_INTERVAL",
                    .type = svckit::SettingType::duration,
                    .default_value = "5s",
                    .min = 100,
                    .help = "how often a replica looks for versions another stored"});
}

void ConfigurationService::install(svckit::App& app) {
  app_ = &app;
  environment_ = app.settings().text("CONFIG_ENVIRONMENT");
  auto& db = app.database("configuration");
  store_ = std::make_unique<FlagStore>(db, app.outbox("configuration"), environment_);
  store_->migrate();
  secrets_.install(app);
  settings_.install(app, environment_);
  auto empty = std::make_shared<Current>();
  empty->version.document = {{"flags", json::object()}};
  empty->set = FlagSet::empty();
  empty->etag = "\"v0\"";
  current_.store(std::move(empty));

  using svckit::http::bind;
  auto auth = svckit::required_bearer_options_from_settings(app, "the Configuration service");
  auto read = svckit::auth::require("flags:read");
  auto write = svckit::auth::require("flags:write");
  auto api = app.http().group("/api/v1/flags", {svckit::auth::bearer(auth)});
  auto whole = [](int min, int max) {
    return json{{"type", "integer"}, {"minimum", min}, {"maximum", max}};
  };
  api.get("/", read, bind(this, &ConfigurationService::get_flags))
      .summary("The flag set in force (flags:read); ETag \"v<version>\", If-None-Match answers 304")
      .returns<FlagSetReply>()
      .responds(304);
  api.put("/", write, bind(this, &ConfigurationService::put_flags))
      .summary(
          "Replace the whole flag set (flags:write); If-Match \"v<version>\" refuses a lost update")
      .accepts<FlagSetWrite>()
      .returns<VersionSummary>()
      .errors({412});
  api.get("/versions", read, bind(this, &ConfigurationService::versions))
      .summary("The audit trail, newest first: who changed what, when and why (flags:read)")
      .query("before", "only versions older than this one (next_before)", whole(1, 2147483647))
      .query("limit", "at most this many (default 20)", whole(1, 100))
      .returns<VersionList>()
      .errors({422});
  api.get("/versions/{version}", read, bind(this, &ConfigurationService::version))
      .summary("One version: its document and what it changed (flags:read)")
      .returns<VersionDetail>()
      .errors({404});
  api.post("/versions/{version}/rollback", write, bind(this, &ConfigurationService::rollback))
      .summary("Put an earlier version's set back in force, as a new version (flags:write)")
      .accepts<Rollback>()
      .returns<VersionSummary>()
      .errors({404});
  api.events("/changes", [this](svckit::http::EventStream stream,
                                Request& req) { return changes(std::move(stream), req); })
      .summary(
          "Server-sent events: one \"flags\" event per new version (id: the version; "
          "Last-Event-ID resumes)");
  api.put("/{key}", write, bind(this, &ConfigurationService::put_flag))
      .summary("Add or replace one flag (flags:write)")
      .accepts<FlagWrite>()
      .returns<VersionSummary>();
  api.del("/{key}", write, bind(this, &ConfigurationService::delete_flag))
      .summary("Remove one flag (flags:write)")
      .query("message", "why, for the audit trail")
      .returns<VersionSummary>()
      .errors({404});

  auto ofrep = app.http().group("/ofrep/v1", {svckit::auth::bearer(auth)});
  ofrep.post("/evaluate/flags/{key}", bind(this, &ConfigurationService::evaluate))
      .summary("OFREP: evaluate one flag for a context")
      .accepts<EvaluationRequest>()
      .returns<EvaluationSuccess>()
      .errors({404});
  ofrep.post("/evaluate/flags", bind(this, &ConfigurationService::evaluate_all))
      .summary("OFREP: evaluate every flag for a context; ETag, If-None-Match answers 304")
      .accepts<EvaluationRequest>()
      .returns<BulkEvaluation>()
      .responds(304);

  // Every replica hears of every change, whichever stored it: a group of its own.
  svckit::bus::SubscribeOptions mine{.expires_unused = std::chrono::minutes(1)};
  app.bus().subscribe(
      "configuration-" + svckit::uuid_v4(), "config.flag.changed",
      [this](const svckit::bus::Event& event) -> svckit::Task<svckit::bus::Outcome> {
        // Any event asks: refresh() reads the newest version number first, which is cheap, and
        // an event's own data is not trusted to be well-formed.
        co_await refresh();
        co_return svckit::bus::Outcome::success;
      },
      mine);
  const auto interval = app.settings().duration("CONFIG_POLL_INTERVAL");
  app.run_in_background("configuration poll", [this, interval]() -> svckit::Task<void> {
    boost::asio::steady_timer timer(*app_->loops()[0]);
    while (true) {
      timer.expires_after(interval);
      auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      try {
        co_await refresh();
      } catch (const std::exception& e) {
        app_->logger().warning(std::string("configuration: cannot look for new versions: ") +
                               e.what());
      }
    }
  });
}

svckit::Task<void> ConfigurationService::start(svckit::App& app) {
  const auto file = app.settings().text("CONFIG_FLAGS_FILE");
  if (!file.empty() && co_await store_->current_version() == 0) {
    std::ifstream in(file);
    if (!in) throw svckit::ConfigError("CONFIG_FLAGS_FILE", "cannot read " + file);
    std::stringstream text;
    text << in.rdbuf();
    auto document = json::parse(text.str(), nullptr, false);
    if (document.is_discarded())
      throw svckit::ConfigError("CONFIG_FLAGS_FILE", file + " is not JSON");
    try {
      FlagSet::parse(document);
    } catch (const FlagSetError& e) {
      throw svckit::ConfigError("CONFIG_FLAGS_FILE", file + ": " + e.what());
    }
    try {
      co_await store_->write(std::move(document), "CONFIG_FLAGS_FILE",
                             "the initial set from " + file, 0, std::nullopt, nullptr);
    } catch (const StaleVersion&) {
      // another replica stored its first version at the same time
    }
  }
  co_await refresh();
}

svckit::Task<void> ConfigurationService::refresh() {
  if (co_await store_->current_version() <= current()->version.version) co_return;
  auto newest = co_await store_->current();
  take(std::move(newest));
}

void ConfigurationService::take(FlagVersion version) {
  auto next = std::make_shared<Current>();
  try {
    next->set = FlagSet::parse(version.document);
  } catch (const FlagSetError& e) {
    app_->logger().error("configuration: version " + std::to_string(version.version) +
                         " is stored but not valid here, keeping the one in force: " + e.what());
    return;
  }
  next->etag = "\"v" + std::to_string(version.version) + "\"";
  next->version = std::move(version);
  auto held = current();
  do {
    if (next->version.version <= held->version.version) return;  // a newer one came first
  } while (!current_.compare_exchange_weak(held, next, std::memory_order_acq_rel));

  json changes = json::array();
  for (const auto& c : next->version.changes)
    changes.push_back({{"flag", c["flag"]}, {"change", c["change"]}});
  auto event = version_event(next->version.version, environment_, std::move(changes));
  subscribers_.broadcast(std::make_shared<const std::string>(svckit::http::format_event(event)));
}

ConfigurationService::Task ConfigurationService::get_flags(Request& req) {
  auto held = current();
  if (etag_matches(req.header("If-None-Match"), held->etag))
    co_return Response::empty(304).set_header("ETag", held->etag);
  FlagSetReply reply{environment_, held->version.version, std::nullopt, std::nullopt,
                     held->version.document};
  if (held->version.version > 0) {
    reply.updated_at = iso8601(held->version.created_at);
    reply.updated_by = held->version.author;
  }
  co_return Response::json(200, svckit::model::to_json(reply)).set_header("ETag", held->etag);
}

svckit::Task<std::optional<svckit::http::Response>> ConfigurationService::store(
    Request& req, json document, std::string message, std::optional<std::int64_t> restored_from,
    std::optional<std::int64_t> base) {
  // If-Match: the version the client read; "*" (or none) asks nothing. Without it, `base`.
  const auto asked_for = if_match_version(req);
  const bool asked = asked_for.has_value();
  const std::optional<std::int64_t> expected = asked ? asked_for : base;
  std::optional<FlagVersion> stored;
  std::int64_t stale = -1;
  try {
    stored = co_await store_->write(std::move(document), req.context().user_id(),
                                    std::move(message), expected, restored_from, &req.context());
  } catch (const StaleVersion& s) {
    stale = s.current;
  }
  if (stale >= 0 && asked) throw precondition_failed(stale);
  if (stale >= 0) co_return std::nullopt;  // made from a version no longer the newest
  auto summary = summary_of(*stored);
  take(std::move(*stored));
  co_return Response::json(200, svckit::model::to_json(summary));
}

ConfigurationService::Task ConfigurationService::write(Request& req, json document,
                                                       std::string message,
                                                       std::optional<std::int64_t> restored_from) {
  try {
    FlagSet::parse(document);
  } catch (const FlagSetError& e) {
    throw invalid_set(e, "document");
  }
  auto answer =
      co_await store(req, std::move(document), std::move(message), restored_from, std::nullopt);
  co_return std::move(*answer);
}

ConfigurationService::Task ConfigurationService::edit_flag(Request& req, std::string key,
                                                           std::optional<json> definition,
                                                           std::string message) {
  // Made from the newest stored version (not the one this replica holds, which may lag), and
  // made again if another change lands first: two one-flag edits at once both stay.
  // An edit is made again only when another committed meanwhile, so each loss is someone's
  // progress: 32 attempts carry 32 edits sent at once (5 did not carry 12 under ASan's pace).
  for (int attempt = 0; attempt < 32; ++attempt) {
    auto newest = co_await store_->current();
    auto document = std::move(newest.document);
    if (definition) {
      document["flags"][key] = *definition;
    } else {
      if (!document["flags"].contains(key)) throw svckit::NotFound("no flag \"" + key + "\"");
      document["flags"].erase(key);
    }
    try {
      FlagSet::parse(document);
    } catch (const FlagSetError& e) {
      throw invalid_set(e, "definition");
    }
    auto answer = co_await store(req, std::move(document), message, std::nullopt, newest.version);
    if (answer) co_return std::move(*answer);
  }
  throw svckit::Conflict("the flags kept changing under this edit: send it again");
}

ConfigurationService::Task ConfigurationService::put_flags(Request& req) {
  auto body = req.json<FlagSetWrite>();
  if (!body.document.is_object())
    throw svckit::ValidationError("document", "must be a flagd flag set (an object)");
  co_return co_await write(req, std::move(body.document), body.message.value_or(""), std::nullopt);
}

ConfigurationService::Task ConfigurationService::put_flag(Request& req) {
  const auto key = req.param("key");
  auto body = req.json<FlagWrite>();
  co_return co_await edit_flag(req, key, std::move(body.definition),
                               body.message.value_or("set " + key));
}

ConfigurationService::Task ConfigurationService::delete_flag(Request& req) {
  const auto key = req.param("key");
  auto message = req.query_param("message").value_or("removed " + key);
  co_return co_await edit_flag(req, key, std::nullopt, std::move(message));
}

ConfigurationService::Task ConfigurationService::versions(Request& req) {
  std::int64_t before = 0;
  int limit = 20;
  if (auto b = req.query_param("before")) {
    auto v = parse_version(*b);
    if (!v || *v < 1) throw svckit::ValidationError("before", "must be a version number");
    before = *v;
  }
  if (auto l = req.query_param("limit")) {
    auto v = parse_version(*l);
    if (!v || *v < 1 || *v > 100) throw svckit::ValidationError("limit", "must be 1-100");
    limit = static_cast<int>(*v);
  }
  auto found = co_await store_->history(before, limit);
  VersionList list;
  for (const auto& v : found) list.versions.push_back(summary_of(v));
  if (static_cast<int>(found.size()) == limit && found.back().version > 1)
    list.next_before = found.back().version;
  co_return Response::json(200, svckit::model::to_json(list));
}

ConfigurationService::Task ConfigurationService::version(Request& req) {
  auto v = parse_version(req.param("version"));
  std::optional<FlagVersion> found;
  if (v) found = co_await store_->version(*v);
  if (!found) throw svckit::NotFound("no version " + req.param("version"));
  VersionDetail detail{
      found->version,       found->author,  found->message, iso8601(found->created_at),
      found->restored_from, found->changes, found->document};
  co_return Response::json(200, svckit::model::to_json(detail));
}

ConfigurationService::Task ConfigurationService::rollback(Request& req) {
  auto v = parse_version(req.param("version"));
  std::optional<FlagVersion> found;
  if (v) found = co_await store_->version(*v);
  if (!found) throw svckit::NotFound("no version " + req.param("version"));
  Rollback body;
  if (!req.body().empty()) body = req.json<Rollback>();
  auto message = body.message.value_or("rolled back to version " + std::to_string(found->version));
  co_return co_await write(req, std::move(found->document), std::move(message), found->version);
}

svckit::Task<void> ConfigurationService::changes(svckit::http::EventStream stream, Request&) {
  // Joined first, then told where things stand: a version taken in between comes twice (the
  // same id), never not at all.
  auto member = subscribers_.join("all", stream);
  auto held = current();
  auto resumed = parse_version(stream.last_event_id());
  if (!resumed || *resumed < held->version.version) {
    // Where the client stands: the version in force (what it missed, it reads with GET).
    stream.send(version_event(held->version.version, environment_, json::array()));
  }
  co_await stream.closed();
}

ConfigurationService::Task ConfigurationService::evaluate(Request& req) {
  const auto key = req.param("key");
  json body;
  const json* context = nullptr;
  if (auto problem = read_context(req, body, context))
    co_return ofrep_error(400, key, "INVALID_CONTEXT", *problem);
  auto held = current();
  auto e = held->set->evaluate(key, *context);
  if (!e.ok())
    co_return ofrep_error(e.error_code == ErrorCode::kFlagNotFound ? 404 : 400, key,
                          svckit::flags::to_string(e.error_code), e.error_details);
  std::string text;
  text.reserve(128);
  append_evaluation(text, key, e);
  co_return Response::json_text(200, std::move(text));
}

ConfigurationService::Task ConfigurationService::evaluate_all(Request& req) {
  json body;
  const json* context = nullptr;
  if (auto problem = read_context(req, body, context))
    co_return ofrep_error(400, "", "INVALID_CONTEXT", *problem);
  auto held = current();  // once: the version said is the set evaluated
  auto text = bulk_evaluation(*held->set, held->version.version, *context);
  auto etag = fnv1a_etag(text);
  if (etag_matches(req.header("If-None-Match"), etag))
    co_return Response::empty(304).set_header("ETag", etag);
  co_return Response::json_text(200, std::move(text)).set_header("ETag", etag);
}

}  // namespace raptorflow::configuration
