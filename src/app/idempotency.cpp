#include "svckit/app/idempotency.hpp"

#include <charconv>

#include "svckit/auth/api_key.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/ids.hpp"

namespace svckit {
namespace {

constexpr std::size_t kMaxKey = 255;
const char* const kHeader = "Idempotency-Key";

// The caller a key belongs to, hashed (a token is long and secret).
std::string scope_of(const http::Request& req) {
  if (const auto* who = auth::principal(req)) return auth::sha256_hex({"p:", who->id});
  if (auto a = req.header("Authorization")) return auth::sha256_hex({"a:", *a});
  if (auto k = req.header("X-API-Key")) return auth::sha256_hex({"k:", *k});
  return auth::sha256_hex({"ip:", req.remote_address()});
}

std::string fingerprint_of(const http::Request& req) {
  return auth::sha256_hex({req.method_name(), " ", req.target(), "\n", req.body()});
}

// What the store holds under a key: "P<fingerprint><nonce>" while the first request runs (the
// nonce is the run's own: a run that outlived its lock cannot overwrite the next run's), then
// "D<fingerprint> <status> <header count>\n<name>: <value>\n...<body>".
std::string stored(const std::string& fingerprint, const http::Response& r) {
  std::string out = "D" + fingerprint + " " + std::to_string(r.status) + " " +
                    std::to_string(r.headers.size() + 1) + "\n";
  out += "Content-Type: " + r.content_type + "\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\n";
  return out + r.body;
}

std::optional<http::Response> replayed(std::string_view held) {
  auto space = held.find(' ');
  auto line_end = held.find('\n');
  if (space == std::string_view::npos || line_end == std::string_view::npos) return std::nullopt;
  int status = 0, count = 0;
  auto head = held.substr(space + 1, line_end - space - 1);
  auto gap = head.find(' ');
  if (gap == std::string_view::npos) return std::nullopt;
  std::from_chars(head.data(), head.data() + gap, status);
  std::from_chars(head.data() + gap + 1, head.data() + head.size(), count);
  http::Response r;
  r.status = status;
  auto rest = held.substr(line_end + 1);
  for (int i = 0; i < count; ++i) {
    auto end = rest.find('\n');
    auto colon = rest.find(": ");
    if (end == std::string_view::npos || colon == std::string_view::npos || colon > end)
      return std::nullopt;
    std::string name(rest.substr(0, colon)), value(rest.substr(colon + 2, end - colon - 2));
    if (name == "Content-Type")
      r.content_type = std::move(value);
    else
      r.headers.emplace_back(std::move(name), std::move(value));
    rest.remove_prefix(end + 1);
  }
  r.body = std::string(rest);
  r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

void check_key(std::string_view key) {
  bool printable = !key.empty() && key.size() <= kMaxKey;
  for (char c : key) printable = printable && c >= 0x21 && c <= 0x7e;
  if (!printable) throw BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters");
}

ServiceUnavailable store_away(const ServiceUnavailable& e) {
  return ServiceUnavailable(
      std::string("idempotency keys cannot be checked now, try again: ") + e.what(), 1);
}

Task<http::Response> run_once(std::shared_ptr<const IdempotencyOptions> o, http::Request& req,
                              const http::Handler& next) {
  auto key = std::string(*req.header(kHeader));
  check_key(key);
  auto fingerprint = fingerprint_of(req);
  auto slot = "idem:" + o->scope + ":" + scope_of(req) + ":" + key;
  bool first = false;
  std::optional<std::string> held;
  const std::string lock = "P" + fingerprint + uuid_v4();
  try {
    // Held at least as long as the request may run.
    auto lock_for = std::max<std::chrono::milliseconds>(
        o->lock_for, req.deadline().is_set() ? req.deadline().remaining() + std::chrono::seconds(1)
                                             : std::chrono::milliseconds(0));
    first = co_await o->store->add(slot, lock, lock_for, req.deadline());
    if (!first) held = co_await o->store->get(slot, req.deadline());
  } catch (const ServiceUnavailable& e) {
    throw store_away(e);
  }
  if (!first) {
    if (!held || held->size() < 65) {
      Conflict busy("a request with this Idempotency-Key was just finished or released; retry");
      busy.with_header("Retry-After", "1");
      throw busy;
    }
    if (std::string_view(*held).substr(1, 64) != fingerprint)
      throw ValidationError(kHeader, "was used for a different request (method, path or body)");
    if ((*held)[0] == 'P') {
      Conflict busy("a request with this Idempotency-Key is still being processed");
      busy.with_header("Retry-After", "1");
      throw busy;
    }
    auto answer = replayed(*held);
    if (!answer)
      throw ServiceUnavailable("the stored answer of this Idempotency-Key is unreadable", 1);
    co_return std::move(*answer);
  }
  std::optional<http::Response> response;
  std::exception_ptr failure;
  try {
    response = co_await next(req);
  } catch (...) {
    failure = std::current_exception();
  }
  bool keep = !failure && response->status < 500 && response->body.size() <= o->max_stored;
  // Only while the key still holds this run's lock; released, it expires at once.
  auto outcome = keep ? stored(fingerprint, *response) : std::string();
  auto keep_for = keep ? std::chrono::milliseconds(o->keep_for) : std::chrono::milliseconds(1);
  try {
    co_await o->store->compare_and_set(slot, lock, std::move(outcome), keep_for);
  } catch (const std::exception&) {
    // The key stays held until lock_for passes: a retry meanwhile gets 409, not a second run.
  }
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*response);
}

}  // namespace

http::Middleware idempotency(IdempotencyOptions options) {
  if (!options.store) throw std::logic_error("idempotency() needs a store");
  auto o = std::make_shared<const IdempotencyOptions>(std::move(options));
  return http::Middleware(
      [o](http::Request& req, const http::Handler& next) -> Task<http::Response> {
        bool applies = req.method() == http::Method::post || req.method() == http::Method::patch;
        if (!applies || !req.header(kHeader)) return next(req);
        return run_once(o, req, next);
      },
      [](http::RouteDoc& doc) {
        doc.errors.insert(409);
        doc.errors.insert(422);
      });
}

http::Middleware idempotency(App& app) {
  return idempotency({.store = &app.kv(), .scope = app.config().service_name});
}

}  // namespace svckit
