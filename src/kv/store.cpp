#include <charconv>
#include <stdexcept>

#include "redis_connection.hpp"
#include "stores.hpp"

namespace svckit::kv {
namespace {

// %XX escapes in a URL's user and password.
std::string decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) throw std::invalid_argument("a bad %-escape in the URL");
      int value = 0;
      auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
      if (ec != std::errc() || end != s.data() + i + 3)
        throw std::invalid_argument("a bad %-escape in the URL");
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

RedisEndpoint parse_redis_url(std::string_view url) {
  RedisEndpoint e;
  std::string_view rest = url.substr(std::string_view("redis://").size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    throw std::invalid_argument("a redis:// URL takes no query or fragment");
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (!path.empty()) {
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), e.db);
    if (ec != std::errc() || end != path.data() + path.size() || e.db < 0 || e.db > 15)
      throw std::invalid_argument("the database number after the host must be 0 to 15");
  }
  auto at = authority.rfind('@');
  std::string shown_user;
  if (at != std::string_view::npos) {
    auto credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = credentials.find(':');
    e.user = decoded(credentials.substr(0, colon));
    if (colon != std::string_view::npos) e.password = decoded(credentials.substr(colon + 1));
    if (e.password.empty())
      throw std::invalid_argument("a user without a password: write redis://:password@host");
    shown_user = std::string(credentials.substr(0, colon)) + ":***@";
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("an unclosed [ in the host");
    e.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() != ':')
      throw std::invalid_argument("text after the host's ]");
    e.port = authority.empty() ? "6379" : std::string(authority.substr(1));
  } else {
    auto colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    e.port = colon == std::string_view::npos ? "6379" : std::string(authority.substr(colon + 1));
  }
  if (e.host.empty()) throw std::invalid_argument("no host");
  int port = 0;
  auto [end, ec] = std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (ec != std::errc() || end != e.port.data() + e.port.size() || port < 1 || port > 65535)
    throw std::invalid_argument("the port must be 1 to 65535");
  e.shown =
      "redis://" + shown_user + std::string(rest.substr(at == std::string_view::npos ? 0 : at + 1));
  return e;
}

}  // namespace

std::int64_t Reply::integer() const {
  if (auto i = std::get_if<std::int64_t>(&value)) return *i;
  if (auto s = std::get_if<std::string>(&value)) {
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
  }
  throw std::invalid_argument("kv: the reply is not an integer");
}

const std::string& Reply::text() const {
  if (auto s = std::get_if<std::string>(&value)) return *s;
  throw std::invalid_argument("kv: the reply is not a string");
}

const Reply::List& Reply::list() const {
  if (auto l = std::get_if<List>(&value)) return *l;
  throw std::invalid_argument("kv: the reply is not a list");
}

std::unique_ptr<Store> open_store(const std::string& url, StoreOptions options) {
  if (url.empty() || url == "memory://") return memory_store();
  if (url.starts_with("rediss://"))
    throw std::invalid_argument(
        "rediss:// (Redis over TLS) is not supported yet: reach Redis on a private network "
        "with redis://, or through a TLS tunnel such as stunnel");
  if (url.starts_with("redis://")) return redis_store(parse_redis_url(url), std::move(options));
  throw std::invalid_argument("a key-value store URL is memory:// or redis://");
}

}  // namespace svckit::kv
