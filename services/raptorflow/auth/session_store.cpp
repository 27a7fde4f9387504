#include "session_store.hpp"

#include <algorithm>

#include <svckit/auth/revocations.hpp>
#include <svckit/error.hpp>
#include <svckit/kv/batch.hpp>
#include <svckit/kv/store.hpp>

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;

// Compare-and-set attempts before giving up: only a storm of concurrent changes to one session
// (or one user's list) gets that far.
constexpr int kAttempts = 16;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string session_key(const std::string& id) {
  return "auth:session:" + id;
}
std::string index_key(const std::string& user_id) {
  return "auth:user-sessions:" + user_id;
}

// An ended session's value until its key expires: a rotation or step-up racing the end reads
// it and fails (their compare-and-set against the live value fails first).
constexpr std::string_view kEnded = "ended";
constexpr std::chrono::seconds kEndedFor{3600};

std::optional<Session> live(const std::optional<std::string>& raw) {
  if (!raw || *raw == kEnded) return std::nullopt;
  return Session::from_json(json::parse(*raw));
}

void forget_expired_access(Session& s, std::int64_t now) {
  std::erase_if(s.access, [now](const auto& a) { return a.second <= now; });
}

}  // namespace

json Session::to_json() const {
  json j = {{"id", id},
            {"user_id", user_id},
            {"device", device},
            {"address", address},
            {"created_at", created_at},
            {"last_used_at", last_used_at},
            {"expires_at", expires_at},
            {"auth_time", auth_time},
            {"amr", amr},
            {"refresh_id", refresh_id},
            {"scope", scope},
            {"cookie_hash", cookie_hash},
            {"access", json::array()}};
  if (client_id) j["client_id"] = *client_id;
  for (const auto& [jti, exp] : access) j["access"].push_back(json::array({jti, exp}));
  return j;
}

Session Session::from_json(const json& j) {
  Session s;
  s.id = j.at("id").get<std::string>();
  s.user_id = j.at("user_id").get<std::string>();
  s.device = j.at("device").get<std::string>();
  s.address = j.at("address").get<std::string>();
  s.created_at = j.at("created_at").get<std::int64_t>();
  s.last_used_at = j.at("last_used_at").get<std::int64_t>();
  s.expires_at = j.at("expires_at").get<std::int64_t>();
  s.auth_time = j.at("auth_time").get<std::int64_t>();
  s.amr = j.at("amr").get<std::vector<std::string>>();
  s.refresh_id = j.at("refresh_id").get<std::string>();
  s.scope = j.value("scope", "");
  s.cookie_hash = j.value("cookie_hash", "");
  if (j.contains("client_id")) s.client_id = j["client_id"].get<std::string>();
  for (const auto& a : j.at("access"))
    s.access.emplace_back(a.at(0).get<std::string>(), a.at(1).get<std::int64_t>());
  return s;
}

Task<void> SessionStore::create(Session session, svckit::Deadline deadline) {
  std::chrono::milliseconds ttl = ttl_;
  session.expires_at = unix_now() + ttl_.count();
  auto id = session.id;
  auto user_id = session.user_id;
  // Listed first: a session that could not be listed is never written, so ending all of a
  // user's sessions always finds every one.
  std::vector<std::string> none;
  co_await index(std::move(user_id), id, std::move(none), deadline);
  co_await kv_.set(session_key(id), session.to_json().dump(), ttl, deadline);
}

Task<std::optional<Session>> SessionStore::find(std::string id, svckit::Deadline deadline) {
  auto raw = co_await kv_.get(session_key(id), deadline);
  co_return live(raw);
}

Task<std::vector<std::string>> SessionStore::indexed(std::string user_id,
                                                     svckit::Deadline deadline) {
  auto raw = co_await kv_.get(index_key(user_id), deadline);
  if (!raw) co_return std::vector<std::string>{};
  co_return json::parse(*raw).get<std::vector<std::string>>();
}

// Adds `add` (newest first) and removes `drop` from the user's list; sessions past `per_user_`
// are ended.
Task<void> SessionStore::index(std::string user_id, std::string add, std::vector<std::string> drop,
                               svckit::Deadline deadline) {
  std::chrono::milliseconds ttl = ttl_;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto raw = co_await kv_.get(index_key(user_id), deadline);
    std::vector<std::string> ids;
    if (raw) ids = json::parse(*raw).get<std::vector<std::string>>();
    std::erase_if(ids, [&](const std::string& id) {
      return id == add || std::find(drop.begin(), drop.end(), id) != drop.end();
    });
    if (!add.empty()) ids.insert(ids.begin(), add);
    std::vector<std::string> evicted;
    while (ids.size() > per_user_) {
      evicted.push_back(ids.back());
      ids.pop_back();
    }
    json updated = ids;
    if (co_await kv_.compare_and_set(index_key(user_id), raw, updated.dump(), ttl, deadline)) {
      for (auto& id : evicted) co_await end(std::move(id), deadline);
      co_return;
    }
  }
  throw svckit::ServiceUnavailable("the user's sessions are changing too fast; try again", 1);
}

Task<std::vector<Session>> SessionStore::of_user(std::string user_id, svckit::Deadline deadline) {
  auto ids = co_await indexed(user_id, deadline);
  std::vector<Session> out;
  if (ids.empty()) co_return out;
  svckit::kv::Batch batch;
  for (const auto& id : ids) batch.get(session_key(id));
  auto replies = co_await kv_.run(batch, deadline);
  std::vector<std::string> gone;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (replies[i].is_nil() || replies[i].text() == kEnded)
      gone.push_back(ids[i]);  // expired or ended
    else
      out.push_back(Session::from_json(json::parse(replies[i].text())));
  }
  std::string nothing;
  if (!gone.empty()) co_await index(std::move(user_id), nothing, std::move(gone), deadline);
  std::sort(out.begin(), out.end(),
            [](const Session& a, const Session& b) { return a.created_at > b.created_at; });
  co_return out;
}

Task<Rotation> SessionStore::rotate(std::string id, std::string used, std::string next,
                                    std::pair<std::string, std::int64_t> access,
                                    svckit::Deadline deadline) {
  std::chrono::milliseconds ttl = ttl_;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto raw = co_await kv_.get(session_key(id), deadline);
    auto found = live(raw);
    if (!found) co_return Rotation::ended;
    auto& s = *found;
    if (s.refresh_id != used) {
      // Signed by us for this session, and not the live one: it was spent before.
      co_await end(std::move(id), deadline);
      co_return Rotation::reused;
    }
    auto now = unix_now();
    s.refresh_id = next;
    s.last_used_at = now;
    s.expires_at = now + ttl_.count();
    forget_expired_access(s, now);
    s.access.push_back(access);
    if (co_await kv_.compare_and_set(session_key(id), raw, s.to_json().dump(), ttl, deadline))
      co_return Rotation::rotated;
  }
  throw svckit::ServiceUnavailable("the session is changing too fast; try again", 1);
}

Task<bool> SessionStore::record_access(std::string id, std::pair<std::string, std::int64_t> access,
                                       std::optional<std::int64_t> auth_time,
                                       std::vector<std::string> amr, svckit::Deadline deadline) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto raw = co_await kv_.get(session_key(id), deadline);
    auto found = live(raw);
    if (!found) co_return false;
    auto& s = *found;
    auto now = unix_now();
    forget_expired_access(s, now);
    s.access.push_back(access);
    s.last_used_at = now;
    if (auth_time) {
      s.auth_time = *auth_time;
      s.amr = amr;
    }
    // The session's remaining lifetime stays what it was.
    std::chrono::milliseconds left =
        std::chrono::seconds(std::max<std::int64_t>(1, s.expires_at - now));
    if (co_await kv_.compare_and_set(session_key(id), raw, s.to_json().dump(), left, deadline))
      co_return true;
  }
  throw svckit::ServiceUnavailable("the session is changing too fast; try again", 1);
}

// Replaces the session by kEnded with compare-and-set, then revokes the access tokens of the
// value it replaced: a token a racing rotation recorded is in that value, or the rotation failed.
Task<bool> SessionStore::end(std::string id, svckit::Deadline deadline) {
  std::chrono::milliseconds ended_for = kEndedFor;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto raw = co_await kv_.get(session_key(id), deadline);
    auto found = live(raw);
    if (!found) co_return false;
    std::string ended(kEnded);
    if (!co_await kv_.compare_and_set(session_key(id), raw, std::move(ended), ended_for, deadline))
      continue;
    auto now = unix_now();
    for (auto& [jti, exp] : found->access)
      if (exp > now)
        co_await revocations_.revoke(
            jti, std::chrono::system_clock::time_point(std::chrono::seconds(exp)), deadline);
    std::vector<std::string> drop{id};
    std::string nothing;
    co_await index(found->user_id, nothing, std::move(drop), deadline);
    co_return true;
  }
  throw svckit::ServiceUnavailable("the session is changing too fast; try again", 1);
}

Task<std::size_t> SessionStore::end_all(std::string user_id, svckit::Deadline deadline) {
  auto ids = co_await indexed(user_id, deadline);
  std::size_t ended = 0;
  for (auto& id : ids)
    if (co_await end(std::move(id), deadline)) ++ended;
  co_return ended;
}

}  // namespace raptorflow::auth
