#include "gateway.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api_document.hpp"
#include "routes.hpp"
#include "strangler.hpp"
#include "svckit/app/auth_settings.hpp"
#include "svckit/app/feature_flags.hpp"
#include "svckit/auth/api_key.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/rate_limit.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/config.hpp"
#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/client.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/http/server.hpp"
#include "tunnel.hpp"
#include "upstream.hpp"

namespace svckit::gateway {
namespace asio = boost::asio;
using http::iequals;
using http::istarts_with;
using http::Request;
using http::Response;

namespace {

// Headers that describe one connection (RFC 9110 §7.6.1) or that the client sets itself.
bool hop_by_hop(std::string_view name) {
  using namespace std::string_view_literals;  // lengths known at compile time, no strlen per call
  static constexpr std::array kHopByHop = {"Connection"sv,
                                           "Keep-Alive"sv,
                                           "Proxy-Connection"sv,
                                           "Proxy-Authenticate"sv,
                                           "TE"sv,
                                           "Proxy-Authorization"sv,
                                           "Trailer"sv,
                                           "Transfer-Encoding"sv,
                                           "Upgrade"sv,
                                           "Host"sv,
                                           "Content-Length"sv};
  for (std::string_view h : kHopByHop)
    if (iequals(name, h)) return true;
  return false;
}

// The identity the gateway vouches for. Incoming copies are always dropped: a client cannot
// claim to be anyone by sending them.
bool identity_header(std::string_view name) {
  return istarts_with(name, "X-User-") || istarts_with(name, "X-Auth-") ||
         istarts_with(name, "X-Consumer-") || iequals(name, "X-Forwarded-User");
}

// Who the client is and how it came: the gateway says so itself. Sent by a client that is not a
// trusted proxy, these are dropped (they would let it pick its address for every upstream's
// rate limits and logs).
bool forwarding_header(std::string_view name) {
  return (istarts_with(name, "X-Forwarded-") && !iequals(name, "X-Forwarded-User")) ||
         iequals(name, "X-Real-IP") || iequals(name, "Forwarded");
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : ",").append(item);
  return out;
}

// Paths that would mean something else once decoded: dot segments, encoded dots, slashes,
// backslashes and NULs, empty segments. One pass, without case (this runs on every request).
bool hostile_path(std::string_view path) {
  const std::size_t n = path.size();
  auto at = [&](std::size_t i) { return i < n ? http::ascii_lower(path[i]) : '\0'; };
  for (std::size_t i = 0; i < n; ++i) {
    char c = path[i];
    if (c == '\\') return true;
    if (c == '%') {
      char a = at(i + 1), b = at(i + 2);
      if ((a == '2' && (b == 'e' || b == 'f')) || (a == '5' && b == 'c') || (a == '0' && b == '0'))
        return true;
    }
    if (c == '/') {
      if (at(i + 1) == '/') return true;
      if (at(i + 1) == '.') {
        std::size_t after = at(i + 2) == '.' ? i + 3 : i + 2;  // "/." or "/.."
        if (after >= n || path[after] == '/') return true;
      }
    }
  }
  return false;
}

bool idempotent(http::Method m) {
  return m == http::Method::get || m == http::Method::head || m == http::Method::put ||
         m == http::Method::del || m == http::Method::options;
}

// A call in flight to a target, for least-outstanding balancing: counted out on every way out
// of the call, cancellation included. Not counted (nullptr) where nothing reads it: the count
// is a cache line every I/O thread would write on every call.
struct OutstandingCall {
  explicit OutstandingCall(std::atomic<int>* n) : count(n) {
    if (count) count->fetch_add(1, std::memory_order_relaxed);
  }
  ~OutstandingCall() {
    if (count) count->fetch_sub(1, std::memory_order_relaxed);
  }
  OutstandingCall(const OutstandingCall&) = delete;
  OutstandingCall& operator=(const OutstandingCall&) = delete;
  std::atomic<int>* count;
};

http::Middleware compose(std::vector<http::Middleware> chain, http::Handler last) {
  http::Handler handler = std::move(last);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    handler = [mw = *it, next = std::move(handler)](Request& req) { return mw(req, next); };
  return [handler](Request& req, const http::Handler&) { return handler(req); };
}

// When `path` was last written (seconds, nanoseconds); zeros when it cannot be read.
std::pair<long, long> modified(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return {0, 0};
  return {info.st_mtim.tv_sec, info.st_mtim.tv_nsec};
}

}  // namespace

struct Compiled;

// A split route's state: each side's recent record and whether the new side was rolled back.
// Kept across reloads while the route's split is unchanged (a rollback stays until the
// operator writes a new weight).
struct SplitState {
  explicit SplitState(std::chrono::seconds window) : fresh(window), legacy(window) {}
  WindowStats fresh, legacy;
  std::atomic<bool> rolled_back{false};
  std::atomic<std::int64_t> last_check_ms{0};
};

// One route of the loaded configuration, ready to serve.
struct CompiledRoute {
  RouteConfig config;
  std::weak_ptr<const Compiled> owner;  // kept alive by a shadow call in flight
  std::shared_ptr<Upstream> upstream;
  std::shared_ptr<Upstream> legacy;  // with a split
  std::shared_ptr<SplitState> split;
  // What every request counts, from every I/O thread: sharded cells (svckit/meter.hpp).
  meter::Counter* to_new = nullptr;
  meter::Counter* to_legacy = nullptr;
  prometheus::Counter* shadow_match = nullptr;
  prometheus::Counter* shadow_mismatch = nullptr;
  prometheus::Counter* shadow_error = nullptr;
  prometheus::Counter* rollbacks = nullptr;
  prometheus::Gauge* rolled_back = nullptr;
  http::Middleware handle;  // edge checks, then the proxy
  meter::Counter* requests[6] = {};
  meter::Counter* retries = nullptr;
  meter::Histogram* duration = nullptr;
};

struct Compiled {
  RoutesConfig config;
  std::map<std::string, std::shared_ptr<Upstream>> upstreams;
  std::vector<std::unique_ptr<CompiledRoute>> routes;
  std::vector<std::pair<std::string, CompiledRoute*>> prefixes;  // longest first

  ~Compiled() {
    for (auto& [name, u] : upstreams) u->stop();
  }

  // The route for `path`: its longest matching prefix.
  const CompiledRoute* match(std::string_view path) const {
    for (const auto& [prefix, route] : prefixes)
      if (prefix == "/" || path == prefix ||
          (path.size() > prefix.size() && path.starts_with(prefix) && path[prefix.size()] == '/'))
        return route;
    return nullptr;
  }
};

struct Gateway::State {
  // The system's API as its clients see it: what each upstream's /openapi.json says of the
  // operations routed to it unchanged (api_document.hpp). Built at most every kApiDocumentTtl,
  // whoever asks how often, and fetched over the health checks' clients: asking for it cannot
  // load the upstreams or trip the breakers real traffic uses. An upstream that does not answer
  // is left out and logged.
  static constexpr auto kApiDocumentTtl = std::chrono::seconds(10);
  std::mutex api_document_mutex;
  std::shared_ptr<const std::string> api_document_text;
  std::chrono::steady_clock::time_point api_document_at;

  Task<Response> api_document(Request& req) {
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(api_document_mutex);
      if (api_document_text && now - api_document_at < kApiDocumentTtl)
        co_return Response::json_text(200, *api_document_text);
    }
    auto table = current.load();
    std::vector<UpstreamDocument> documents;
    for (const auto& [name, upstream] : table->upstreams) {
      Target* target = upstream->pick();
      if (!target) continue;
      std::string why;
      try {
        auto answer = co_await target->health_client->get("/openapi.json", &req.context());
        auto parsed = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
        if (answer.status == 200 && parsed.is_object())
          documents.push_back({name, std::move(parsed)});
        else
          why = "answered " + std::to_string(answer.status);
      } catch (const std::exception& e) {
        why = e.what();
      }
      if (!why.empty())
        req.log(log::Level::warning, "upstream API document unavailable",
                {{"upstream", name}, {"error", why}});
    }
    auto upstream_of = [&table](std::string_view path,
                                std::string_view method) -> std::optional<std::string> {
      const CompiledRoute* route = table->match(path);
      if (!route || route->config.strip_prefix || route->config.rewrite_prefix) return std::nullopt;
      const auto& methods = route->config.methods;
      if (!methods.empty() &&
          std::none_of(methods.begin(), methods.end(),
                       [&](const std::string& m) { return iequals(m, method); }))
        return std::nullopt;
      return route->config.upstream;
    };
    auto text = std::make_shared<const std::string>(
        merge_api_documents(app->config().service_name, documents, upstream_of).dump());
    {
      std::lock_guard lock(api_document_mutex);
      api_document_text = text;
      api_document_at = now;
    }
    co_return Response::json_text(200, *text);
  }

  App* app = nullptr;
  const flags::FlagClient* flags = nullptr;  // for splits decided by a feature flag
  TrustedProxies trusted_proxies;            // the peers whose X-Forwarded-* pass to upstreams
  std::string routes_path;
  auth::BearerOptions bearer;  // the verifier from the shared settings; API keys per config
  std::atomic<std::shared_ptr<const Compiled>> current;
  // Where each I/O thread finds `current` (routes()): a slot per thread, refilled by publish().
  struct RoutesSlot {
    alignas(64) std::atomic<std::shared_ptr<const std::shared_ptr<const Compiled>>> holder;
  };
  std::mutex slots_mutex;
  std::vector<std::unique_ptr<RoutesSlot>> slots;
  const std::uint64_t id = next_id();  // never reused, unlike an address: keys the slots
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> next{1};
    return next++;
  }
  std::mutex reload_mutex;
  std::pair<long, long> loaded_mtime{0, 0};  // the routes file's, to see an edit
  meter::Family<meter::Counter>* requests = nullptr;
  meter::Family<meter::Counter>* retries = nullptr;
  meter::Family<meter::Histogram>* duration = nullptr;
  prometheus::Family<prometheus::Counter>* reloads = nullptr;
  meter::Family<meter::Counter>* splits = nullptr;
  prometheus::Family<prometheus::Counter>* shadows = nullptr;
  prometheus::Family<prometheus::Counter>* rollbacks = nullptr;
  prometheus::Family<prometheus::Gauge>* rolled_back = nullptr;
  bus::Bus* bus = nullptr;
  kv::Store* kv = nullptr;  // where rate limits live: REDIS_URL's, shared by every replica
  std::map<std::string, std::shared_ptr<SplitState>> split_states;  // by route and split

  std::shared_ptr<Compiled> compile(RoutesConfig config);
  Task<Response> proxy(const CompiledRoute& route, Request& req) const;
  void judge(const CompiledRoute& route) const;
  Task<void> shadow(std::shared_ptr<const Compiled> keep, const CompiledRoute& route,
                    Upstream& other, http::ClientRequest out, int status, std::string body) const;
  Task<Response> serve(Request& req, const http::Handler& next);
  bool reload();
  void publish(std::shared_ptr<const Compiled> routes);
  std::shared_ptr<const Compiled> routes();
};

std::shared_ptr<Compiled> Gateway::State::compile(RoutesConfig config) {
  auto out = std::make_shared<Compiled>();
  for (const auto& [name, u] : config.upstreams)
    out->upstreams.emplace(name, std::make_shared<Upstream>(u, app->metrics(), app->logger()));
  auto options = bearer;
  if (!config.consumers.empty()) {
    auto consumers = std::make_shared<std::vector<Consumer>>(config.consumers);
    options.api_keys = [consumers](std::string key) -> Task<std::optional<auth::Principal>> {
      auto hash = auth::api_key_hash(key);
      for (const auto& c : *consumers)
        if (auth::same_hash(hash, c.api_key_sha256)) {
          auth::Principal p;
          p.id = c.name;
          p.method = "api_key";
          p.roles = c.roles;
          co_return p;
        }
      co_return std::nullopt;
    };
  }
  for (const auto& r : config.routes) {
    if (r.access != Access::public_ && !options.verifier && !options.api_keys)
      throw std::invalid_argument("route " + r.name +
                                  " needs authentication: set JWT_SECRET_KEY (or JWKS_URL, ...) "
                                  "or give consumers API keys");
  }
  auto with_roles = options;
  std::map<std::string, std::shared_ptr<SplitState>> states;
  for (auto& r : config.routes) {
    auto route = std::make_unique<CompiledRoute>();
    route->config = r;
    route->upstream = out->upstreams.at(r.upstream);
    std::vector<http::Middleware> chain;
    // With REDIS_URL every gateway replica counts against the route's one limit; if Redis is
    // away the limit fails open (rate_limit_store_unavailable_total counts it), as Kong's
    // "fault_tolerant" does.
    auto limit = [&](auth::RateKey key, std::string_view by) {
      return auth::rate_limit({.limit = *r.rate_limit_per_minute,
                               .window = std::chrono::seconds(60),
                               .key = key,
                               .kong_headers = true,
                               .store = kv,
                               .name = "gateway:" + r.name + ":" + std::string(by),
                               .when_store_away = auth::StoreAway::allow,
                               .meter = &app->metrics()});
    };
    if (r.rate_limit_per_minute && r.rate_by == RateBy::ip)
      chain.push_back(limit(auth::RateKey::client_ip, "ip"));
    if (r.access != Access::public_) chain.push_back(auth::bearer(with_roles));
    if (r.access == Access::permission) chain.push_back(auth::require(r.permission));
    if (r.rate_limit_per_minute && r.rate_by == RateBy::consumer)
      chain.push_back(limit(auth::RateKey::principal, "consumer"));
    const CompiledRoute* self = route.get();
    const State* state = this;
    // The proxy's own task, not a coroutine around it: one frame fewer per request.
    route->handle =
        compose(std::move(chain), [state, self](Request& req) { return state->proxy(*self, req); });
    for (std::size_t s = 0; s < 6; ++s) {
      static const char* classes[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
      route->requests[s] =
          &requests->add({{"route", r.name}, {"upstream", r.upstream}, {"status", classes[s]}});
    }
    route->retries = &retries->add({{"route", r.name}});
    if (r.split) {
      route->legacy = out->upstreams.at(r.split->legacy);
      std::string key = r.name + "|" + r.upstream + "|" + r.split->legacy + "|" +
                        std::to_string(r.split->weight) + "|" + r.split->flag;
      auto window = r.rollback ? r.rollback->window : std::chrono::seconds(60);
      auto& kept = states[key];
      if (auto it = split_states.find(key); it != split_states.end()) kept = it->second;
      if (!kept) kept = std::make_shared<SplitState>(window);
      route->split = kept;
      route->to_new = &splits->add({{"route", r.name}, {"side", "new"}});
      route->to_legacy = &splits->add({{"route", r.name}, {"side", "legacy"}});
      route->shadow_match = &shadows->Add({{"route", r.name}, {"result", "match"}});
      route->shadow_mismatch = &shadows->Add({{"route", r.name}, {"result", "mismatch"}});
      route->shadow_error = &shadows->Add({{"route", r.name}, {"result", "error"}});
      route->rollbacks = &rollbacks->Add({{"route", r.name}});
      route->rolled_back = &rolled_back->Add({{"route", r.name}});
      route->rolled_back->Set(kept->rolled_back ? 1 : 0);
    }
    route->duration = &duration->add({{"route", r.name}}, metrics::default_latency_buckets());
    for (const auto& p : r.paths) out->prefixes.emplace_back(p, route.get());
    out->routes.push_back(std::move(route));
  }
  std::stable_sort(out->prefixes.begin(), out->prefixes.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  out->config = std::move(config);
  for (auto& route : out->routes) route->owner = out;
  split_states = std::move(states);  // compile() runs under reload_mutex or before serving
  // Weak: an upstream dropped by a reload is freed once its check loop sees stop(), not kept
  // by the App's list of background work.
  for (auto& [name, u] : out->upstreams) {
    std::weak_ptr<Upstream> weak = u;
    app->run_in_background("health checks of " + name, [weak]() -> Task<void> {
      if (auto upstream = weak.lock()) co_await upstream->check_health();
    });
  }
  return out;
}

namespace {

std::size_t joined_size(const std::vector<std::string>& items) {
  std::size_t size = items.empty() ? 0 : items.size() - 1;
  for (const auto& item : items) size += item.size();
  return size;
}

// The upstream's view of the request: the path rewritten, hop-by-hop and identity headers
// dropped, the verified identity and X-Forwarded-* added. Its headers are views (send_borrowed):
// into the request, the route's configuration, literals, and `composed` for the values made
// here (the joined roles and permissions, a chained X-Forwarded-For), which the caller keeps
// beside the request for the whole call: no header is copied.
http::ClientRequest upstream_request(const RouteConfig& r, Request& req, std::string& composed,
                                     const TrustedProxies& trusted_proxies) {
  if (req.body().size() > r.max_body_bytes)
    throw PayloadTooLarge("the body is larger than " + std::to_string(r.max_body_bytes) +
                          " bytes for " + r.name);
  http::ClientRequest out;
  out.method = req.method();
  auto& headers = out.borrowed_headers;
  headers.reserve(req.headers().size() + r.request_headers.add.size() + 9);
  std::string_view path = req.path();
  std::string_view rest;
  for (const auto& p : r.paths)
    if (path.starts_with(p)) {
      rest = path.substr(p == "/" ? 0 : p.size());
      break;
    }
  if (r.strip_prefix)
    out.target = rest.empty() ? "/" : std::string(rest);
  else if (r.rewrite_prefix)
    out.target = *r.rewrite_prefix + std::string(rest);
  else
    out.target = std::string(path);
  if (!req.query().empty()) out.target.append("?").append(req.query());
  // A trusted proxy's X-Forwarded-Proto, -Host and Forwarded describe the client's request and
  // pass; X-Forwarded-For and X-Real-IP are always the gateway's.
  const bool from_proxy = trusted_proxies.contains(req.peer_address());
  bool forwarded_proto = false, forwarded_host = false;
  for (const auto& [name, value] : req.headers()) {
    if (hop_by_hop(name) || identity_header(name) || iequals(name, "X-Request-ID") ||
        iequals(name, "traceparent") || iequals(name, "tracestate"))
      continue;
    if (forwarding_header(name)) {
      if (!from_proxy || iequals(name, "X-Forwarded-For") || iequals(name, "X-Real-IP")) continue;
      forwarded_proto = forwarded_proto || iequals(name, "X-Forwarded-Proto");
      forwarded_host = forwarded_host || iequals(name, "X-Forwarded-Host");
    }
    if (iequals(name, "Content-Type")) {
      out.content_type = value;
      continue;
    }
    bool removed = std::any_of(r.request_headers.remove.begin(), r.request_headers.remove.end(),
                               [&](const std::string& h) { return iequals(h, name); });
    bool replaced = std::any_of(r.request_headers.add.begin(), r.request_headers.add.end(),
                                [&](const auto& h) { return iequals(h.first, name); });
    if (!removed && !replaced) headers.emplace_back(name, value);
  }
  for (const auto& [name, value] : r.request_headers.add) headers.emplace_back(name, value);

  const auth::Principal* who = auth::principal(req);
  // A trusted proxy's chain: every X-Forwarded-For line, in order (a proxy may add a line of
  // its own after the client's).
  std::string chain;
  if (from_proxy)
    for (const auto& [name, value] : req.headers())
      if (iequals(name, "X-Forwarded-For")) chain.append(chain.empty() ? "" : ", ").append(value);
  std::optional<std::string_view> before;
  if (!chain.empty()) before = chain;
  const std::string& peer = req.peer_address();
  // Sized before anything is appended: the views into `composed` must not move.
  composed.clear();
  composed.reserve((before ? before->size() + 2 + peer.size() : 0) +
                   (who ? joined_size(who->roles) + joined_size(who->permissions) : 0));
  auto compose = [&composed](auto&&... parts) {
    const std::size_t at = composed.size();
    (composed.append(parts), ...);
    return std::string_view(composed).substr(at);
  };
  auto join = [&composed](const std::vector<std::string>& items) {
    const std::size_t at = composed.size();
    for (const auto& item : items) composed.append(composed.size() > at ? "," : "").append(item);
    return std::string_view(composed).substr(at);
  };
  headers.emplace_back("X-Forwarded-For", before ? compose(*before, std::string_view(", "), peer)
                                                 : std::string_view(peer));
  headers.emplace_back("X-Real-IP", req.remote_address());
  if (!forwarded_proto) headers.emplace_back("X-Forwarded-Proto", "http");
  if (auto host = req.header("Host"); host && !forwarded_host)
    headers.emplace_back("X-Forwarded-Host", *host);
  if (who) {
    headers.emplace_back("X-User-ID", who->id);
    if (!who->email.empty()) headers.emplace_back("X-User-Email", who->email);
    headers.emplace_back("X-User-Roles", join(who->roles));
    headers.emplace_back("X-User-Permissions", join(who->permissions));
    headers.emplace_back("X-Auth-Method", who->method);
  }
  out.body = req.body();
  out.context = &req.context();
  out.deadline = Deadline::at(req.received_at() + r.timeout);  // from the request's arrival
  out.idempotent = false;  // retries are the gateway's (proxy())
  return out;
}

// The client's view of the upstream's answer: hop-by-hop headers and the upstream's own Date,
// Server and X-Request-ID dropped (the gateway sets its own), the route's changes made.
Response client_answer(const RouteConfig& r, http::ClientResponse& res) {
  Response answer;
  answer.status = res.status;
  answer.headers.reserve(res.headers.size() + r.response_headers.add.size());
  for (auto& [name, value] : res.headers) {
    if (hop_by_hop(name) || iequals(name, "Date") || iequals(name, "Server") ||
        iequals(name, "X-Request-ID"))
      continue;
    if (iequals(name, "Content-Type")) {
      answer.content_type = std::move(value);
      continue;
    }
    bool removed = std::any_of(r.response_headers.remove.begin(), r.response_headers.remove.end(),
                               [&](const std::string& h) { return iequals(h, name); });
    if (!removed) answer.headers.emplace_back(std::move(name), std::move(value));
  }
  for (const auto& [name, value] : r.response_headers.add) answer.set_header(name, value);
  answer.body = std::move(res.body);
  return answer;
}

// What a split's flag is evaluated with: who asks, and what.
nlohmann::json split_context(std::string_view route, std::string_view subject, const Request& req) {
  return {{"targetingKey", subject},
          {"route", route},
          {"method", http::method_name(req.method())},
          {"path", req.path()}};
}

}  // namespace

Task<Response> Gateway::State::proxy(const CompiledRoute& route, Request& req) const {
  const RouteConfig& r = route.config;
  std::string composed;  // what `out`'s header views made here point into; lives with `out`
  http::ClientRequest out = upstream_request(r, req, composed, trusted_proxies);
  if (asks_to_upgrade(req)) {  // a WebSocket: to one target, relayed once it switches
    Target* target = route.upstream->pick();
    if (!target)
      throw ServiceUnavailable("no healthy target in upstream " + route.upstream->config().name, 1);
    co_return co_await tunnel(target->url, req, out.owning(), r.timeout);
  }
  Upstream* primary = route.upstream.get();
  Upstream* other = nullptr;
  bool fresh = true;
  if (route.split) {
    const auth::Principal* who = auth::principal(req);
    const std::string_view subject = who ? std::string_view(who->id) : req.remote_address();
    fresh = !route.split->rolled_back.load(std::memory_order_relaxed) &&
            (r.split->flag.empty()
                 ? choose_new(*r.split, r.name, subject)
                 : flags->boolean(r.split->flag, choose_new(*r.split, r.name, subject),
                                  split_context(r.name, subject, req)));
    primary = fresh ? route.upstream.get() : route.legacy.get();
    other = fresh ? route.legacy.get() : route.upstream.get();
    (fresh ? route.to_new : route.to_legacy)->increment();
  }
  // The shadow, which runs after the answer (and the request) are gone, gets its own copy.
  std::optional<http::ClientRequest> shadow_request;
  if (r.shadow && other &&
      (req.method() == http::Method::get || req.method() == http::Method::head) &&
      draw_percent(r.shadow->percent))
    shadow_request = out.owning();
  auto started = route.split ? std::chrono::steady_clock::now()  // for the rollback triggers
                             : std::chrono::steady_clock::time_point();
  // One call to the upstream, retried on another of its targets while attempts are left (for
  // idempotent calls) on no answer or 502/503/504. Here, not in a coroutine of its own: one
  // frame fewer per request.
  const int attempts = idempotent(req.method()) ? 1 + r.retries : 1;
  const Target* failed = nullptr;
  std::optional<http::ClientResponse> res;
  std::exception_ptr failure;
  for (int attempt = 1;; ++attempt) {
    Target* target = primary->pick(failed);
    if (!target) {
      failure = std::make_exception_ptr(
          ServiceUnavailable("no healthy target in upstream " + primary->config().name, 1));
      break;
    }
    {
      OutstandingCall counted(
          primary->config().balance == Balance::least_outstanding ? &target->outstanding : nullptr);
      try {
        res = co_await target->client->send_borrowed(out);  // `out` outlives every attempt
      } catch (const http::UpstreamError&) {
        failure = std::current_exception();
      } catch (...) {
        failure = std::current_exception();
        attempt = attempts;  // not the upstream's failure: no other target would do better
      }
    }
    // A good answer first: it needs no look at the clock.
    if ((res && res->status != 502 && res->status != 503 && res->status != 504) ||
        attempt >= attempts || out.deadline.expired())
      break;
    route.retries->increment();
    failed = target;
    res.reset();
    failure = nullptr;
  }
  if (route.split) {
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bool failed = failure || res->status >= 500;
    (fresh ? route.split->fresh : route.split->legacy).record(took, failed);
    if (r.rollback && fresh) judge(route);
  }
  if (failure) std::rethrow_exception(failure);
  if (shadow_request)
    if (auto keep = route.owner.lock()) {
      auto executor = co_await asio::this_coro::executor;
      asio::co_spawn(executor,
                     shadow(std::move(keep), route, *other, std::move(*shadow_request), res->status,
                            res->body),
                     asio::detached);
    }
  co_return client_answer(r, *res);
}

// The seed's rollback triggers for the new side, checked at most every 100 ms per route.
void Gateway::State::judge(const CompiledRoute& route) const {
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  auto last = route.split->last_check_ms.load(std::memory_order_relaxed);
  if (now_ms - last < 100 ||
      !route.split->last_check_ms.compare_exchange_strong(last, now_ms, std::memory_order_relaxed))
    return;
  auto fresh = route.split->fresh.summary();
  auto legacy = route.split->legacy.summary();
  auto reason = rollback_reason(*route.config.rollback, fresh, legacy);
  if (!reason || route.split->rolled_back.exchange(true)) return;
  route.rolled_back->Set(1);
  route.rollbacks->Increment();
  const auto& r = route.config;
  app->logger().error("rollback: the new upstream's weight is 0", {{"route", r.name},
                                                                   {"upstream", r.upstream},
                                                                   {"legacy", r.split->legacy},
                                                                   {"reason", *reason}});
  if (bus)
    bus->publish_soon("gateway.rollback", {{"route", r.name},
                                           {"upstream", r.upstream},
                                           {"legacy", r.split->legacy},
                                           {"reason", *reason},
                                           {"error_rate", fresh.error_rate()},
                                           {"p95_ms", fresh.p95 * 1000},
                                           {"legacy_p95_ms", legacy.p95 * 1000},
                                           {"requests", fresh.requests}});
}

// The same request to the other side after the client has its answer; the two answers compared
// by status and JSON body (listed fields left out). Only ever counted and logged.
Task<void> Gateway::State::shadow(std::shared_ptr<const Compiled> keep, const CompiledRoute& route,
                                  Upstream& other, http::ClientRequest out, int status,
                                  std::string body) const {
  (void)keep;
  const auto& r = route.config;
  out.context = nullptr;  // the client's request is gone by now
  out.deadline = Deadline::after(r.timeout);
  Target* target = other.pick();
  std::optional<std::string> difference;
  try {
    if (!target) throw std::runtime_error("no healthy target");
    auto res = co_await target->client->send(out);
    if (res.status != status) {
      difference = "status " + std::to_string(status) + " vs " + std::to_string(res.status);
    } else {
      auto a = nlohmann::json::parse(body, nullptr, false);
      auto b = nlohmann::json::parse(res.body, nullptr, false);
      if (a.is_discarded() || b.is_discarded())
        difference = body == res.body ? std::nullopt
                                      : std::optional<std::string>("bodies differ (not JSON)");
      else
        difference = first_difference(a, b, r.shadow->ignore_fields);
    }
  } catch (const std::exception&) {
    route.shadow_error->Increment();
    co_return;
  }
  if (!difference) {
    route.shadow_match->Increment();
    co_return;
  }
  route.shadow_mismatch->Increment();
  app->logger().warning("shadow answer differs", {{"route", r.name},
                                                  {"shadow", other.config().name},
                                                  {"target", out.target},
                                                  {"difference", *difference}});
}

// The routes in force, for one request. Each thread reads its own slot, whose holder has a
// control block of its own: the I/O threads never write the same reference count (nor
// atomic<shared_ptr>'s lock) per request, as one shared `current` would make them.
std::shared_ptr<const Compiled> Gateway::State::routes() {
  thread_local std::vector<std::pair<std::uint64_t, RoutesSlot*>> mine;  // by State::id
  RoutesSlot* slot = nullptr;
  for (auto& [owner, s] : mine)
    if (owner == id) slot = s;
  if (!slot) {
    std::lock_guard lock(slots_mutex);  // publish() refills under it: never a stale slot
    slots.push_back(std::make_unique<RoutesSlot>());
    slot = slots.back().get();
    slot->holder.store(std::make_shared<const std::shared_ptr<const Compiled>>(current.load()));
    mine.emplace_back(id, slot);
  }
  auto holder = slot->holder.load(std::memory_order_acquire);
  return std::shared_ptr<const Compiled>(holder, holder->get());
}

// Puts new routes in force: requests that start from now on get them, those in flight keep
// theirs. Under reload_mutex or before serving.
void Gateway::State::publish(std::shared_ptr<const Compiled> routes) {
  current.store(routes, std::memory_order_release);
  std::lock_guard lock(slots_mutex);
  for (auto& slot : slots)
    slot->holder.store(std::make_shared<const std::shared_ptr<const Compiled>>(routes),
                       std::memory_order_release);
}

Task<Response> Gateway::State::serve(Request& req, const http::Handler& next) {
  if (req.matched_route()) co_return co_await next(req);  // the gateway's own /health, /metrics
  auto compiled = routes();
  const auto& cors = compiled->config.cors;
  auto origin = cors.allow_origins.empty() ? std::nullopt : req.header("Origin");
  bool cors_ok =
      origin && std::any_of(cors.allow_origins.begin(), cors.allow_origins.end(),
                            [&](const std::string& o) { return o == "*" || o == *origin; });
  if (cors_ok && req.method() == http::Method::options &&
      req.header("Access-Control-Request-Method")) {
    Response pre = Response::empty(204);
    pre.set_header("Access-Control-Allow-Origin", std::string(*origin));
    pre.set_header("Access-Control-Allow-Methods", joined(cors.allow_methods));
    pre.set_header("Access-Control-Allow-Headers", joined(cors.allow_headers));
    pre.set_header("Access-Control-Max-Age", std::to_string(cors.max_age.count()));
    pre.set_header("Vary", "Origin");
    co_return pre;
  }
  if (hostile_path(req.path()))
    throw BadRequest("the path holds dot segments or encoded separators");
  const CompiledRoute* route = compiled->match(req.path());
  if (!route) throw NotFound("no route for " + std::string(req.path()));
  const auto& methods = route->config.methods;
  if (!methods.empty() &&
      std::find(methods.begin(), methods.end(), req.method_name()) == methods.end())
    throw MethodNotAllowed(
        std::string(req.method_name()) + " is not allowed on " + route->config.name,
        joined(methods));
  Response res;
  try {
    res = co_await route->handle(req, next);
  } catch (const Error& e) {  // UpstreamError too: 502, 503, 504
    route->requests[std::clamp(e.status() / 100, 1, 5)]->increment();
    throw;
  }
  route->requests[std::clamp(res.status / 100, 1, 5)]->increment();
  route->duration->observe(  // from the request's arrival, read once by the server
      std::chrono::duration<double>(std::chrono::steady_clock::now() - req.received_at()).count());
  if (cors_ok) {
    res.set_header("Access-Control-Allow-Origin", std::string(*origin));
    res.set_header("Vary", "Origin");
  }
  co_return res;
}

bool Gateway::State::reload() {
  std::lock_guard lock(reload_mutex);
  loaded_mtime = modified(routes_path);
  try {
    auto compiled = compile(load_routes(routes_path));
    std::size_t routes = compiled->routes.size();
    publish(std::move(compiled));
    reloads->Add({{"result", "loaded"}}).Increment();
    app->logger().info("routes loaded",
                       {{"file", routes_path}, {"routes", std::to_string(routes)}});
    return true;
  } catch (const std::exception& e) {
    reloads->Add({{"result", "rejected"}}).Increment();
    app->logger().error("routes file rejected; the previous routes keep serving",
                        {{"file", routes_path}, {"error", e.what()}});
    return false;
  }
}

Gateway::Gateway() : state_(std::make_shared<State>()) {}
Gateway::~Gateway() = default;

void Gateway::declare(Settings& settings) {
  settings.declare("gateway", {.name = "GATEWAY_ROUTES",
                               .type = SettingType::file,
                               .required = true,
                               .help = "the routes file (services/gateway/config/*.json)"});
  settings.declare("gateway", {.name = "GATEWAY_PUBLIC_METRICS",
                               .type = SettingType::boolean,
                               .default_value = "false",
                               .help = "serve /metrics on the public PORT too (default: only on "
                                       "METRICS_PORT)"});
}

void Gateway::install(App& app) {
  auto& s = *state_;
  s.app = &app;
  s.routes_path = app.settings().text("GATEWAY_ROUTES");
  // Its port faces the internet: metrics tell an attacker the routes, upstreams and load.
  if (!app.settings().boolean("GATEWAY_PUBLIC_METRICS")) app.keep_metrics_off_public_port();
  s.trusted_proxies = app.config().trusted_proxies;
  s.bearer = bearer_options_from_settings(app);
  s.requests = &app.metrics().counters(
      "gateway_requests_total", "Requests through the gateway, by route, upstream and status.");
  s.retries = &app.metrics().counters("gateway_retries_total",
                                      "Calls retried on another target, by route.");
  s.duration =
      &app.metrics().histograms("gateway_request_duration_seconds",
                                "Time from request to answer through the gateway, by route.");
  s.reloads = &app.metrics().counter("gateway_config_reloads_total",
                                     "Routes file loads, by result (loaded, rejected).");
  s.splits =
      &app.metrics().counters("gateway_split_requests_total",
                              "Requests of split routes, by the side that answered (new, legacy).");
  s.shadows = &app.metrics().counter("gateway_shadow_requests_total",
                                     "Shadowed requests, by result (match, mismatch, error).");
  s.rollbacks = &app.metrics().counter("gateway_rollbacks_total",
                                       "Automatic rollbacks of a route's new upstream.");
  s.rolled_back = &app.metrics().gauge("gateway_route_rolled_back",
                                       "1 while a split route's new upstream is rolled back to 0.");
  s.bus = &app.bus();
  s.kv = &app.kv();
  s.flags = &app.require<FeatureFlags>().client();
  try {
    s.publish(s.compile(load_routes(s.routes_path)));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("GATEWAY_ROUTES", e.what());
  }
  app.logger().info("routes loaded", {{"file", s.routes_path},
                                      {"routes", std::to_string(s.current.load()->routes.size())}});
  s.loaded_mtime = modified(s.routes_path);
  app.http().use([state = state_](Request& req, const http::Handler& next) {
    return state->serve(req, next);
  });
  app.http()
      .group("")
      .get("/openapi.json", [state = state_](Request& req) { return state->api_document(req); })
      .hidden();
}

Task<void> Gateway::start(App& app) {
  std::weak_ptr<State> weak = state_;
  // SIGHUP reloads, as with nginx.
  app.run_in_background("routes reload on SIGHUP", [weak]() -> Task<void> {
    asio::signal_set hup(co_await asio::this_coro::executor, SIGHUP);
    for (;;) {
      co_await hup.async_wait(asio::use_awaitable);
      if (auto s = weak.lock()) s->reload();
    }
  });
  // So does a change of the file (its modification time, checked every second).
  app.run_in_background("routes file watch", [weak]() -> Task<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      timer.expires_after(std::chrono::seconds(1));
      co_await timer.async_wait(asio::use_awaitable);
      auto s = weak.lock();
      if (!s) co_return;
      if (modified(s->routes_path) != s->loaded_mtime) s->reload();
    }
  });
  co_return;
}

bool Gateway::reload() {
  return state_->reload();
}

}  // namespace svckit::gateway
