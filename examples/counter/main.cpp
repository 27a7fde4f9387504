// State every replica sees: counters in app.kv(), which is this process's memory by default and
// Redis with REDIS_URL=redis://... Start two replicas on one Redis and they count together; a
// client that retries its POST with the same Idempotency-Key counts once; and the shared rate
// limit holds for both replicas together (docs/kv.md). GET /api/v1/counters?names=a,b,c reads
// several counters in one kv::Batch: one round trip to Redis, not one per name.
#include <cctype>
#include <svckit/auth/rate_limit.hpp>
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

// A counter's key: its name checked (clients choose it) and kept apart from other keys.
std::string key_of(std::string_view name, const char* field = "name") {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok) throw svckit::ValidationError(field, "1 to 64 letters, digits, '-' or '_'");
  return "counter:" + std::string(name);
}
std::string key_of(const Request& req) {
  return key_of(req.param("name"));
}

// "a,b,c": at most 100 names (each is checked as it becomes a key).
std::vector<std::string> names_of(const Request& req) {
  auto list = req.query_param("names").value_or("");
  std::vector<std::string> names;
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = std::min(list.find(',', start), list.size());
    names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  if (names.size() > 100) throw svckit::ValidationError("names", "at most 100 names");
  return names;
}

struct Counter : svckit::Module {
  void install(svckit::App& app) override {
    auto& kv = app.kv();
    auto limit = svckit::auth::rate_limit({.limit = 600,  // a minute, per client address
                                           .store = &kv,
                                           .name = "counter",
                                           .meter = &app.metrics()});
    auto api = app.http().group("/api/v1/counters", {limit, svckit::idempotency(app)});
    api.post("/{name}", [&kv](Request& req) -> svckit::Task<Response> {
      // A counter lasts a day from its first count: clients cannot fill the store for good.
      auto value = co_await kv.increment(key_of(req), 1, std::chrono::hours(24), req.deadline());
      co_return Response::json(200, {{"name", req.param("name")}, {"value", value}});
    });
    api.get("/", [&kv](Request& req) -> svckit::Task<Response> {
      auto names = names_of(req);
      svckit::kv::Batch batch;
      for (const auto& name : names) batch.get(key_of(name, "names"));
      auto replies = co_await kv.run(batch, req.deadline());
      auto counters = nlohmann::json::object();
      for (std::size_t i = 0; i < names.size(); ++i)
        counters[names[i]] =
            replies[i].is_nil() ? nlohmann::json(nullptr) : nlohmann::json(replies[i].integer());
      co_return Response::json(200, {{"counters", counters}});
    });
    api.get("/{name}", [&kv](Request& req) -> svckit::Task<Response> {
      auto value = co_await kv.get(key_of(req), req.deadline());
      if (!value) throw svckit::NotFound("no counter '" + req.param("name") + "'");
      co_return Response::json(200, {{"name", req.param("name")}, {"value", std::stoll(*value)}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Counter>("counter", argc, argv);
}
