#pragma once
// The gateway's routes file (JSON): upstream pools, routes, consumers with API keys, CORS. One
// file per system under services/gateway/config/. parse_routes() refuses anything it would
// have to guess about, naming where in the file the problem is, so that a bad edit is rejected
// and the running configuration keeps serving.
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace svckit::gateway {

enum class Balance { round_robin, least_outstanding };

struct UpstreamConfig {
  std::string name;
  std::vector<std::string> targets;  // base URLs: "http://127.0.0.1:8001"
  Balance balance = Balance::round_robin;
  std::string health_path = "/ready";  // active checks: GET every health_interval; "" for none
  std::chrono::milliseconds health_interval{2000};
  int eject_after_failures = 3;  // passive: consecutive failed calls take a target out...
  std::chrono::milliseconds eject_for{10000};  // ...for this long
};

enum class Access { public_, authenticated, permission };
enum class RateBy { ip, consumer };

struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> add;  // set, replacing any copy
  std::vector<std::string> remove;
};

// Strangler fig (seed 000 §8.2-8.3): part of a route's traffic goes to the new service (the
// route's upstream), the rest to the legacy one, sticky per user.
struct SplitConfig {
  std::string legacy;  // the legacy upstream
  double weight = 0;   // percent of users sent to the new service, 0-100
  bool sticky = true;  // by the token's subject (or the client's IP): a user does not flip
  // A boolean feature flag (svckit::FeatureFlags: FLAGS_URL or FLAGS_FILE) decides instead,
  // per request, with targetingKey the token's subject (or the client's IP), route, method and
  // path in its context: true the new side. While the flag cannot answer, `weight` decides.
  std::string flag;
};
// A share of GET/HEAD requests also goes to the other side; answers are compared.
struct ShadowConfig {
  double percent = 0;
  std::vector<std::string> ignore_fields;  // JSON members left out of the comparison, any depth
};
// The seed's rollback triggers, over a sliding window.
struct RollbackConfig {
  std::chrono::seconds window{60};
  std::size_t min_requests = 50;      // on the new side before anything is judged
  double max_error_rate = 0.01;       // 5xx or no answer
  double max_latency_increase = 0.2;  // p95 over the legacy side's p95 by more than this...
  std::chrono::milliseconds min_latency_increase{5};  // ...and by at least this much
};

struct RouteConfig {
  std::string name;
  std::vector<std::string> paths;    // prefixes: "/api/v1/tasks" matches it and what is below it
  std::vector<std::string> methods;  // empty: any
  std::string upstream;
  bool strip_prefix = false;                  // "/api/v1/tasks/7" → "/7"
  std::optional<std::string> rewrite_prefix;  // "/api/v1/tasks/7" → "<rewrite>/7"
  std::chrono::milliseconds timeout{10000};
  int retries = 2;  // idempotent calls only
  Access access = Access::authenticated;
  std::string permission;  // with Access::permission
  std::optional<std::size_t> rate_limit_per_minute;
  RateBy rate_by = RateBy::consumer;
  HeaderEdits request_headers, response_headers;
  std::size_t max_body_bytes = 1 << 20;
  std::optional<SplitConfig> split;
  std::optional<ShadowConfig> shadow;      // needs split
  std::optional<RollbackConfig> rollback;  // needs split
};

struct Consumer {
  std::string name;
  std::string api_key_sha256;  // lower-case hex of the key's SHA-256: keys are never stored
  std::vector<std::string> roles;
};

struct CorsConfig {
  std::vector<std::string> allow_origins;  // "*" for any; empty: no CORS headers at all
  std::vector<std::string> allow_methods{"GET", "POST", "PUT", "PATCH", "DELETE"};
  std::vector<std::string> allow_headers{"Authorization", "Content-Type", "X-API-Key",
                                         "X-Request-ID"};
  std::chrono::seconds max_age{600};
};

struct RoutesConfig {
  std::map<std::string, UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;
  std::vector<Consumer> consumers;
  CorsConfig cors;
};

// Throws std::invalid_argument naming the member ("routes[2].upstream: no upstream 'tasks'").
RoutesConfig parse_routes(const nlohmann::json& document);
// Reads and parses a file; the same errors, prefixed with the path.
RoutesConfig load_routes(const std::string& path);

}  // namespace svckit::gateway
