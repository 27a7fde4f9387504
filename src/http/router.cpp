#include "svckit/http/router.hpp"

#include <array>
#include <cctype>
#include <stdexcept>

#include "svckit/http/route_doc.hpp"

namespace svckit::http {
namespace {

constexpr std::size_t kMethods = static_cast<std::size_t>(Method::other) + 1;

// "/a/b/" -> "/a/b"; "/" stays "/".
std::string_view strip_trailing_slash(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool valid_param_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum((unsigned char)c) || c == '_')) return false;
  return true;
}

}  // namespace

struct Router::Node {
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::unique_ptr<Node> rest;  // a last "{name...}" segment: the rest of the path, slashes and all
  std::string rest_name;
  std::array<const Route*, kMethods> endpoints{};

  bool has_endpoints() const {
    for (auto* e : endpoints)
      if (e) return true;
    return false;
  }

  // Depth-first, literal segments before the parameter. Returns the node serving `method`;
  // `path_match` remembers the first node that matched the path at all (for 405).
  const Node* find(std::string_view rest, Method method, std::vector<Request::Param>& params,
                   const Node*& path_match) const {
    if (rest.empty()) {
      if (endpoints[static_cast<std::size_t>(method)]) return this;
      if (method == Method::head && endpoints[static_cast<std::size_t>(Method::get)]) return this;
      if (!path_match && has_endpoints()) path_match = this;
      return nullptr;
    }
    rest.remove_prefix(1);  // the '/'
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    std::string_view tail =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    for (const auto& [literal, child] : literals) {
      if (literal != segment) continue;
      if (const Node* n = child->find(tail, method, params, path_match)) return n;
    }
    if (param && !segment.empty()) {
      if (params.capacity() == 0) params.reserve(4);  // once, and only for routes with some
      params.emplace_back(param_name, segment);
      if (const Node* n = param->find(tail, method, params, path_match)) return n;
      params.pop_back();
    }
    if (this->rest && !rest.empty()) {  // an empty first segment too ("/b//key": key "/key")
      if (params.capacity() == 0) params.reserve(4);
      params.emplace_back(rest_name, rest);
      if (const Node* n = this->rest->find({}, method, params, path_match)) return n;
      params.pop_back();
    }
    return nullptr;
  }
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Route& Router::add(Method method, std::string_view pattern_in, Handler handler) {
  if (pattern_in.empty() || pattern_in.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern_in));
  if (method == Method::other) throw std::invalid_argument("unsupported route method");
  std::string_view pattern = strip_trailing_slash(pattern_in);

  auto route = std::make_unique<Route>(
      Route{method, std::string(pattern), std::move(handler), std::make_shared<RouteDoc>()});
  Node* node = root_.get();
  std::string_view rest = pattern == "/" ? std::string_view() : pattern;
  while (!rest.empty()) {
    rest.remove_prefix(1);
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (segment.empty())
      throw std::invalid_argument("empty segment in route pattern: " + std::string(pattern));
    if (segment.starts_with("{") && segment.ends_with("...}")) {
      std::string name(segment.substr(1, segment.size() - 5));
      if (!valid_param_name(name) || !rest.empty())
        throw std::invalid_argument("a {name...} parameter must be the last segment: " +
                                    std::string(pattern));
      if (!node->rest) {
        node->rest = std::make_unique<Node>();
        node->rest_name = name;
      } else if (node->rest_name != name) {
        throw std::invalid_argument("route " + std::string(pattern) + " names parameter {" + name +
                                    "...} where another route has {" + node->rest_name + "...}");
      }
      node = node->rest.get();
    } else if (segment.front() == '{') {
      if (segment.back() != '}' || !valid_param_name(segment.substr(1, segment.size() - 2)))
        throw std::invalid_argument("bad parameter in route pattern: " + std::string(pattern));
      std::string name(segment.substr(1, segment.size() - 2));
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = name;
      } else if (node->param_name != name) {
        throw std::invalid_argument("route " + std::string(pattern) + " names parameter {" + name +
                                    "} where another route has {" + node->param_name + "}");
      }
      node = node->param.get();
    } else {
      if (segment.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("bad segment in route pattern: " + std::string(pattern));
      Node* next = nullptr;
      for (auto& [literal, child] : node->literals)
        if (literal == segment) next = child.get();
      if (!next) {
        node->literals.emplace_back(std::string(segment), std::make_unique<Node>());
        next = node->literals.back().second.get();
      }
      node = next;
    }
  }
  auto& slot = node->endpoints[static_cast<std::size_t>(method)];
  if (slot)
    throw std::invalid_argument("route registered twice: " + std::string(method_name(method)) +
                                " " + std::string(pattern));
  slot = route.get();
  routes_.push_back(std::move(route));
  return *routes_.back();
}

std::vector<const Route*> Router::routes() const {
  std::vector<const Route*> out;
  for (const auto& r : routes_) out.push_back(r.get());
  return out;
}

Router::Match Router::match(Method method, std::string_view path) const {
  Match m;
  if (path.empty() || path.front() != '/') return m;
  const bool trailing_slash = path.size() > 1 && path.back() == '/';
  path = strip_trailing_slash(path);
  if (path == "/") path = {};
  const Node* path_match = nullptr;
  if (const Node* n = root_->find(path, method, m.params, path_match)) {
    m.outcome = Outcome::found;
    auto slot = n->endpoints[static_cast<std::size_t>(method)];
    m.route = slot ? slot : n->endpoints[static_cast<std::size_t>(Method::get)];
    // The rest of the path is the rest of it: a key "photos/" is not the key "photos".
    if (trailing_slash && m.route->pattern.ends_with("...}")) {
      auto& last = m.params.back().second;
      last = std::string_view(last.data(), last.size() + 1);
    }
    return m;
  }
  m.params.clear();
  if (path_match) {
    m.outcome = Outcome::method_not_allowed;
    for (std::size_t i = 0; i < kMethods; ++i) {
      if (!path_match->endpoints[i]) continue;
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += method_name(static_cast<Method>(i));
      if (static_cast<Method>(i) == Method::get) m.allow += ", HEAD";
    }
  }
  return m;
}

}  // namespace svckit::http
