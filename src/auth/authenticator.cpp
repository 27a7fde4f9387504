#include "svckit/auth/authenticator.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "svckit/auth/revocations.hpp"
#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/client_certificate.hpp"

namespace svckit::auth {
namespace {

constexpr std::size_t kMaxApiKey = 256;
constexpr std::size_t kMaxCachedToken = 2048;

Error unauthorized(const std::string& detail, bool with_error = true) {
  Unauthorized e(detail);
  e.with_header("WWW-Authenticate",
                with_error ? "Bearer error=\"invalid_token\"" : std::string("Bearer"));
  return e;
}

std::vector<std::string> string_list(const JoseObject& claims, const char* name) {
  const auto* member = claims.find(name);
  if (!member) return {};
  if (member->kind != JoseObject::Kind::array)
    throw unauthorized(std::string("\"") + name + "\" is not a list");
  auto strings = claims.strings(name);
  if (!strings) throw unauthorized(std::string("\"") + name + "\" holds a non-string");
  return std::move(*strings);
}

}  // namespace

Principal principal_of(const Token& token, const RolePermissions& roles) {
  Principal p;
  p.method = "jwt";
  p.id = token.subject();
  if (p.id.empty()) throw unauthorized("the token has no subject");
  if (auto email = token.claims.string("email")) p.email = *email;
  p.roles = string_list(token.claims, "roles");
  p.permissions = roles.permissions_of(p.roles);
  p.claims = std::make_shared<const JoseObject>(token.claims);
  for (auto& carried : string_list(token.claims, "permissions"))
    if (std::find(p.permissions.begin(), p.permissions.end(), carried) == p.permissions.end())
      p.permissions.push_back(std::move(carried));
  return p;
}

// Tokens already verified here, with the principal they gave, until they expire.
class Authenticator::VerifiedTokens {
 public:
  explicit VerifiedTokens(std::size_t capacity)
      : per_shard_(std::max<std::size_t>(1, capacity / kShards)) {}

  struct Entry {
    SharedPrincipal principal;
    std::chrono::system_clock::time_point until;
  };

  std::optional<Entry> find(std::string_view token, std::chrono::system_clock::time_point now) {
    Shard& shard = shard_of(token);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(token);
    if (it == shard.entries.end()) return std::nullopt;
    if (now >= it->second.until) {
      shard.entries.erase(it);
      return std::nullopt;
    }
    return it->second;
  }

  // Until the token expires, for at most 5 minutes.
  Entry add(std::string_view token, SharedPrincipal who,
            std::chrono::system_clock::time_point now) {
    auto until = now + std::chrono::minutes(5);
    if (auto exp = who->claims ? who->claims->number("exp") : std::nullopt) {
      auto expires = std::chrono::system_clock::time_point(
          std::chrono::seconds(static_cast<std::int64_t>(*exp)));
      until = std::min(until, expires);
    }
    Entry entry{std::move(who), until};
    Shard& shard = shard_of(token);
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= per_shard_) shard.entries.erase(shard.entries.begin());
    shard.entries.insert_or_assign(std::string(token), entry);
    return entry;
  }

  // Never reused, unlike an address: keys each thread's recent tokens (ThreadTokens).
  const std::uint64_t id = next_id();

 private:
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> next{1};
    return next++;
  }
  static constexpr std::size_t kShards = 16;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries;
  };
  Shard& shard_of(std::string_view token) { return shards_[Hash{}(token) % kShards]; }

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

namespace {

// Each thread's last few tokens, each with a principal of its own. A caller that sends one
// token over many connections (a service's token, a load test's) is then served by every I/O
// thread without writing the shared cache's lock or one principal's reference count: two
// threads writing those lines on every request pay a transfer between cores each time.
class ThreadTokens {
 public:
  using Clock = std::chrono::system_clock;
  struct Entry {
    std::uint64_t owner = 0;  // the cache's id: entries of other Authenticators never match
    std::string token;
    SharedPrincipal principal;
    bool own = false;  // a copy made for this thread
    Clock::time_point until;
  };

  // A token seen again on this thread gets a principal of this thread's own; one seen once
  // keeps the shared one (many callers with a token each pay no copy).
  SharedPrincipal find(std::uint64_t owner, std::string_view token, Clock::time_point now) {
    for (auto& e : entries_)
      if (e.owner == owner && e.token == token) {
        if (now >= e.until) {
          e.owner = 0;
          return nullptr;
        }
        if (!e.own) {
          e.principal = std::make_shared<const Principal>(*e.principal);
          e.own = true;
        }
        return e.principal;
      }
    return nullptr;
  }

  void add(std::uint64_t owner, std::string_view token, SharedPrincipal who,
           Clock::time_point until) {
    Entry& e = entries_[next_++ % entries_.size()];
    e.owner = owner;
    e.token.assign(token);  // reuses the entry's buffer
    e.principal = std::move(who);
    e.own = false;
    e.until = until;
  }

 private:
  std::array<Entry, 4> entries_;
  std::size_t next_ = 0;
};

ThreadTokens& thread_tokens() {
  thread_local ThreadTokens recent;
  return recent;
}

}  // namespace

Authenticator::Authenticator(BearerOptions options)
    : options_(std::make_shared<const BearerOptions>(std::move(options))),
      cache_(options_->verified_token_cache
                 ? std::make_shared<VerifiedTokens>(options_->verified_token_cache)
                 : nullptr) {}

Authenticator::~Authenticator() = default;

SharedPrincipal Authenticator::from_authorization(std::string_view authorization) const {
  auto who = from_bearer(authorization);
  if (const Revocations* revoked = options_->revocations; revoked && revoked->size() > 0)
    if (auto jti = who->claims ? who->claims->string("jti") : std::nullopt;
        jti && revoked->revoked(*jti))
      throw unauthorized("the token is revoked");
  return who;
}

SharedPrincipal Authenticator::from_bearer(std::string_view authorization) const {
  if (!http::istarts_with(authorization, "Bearer "))
    throw unauthorized("the Authorization header must use the Bearer scheme");
  if (!options_->verifier) throw unauthorized("bearer tokens are not accepted here");
  auto token = authorization.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!cache_) return verify(token);
  auto now = std::chrono::system_clock::now();
  ThreadTokens& recent = thread_tokens();
  if (auto who = recent.find(cache_->id, token, now)) return who;
  auto entry = cache_->find(token, now);
  if (!entry) {
    auto who = verify(token);
    // Typical tokens only: 10,000 entries then stay within a few MiB.
    if (token.size() > kMaxCachedToken) return who;
    entry = cache_->add(token, std::move(who), now);
  }
  recent.add(cache_->id, token, entry->principal, entry->until);
  return entry->principal;
}

SharedPrincipal Authenticator::verify(std::string_view token) const {
  auto verified = options_->verifier->verify(token);  // TokenError is a 401 already
  return std::make_shared<const Principal>(principal_of(verified, options_->roles));
}

Task<SharedPrincipal> Authenticator::from_api_key(std::string key) const {
  if (!options_->api_keys) throw unauthorized("API keys are not accepted here");
  if (key.empty() || key.size() > kMaxApiKey) throw unauthorized("invalid API key");
  auto who = co_await options_->api_keys(std::move(key));
  if (!who) throw unauthorized("invalid API key");
  co_return std::make_shared<const Principal>(std::move(*who));
}

SharedPrincipal Authenticator::from_certificate(const http::ClientCertificate& certificate) const {
  Principal p;
  p.method = "mtls";
  p.id = certificate.identity();
  p.roles = options_->certificate_roles.roles_of(p.id);
  p.permissions = options_->roles.permissions_of(p.roles);
  if (!certificate.emails.empty()) p.email = certificate.emails.front();
  return std::make_shared<const Principal>(std::move(p));
}

void Authenticator::no_credentials() const {
  throw unauthorized("authentication required", /*with_error=*/false);
}

void check_permission(const Principal* who, std::string_view permission) {
  if (!who) throw unauthorized("authentication required", /*with_error=*/false);
  if (!who->has(permission)) {
    Forbidden e("the permission '" + std::string(permission) + "' is required");
    e.with_header("WWW-Authenticate",
                  "Bearer error=\"insufficient_scope\", scope=\"" + std::string(permission) + "\"");
    throw e;
  }
}

}  // namespace svckit::auth
