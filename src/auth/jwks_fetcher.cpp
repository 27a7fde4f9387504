#include "svckit/auth/jwks_fetcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "svckit/resilience/retry_policy.hpp"

namespace svckit::auth {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// "https://issuer/.well-known/jwks.json" → the client's base URL and the request target.
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme = url.find("://");
  auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

// "localhost" or an address literal on loopback ("127.0.0.1.example.com" is not one).
bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(std::string(host), error);
  return !error && address.is_loopback();
}

// The URL itself, once checked: plain http:// only to loopback or when allowed.
std::string checked_url(std::string url, const JwksFetcherOptions& o) {
  constexpr std::string_view kHttp = "http://";
  if (!url.starts_with(kHttp) || o.allow_plain_http) return url;
  auto authority = std::string_view(url).substr(kHttp.size());
  authority = authority.substr(0, authority.find_first_of("/?#"));
  auto host = authority.substr(authority.rfind('@') + 1);  // npos + 1 == 0
  host =
      host.starts_with('[') ? host.substr(0, host.find(']') + 1) : host.substr(0, host.find(':'));
  if (!is_loopback_host(host))
    throw std::invalid_argument(
        "plain http:// lets anyone on the path replace the keys: use https://, or set "
        "JWKS_ALLOW_HTTP=true for a network you trust");
  return url;
}

// Symmetric keys out of a fetched set, each named in `skipped`, unless they are allowed.
void drop_symmetric_keys(nlohmann::json& jwks, std::vector<std::string>& skipped) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) return;
  auto& keys = jwks["keys"];
  for (auto it = keys.begin(); it != keys.end();) {
    if (it->is_object() && it->value("kty", nlohmann::json()) == "oct") {
      auto kid = it->value("kid", nlohmann::json());
      skipped.push_back((kid.is_string() ? kid.get<std::string>() : std::string("(no kid)")) +
                        ": a symmetric (oct) key: a published set holds public keys only "
                        "(JWKS_ALLOW_SYMMETRIC)");
      it = keys.erase(it);
    } else {
      ++it;
    }
  }
}

http::ClientOptions client_options(const JwksFetcherOptions& o) {
  http::ClientOptions c;
  c.name = "jwks";
  c.timeout = o.timeout;
  c.max_response_bytes = o.max_bytes;
  c.ca_file = o.ca_file;
  c.retry = RetryPolicy{.max_attempts = 2, .initial_backoff = std::chrono::milliseconds(200)};
  c.breaker.reset();  // run() paces its own retries
  return c;
}

}  // namespace

// run()'s timer, so that refresh_soon() can cut its wait short from any thread, and a request
// that came while run() was not waiting (a fetch in flight may predate the rotation).
struct JwksFetcher::Wakeup {
  std::mutex mutex;
  asio::steady_timer* timer = nullptr;  // set while run() runs
  bool requested = false;               // refresh_soon() asked; the next fetch answers it

  // Clears the request, returning whether there was one.
  bool take_request() {
    std::lock_guard lock(mutex);
    return std::exchange(requested, false);
  }
};

JwksFetcher::JwksFetcher(std::string url, std::shared_ptr<Verifier> verifier,
                         JwksFetcherOptions options, const log::Logger& logger)
    : url_(checked_url(std::move(url), options)),
      verifier_(std::move(verifier)),
      options_(std::move(options)),
      logger_(logger),
      client_(split_url(url_).first, client_options(options_)),
      wakeup_(std::make_shared<Wakeup>()) {}

JwksFetcher::~JwksFetcher() = default;

Task<KeySet> JwksFetcher::fetch() {
  http::ClientRequest request;
  request.target = split_url(url_).second;
  request.headers.emplace_back("Accept", "application/json");
  auto response = co_await client_.send(std::move(request));
  if (response.status != 200)
    throw KeyError("JWKS_URL answered " + std::to_string(response.status));
  auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw KeyError("JWKS_URL did not answer with JSON");
  // An issuer's set may also hold keys this verifier cannot use (another curve, a loose
  // encoding): those are named and left out, unless nothing usable is left.
  std::vector<std::string> skipped;
  if (!options_.allow_symmetric) drop_symmetric_keys(json, skipped);
  auto keys = KeySet::from_jwks(json, skipped);
  if (keys.empty() && !skipped.empty()) throw KeyError("JWKS_URL has no usable key: " + skipped[0]);
  for (const auto& reason : skipped)
    logger_.warning("JWKS key skipped", {{"url", url_}, {"key", reason}});
  co_return keys;
}

Task<void> JwksFetcher::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  {
    std::lock_guard lock(wakeup_->mutex);
    wakeup_->timer = &timer;
  }
  struct Unregister {
    std::shared_ptr<Wakeup> wakeup;
    ~Unregister() {
      std::lock_guard lock(wakeup->mutex);
      wakeup->timer = nullptr;
    }
  } unregister{wakeup_};

  RetryPolicy backoff{.initial_backoff = std::chrono::seconds(1),
                      .max_backoff = std::min<std::chrono::milliseconds>(options_.refresh_interval,
                                                                         std::chrono::seconds(60))};
  int failures = 0;
  for (;;) {
    std::chrono::milliseconds wait = options_.refresh_interval;
    wakeup_->take_request();  // the fetch about to start answers every request so far
    try {
      auto fetched = co_await fetch();
      KeySet merged = options_.static_keys;
      for (const auto& key : fetched.keys()) merged.add(key);
      verifier_->replace_keys(std::move(merged));
      bool first = !loaded_.exchange(true, std::memory_order_acq_rel);
      failures = 0;
      logger_.write(first ? log::Level::info : log::Level::debug, "JWKS loaded",
                    {{"url", url_}, {"keys", fetched.keys().size()}});
    } catch (const std::exception& e) {
      ++failures;
      wait = backoff.backoff(failures) + std::chrono::milliseconds(100);
      logger_.warning("JWKS fetch failed; the current keys stay",
                      {{"url", url_}, {"error", e.what()}, {"retry_in_ms", wait.count()}});
    }
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
    // An unknown kid seen during that fetch: what it fetched may predate the rotation.
    if (failures == 0 && wakeup_->take_request()) continue;
    timer.expires_after(wait);
    // Cut short by refresh_soon() (operation_aborted) or by cancellation, which ends the loop.
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

void JwksFetcher::refresh_soon() {
  auto last = last_early_fetch_ns_.load(std::memory_order_relaxed);
  auto now = now_ns();
  auto min_gap = std::chrono::nanoseconds(options_.min_refresh_interval).count();
  if (now - last < min_gap) return;
  // One caller wins the slot; the others see the new time and return.
  if (!last_early_fetch_ns_.compare_exchange_strong(last, now)) return;
  std::lock_guard lock(wakeup_->mutex);
  wakeup_->requested = true;
  if (!wakeup_->timer) return;
  asio::post(wakeup_->timer->get_executor(), [wakeup = wakeup_] {
    std::lock_guard lock(wakeup->mutex);
    if (wakeup->timer) wakeup->timer->cancel();
  });
}

}  // namespace svckit::auth
