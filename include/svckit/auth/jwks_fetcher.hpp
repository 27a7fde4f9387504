#pragma once
// Keeps a Verifier's keys in step with an issuer's JWK set at a URL (JWKS_URL): fetched at
// start, refreshed every `refresh_interval`, and early when a token names a kid the set lacks,
// since that is how a rotation first shows (such early fetches at most once per
// `min_refresh_interval`). A failed or
// invalid fetch keeps the keys the verifier has and is retried with backoff; keys are never
// dropped because the issuer is briefly unreachable.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "svckit/auth/jwt.hpp"
#include "svckit/auth/key.hpp"
#include "svckit/http/client.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/task.hpp"

namespace svckit::auth {

struct JwksFetcherOptions {
  std::chrono::seconds refresh_interval{300};
  std::chrono::seconds min_refresh_interval{30};
  std::chrono::milliseconds timeout{5000};  // one fetch, retries included
  std::size_t max_bytes = 512 * 1024;       // a key set is a few KiB
  std::string ca_file;                      // trust for an https URL; empty: the system's CAs
  // Plain http:// lets anyone on the path swap the keys: refused unless the host is loopback
  // (a local run) or this is set (JWKS_ALLOW_HTTP).
  bool allow_plain_http = false;
  // A symmetric ("oct") key in a published set is a secret anyone who fetched it can sign
  // with: left out unless this is set (JWKS_ALLOW_SYMMETRIC).
  bool allow_symmetric = false;
  // Keys kept beside the fetched ones (JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE, JWKS_FILE).
  KeySet static_keys;
};

class JwksFetcher {
 public:
  // Throws std::invalid_argument for a URL the client cannot use, or plain http:// to a host
  // that is not loopback without allow_plain_http.
  JwksFetcher(std::string url, std::shared_ptr<Verifier> verifier, JwksFetcherOptions options,
              const log::Logger& logger);
  ~JwksFetcher();

  // Fetches once and returns the set, leaving out keys it cannot use (each logged as a warning);
  // throws KeyError (not a JWKS, or not one usable key in it) or UpstreamError.
  Task<KeySet> fetch();
  // Fetches now, then keeps the verifier's keys fresh until cancelled. Run it on an I/O loop
  // (App::run_in_background).
  Task<void> run();
  // Asks run() to fetch soon; cheap, thread-safe, rate-limited. The verifier calls it for an
  // unknown kid.
  void refresh_soon();
  // A key set has been fetched at least once.
  bool loaded() const { return loaded_.load(std::memory_order_acquire); }
  const std::string& url() const { return url_; }

 private:
  struct Wakeup;
  std::string url_;
  std::shared_ptr<Verifier> verifier_;
  JwksFetcherOptions options_;
  const log::Logger& logger_;
  http::Client client_;
  std::atomic<bool> loaded_{false};
  // When refresh_soon() last woke run() (steady clock): a flood of tokens with made-up kids
  // costs the issuer at most one fetch per min_refresh_interval.
  std::atomic<std::int64_t> last_early_fetch_ns_{std::numeric_limits<std::int64_t>::min() / 2};
  std::shared_ptr<Wakeup> wakeup_;
};

}  // namespace svckit::auth
