// svckit.auth: the verifier and signer of the C++ services, configured the same way.
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pybind11/stl.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "bindings.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "fast_method.hpp"
#include "runtime.hpp"
#include "svckit/auth/authenticator.hpp"
#include "svckit/auth/jwks_fetcher.hpp"
#include "svckit/auth/jwt.hpp"
#include "svckit/auth/key.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/roles.hpp"
#include "svckit/config.hpp"

namespace svckit::python {
namespace py = pybind11;
namespace asio = boost::asio;
using namespace svckit::auth;

namespace {

bool is_hmac(const Key& key) {
  auto a = key.algorithm();
  return a == Algorithm::HS256 || a == Algorithm::HS384 || a == Algorithm::HS512;
}

Algorithm algorithm_of(const std::string& name) {
  auto alg = parse_algorithm(name);
  if (!alg)
    throw py::value_error("not a JWS algorithm: '" + name + "' (HS256, RS256, ES256, EdDSA, ...)");
  return *alg;
}

// A claim as Python sees it: numbers stay int when they are whole in the token's text.
py::object member_value(const JoseObject::Member& m) {
  switch (m.kind) {
    case JoseObject::Kind::string:
      return py::str(m.text);
    case JoseObject::Kind::number: {
      if (m.text.find_first_of(".eE") != std::string::npos) return py::float_(m.number);
      long long whole = 0;
      auto [end, error] = std::from_chars(m.text.data(), m.text.data() + m.text.size(), whole);
      if (error == std::errc() && end == m.text.data() + m.text.size()) return py::int_(whole);
      return py::reinterpret_steal<py::object>(PyLong_FromString(m.text.c_str(), nullptr, 10));
    }
    case JoseObject::Kind::boolean:
      return py::bool_(m.text == "true");
    case JoseObject::Kind::null:
      return py::none();
    case JoseObject::Kind::array:
    case JoseObject::Kind::object:
      return from_json(nlohmann::json::parse(m.text));  // rare beyond "roles"/"aud": see claims_of
  }
  return py::none();
}

// Claim names as Python strings, made once: the same few names ("sub", "exp", "roles", ...)
// come with every token, and a str kept here also keeps its hash for the dict. Bounded, and
// only used with the GIL held.
py::object claim_name(const std::string& name) {
  static std::vector<std::pair<std::string, py::object>>* names =
      new std::vector<std::pair<std::string, py::object>>();  // never freed: outlives finalisation
  for (const auto& [text, object] : *names)
    if (text == name) return object;
  if (name.size() > 32 || names->size() >= 64) return py::str(name);
  names->emplace_back(name, py::str(name));
  return names->back().second;
}

py::dict claims_of(const JoseObject& claims) {
  py::dict out;
  for (const auto& m : claims.members()) {
    py::object value;
    // Lists of strings ("roles", "aud", "permissions") without a JSON DOM in between.
    if (m.kind == JoseObject::Kind::array) {
      if (auto strings = claims.strings(m.name)) {
        py::list list(strings->size());
        for (std::size_t i = 0; i < strings->size(); ++i) list[i] = py::str((*strings)[i]);
        value = std::move(list);
      }
    }
    if (!value) value = member_value(m);
    py::object name = claim_name(m.name);
    if (PyDict_SetItem(out.ptr(), name.ptr(), value.ptr()) != 0) throw py::error_already_set();
  }
  return out;
}

// Who a token says the caller is; shared with the verified-token cache.
struct PyPrincipal {
  SharedPrincipal who;
  const Principal& principal() const { return *who; }
  py::dict claims() const { return who->claims ? claims_of(*who->claims) : py::dict(); }
};

std::string bearer_token(const std::string& text) {
  // "Bearer <jwt>" (the Authorization header) or the token alone.
  if (text.size() > 7 && (text.compare(0, 7, "Bearer ") == 0 || text.compare(0, 7, "bearer ") == 0))
    return text.substr(7);
  return text;
}

// A Verifier with the roles that turn tokens into principals, and, with a JWKS URL, the fetcher
// that keeps its keys fresh on the runtime's loop.
class PyVerifier {
 public:
  PyVerifier(std::shared_ptr<Verifier> verifier, RolePermissions roles)
      : verifier_(verifier),
        roles_(roles),
        authenticator_(BearerOptions{.verifier = std::move(verifier), .roles = std::move(roles)}) {
    for (const auto& key : verifier_->keys()->keys()) release_gil_ = release_gil_ || !is_hmac(key);
  }

  ~PyVerifier() {
    if (cancel_ && loop_) {
      auto cancel = cancel_;
      asio::post(*loop_, [cancel] { cancel->emit(asio::cancellation_type::terminal); });
    }
  }

  void fetch_keys_from(const std::string& url, const std::string& ca_file,
                       std::chrono::seconds refresh, bool allow_http = false,
                       bool allow_symmetric = false) {
    JwksFetcherOptions options;
    options.ca_file = ca_file;
    options.allow_plain_http = allow_http;
    options.allow_symmetric = allow_symmetric;
    options.refresh_interval = refresh;
    options.min_refresh_interval = std::min(options.min_refresh_interval, refresh);
    options.static_keys = *verifier_->keys();
    auto& runtime = Runtime::get();
    try {
      fetcher_ =
          std::make_shared<JwksFetcher>(url, verifier_, std::move(options), runtime.logger());
    } catch (const std::invalid_argument& e) {
      throw ConfigError("JWKS_URL", e.what());
    }
    verifier_->set_on_unknown_kid([weak = std::weak_ptr(fetcher_)] {
      if (auto f = weak.lock()) f->refresh_soon();
    });
    release_gil_ = true;
    loop_ = &runtime.next_loop();
    cancel_ = std::make_shared<asio::cancellation_signal>();
    auto fetcher = fetcher_;
    auto keep = cancel_;
    asio::post(*loop_, [fetcher, keep, loop = loop_] {
      asio::co_spawn(
          *loop, [fetcher, keep]() -> Task<void> { co_await fetcher->run(); },
          asio::bind_cancellation_slot(keep->slot(), asio::detached));
    });
  }

  py::dict verify(std::string_view token) const { return claims_of(checked(token).claims); }

  // As the services' bearer(): a token verified once is remembered until it expires (at most
  // 5 minutes; tokens are not revocable, so no answer changes), since a client sends the same
  // token with every request.
  PyPrincipal authenticate(const std::string& credentials) const {
    std::string authorization = "Bearer " + bearer_token(credentials);
    if (!release_gil_) return PyPrincipal{authenticator_.from_authorization(authorization)};
    py::gil_scoped_release release;
    return PyPrincipal{authenticator_.from_authorization(authorization)};
  }

  PyPrincipal authorize(const std::string& credentials, const std::string& permission) const {
    auto who = authenticate(credentials);
    if (!who.principal().has(permission))
      raise_auth_error("the token does not grant '" + permission + "'", true);
    return who;
  }

  bool ready() const { return !fetcher_ || fetcher_->loaded(); }

  // RSA, ECDSA and EdDSA take tens of µs: other Python threads run meanwhile. An HMAC takes
  // ~0.5 µs, less than releasing and retaking the GIL costs, so it keeps it.
  Token checked(std::string_view token) const {
    if (!release_gil_) return verifier_->verify(token);
    py::gil_scoped_release release;
    return verifier_->verify(token);
  }

  bool wait_ready(double timeout) const {
    py::gil_scoped_release release;
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
    while (!ready()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  const RolePermissions& roles() const { return roles_; }

 private:
  std::shared_ptr<Verifier> verifier_;
  RolePermissions roles_;
  Authenticator authenticator_;
  std::shared_ptr<JwksFetcher> fetcher_;
  bool release_gil_ = false;  // also set by fetch_keys_from: a JWKS holds asymmetric keys
  asio::io_context* loop_ = nullptr;
  std::shared_ptr<asio::cancellation_signal> cancel_;
};

RolePermissions roles_from(const std::optional<std::string>& spec) {
  if (!spec || spec->empty()) return RolePermissions::defaults();
  try {
    return RolePermissions::parse(*spec);
  } catch (const std::invalid_argument& e) {
    throw ConfigError("AUTH_ROLES", e.what());
  }
}

std::vector<std::string> audiences_from(const py::object& audience) {
  if (audience.is_none()) return {};
  if (py::isinstance<py::str>(audience)) return {audience.cast<std::string>()};
  return audience.cast<std::vector<std::string>>();
}

std::unique_ptr<PyVerifier> make_verifier(
    std::vector<Key> keys, std::optional<std::string> issuer, py::object audience,
    std::optional<std::string> token_type, double leeway, bool require_exp,
    std::vector<std::string> required_claims, std::size_t max_token_bytes,
    std::optional<std::string> roles, std::optional<std::string> jwks_url,
    std::optional<std::string> jwks_ca_file, double jwks_refresh) {
  if (leeway < 0 || leeway > 300) throw py::value_error("leeway must be 0-300 seconds");
  if (keys.empty() && !jwks_url) throw py::value_error("a Verifier needs keys or a jwks_url");
  if (jwks_url && !issuer)
    throw py::value_error("a jwks_url needs an issuer: the keys verify that issuer's tokens only");
  VerifyOptions options;
  options.issuer = issuer;
  options.audiences = audiences_from(audience);
  options.token_type = token_type;
  options.leeway = std::chrono::seconds(static_cast<long>(leeway));
  options.require_exp = require_exp;
  options.required_claims = std::move(required_claims);
  options.max_token_bytes = max_token_bytes;
  auto verifier = std::make_shared<Verifier>(KeySet(std::move(keys)), std::move(options));
  auto out = std::make_unique<PyVerifier>(std::move(verifier), roles_from(roles));
  if (jwks_url)
    out->fetch_keys_from(*jwks_url, jwks_ca_file.value_or(""),
                         std::chrono::seconds(std::max<long>(1, static_cast<long>(jwks_refresh))));
  return out;
}

// The settings every service reads (JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE + JWT_ALGORITHM,
// JWKS_FILE, JWKS_URL + JWKS_CA_FILE + JWKS_REFRESH_SECONDS, JWT_ISSUER, JWT_AUDIENCE,
// AUTH_ROLES), from `env` (os.environ by default, passed in by svckit/auth.py).
std::unique_ptr<PyVerifier> verifier_from_env(const std::map<std::string, std::string>& env) {
  auto get = [&env](std::string_view name) {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::string() : it->second;
  };
  auto verifier = verifier_from_settings(get);
  if (!verifier)
    throw ConfigError("JWT_SECRET_KEY",
                      "set JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE, JWKS_FILE or JWKS_URL");
  auto out = std::make_unique<PyVerifier>(verifier, roles_from_settings(get));
  if (auto url = get("JWKS_URL"); !url.empty()) {
    long refresh = 300;
    if (auto text = get("JWKS_REFRESH_SECONDS"); !text.empty()) {
      try {
        refresh = std::stol(text);
      } catch (const std::exception&) {
        refresh = -1;
      }
      if (refresh < 1 || refresh > 86'400)
        throw ConfigError("JWKS_REFRESH_SECONDS", "must be a whole number of seconds, 1-86400");
    }
    out->fetch_keys_from(url, get("JWKS_CA_FILE"), std::chrono::seconds(refresh),
                         get("JWKS_ALLOW_HTTP") == "true", get("JWKS_ALLOW_SYMMETRIC") == "true");
  }
  return out;
}

std::string secret_bytes(const py::object& secret) {
  if (py::isinstance<py::bytes>(secret)) return secret.cast<std::string>();
  if (py::isinstance<py::str>(secret)) return secret.cast<std::string>();
  throw py::type_error("a secret is str or bytes");
}

// Verifier.verify, called per request: a fast method (fast_method.hpp).
constexpr char kVerify[] = "verify";
constexpr char kToken[] = "token";
py::object verify_token(const PyVerifier& verifier, py::handle token) {
  Py_ssize_t size = 0;
  const char* text = nullptr;
  char* bytes = nullptr;
  if (PyUnicode_Check(token.ptr()))
    text = PyUnicode_AsUTF8AndSize(token.ptr(), &size);
  else if (PyBytes_Check(token.ptr()) && PyBytes_AsStringAndSize(token.ptr(), &bytes, &size) == 0)
    text = bytes;  // as pybind11's str caster took it
  if (!text) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "verify() takes the token as a str (or bytes)");
    throw py::error_already_set();
  }
  return verifier.verify(std::string_view(text, static_cast<std::size_t>(size)));
}

}  // namespace

void bind_auth(py::module_& root) {
  auto m = root.def_submodule("auth", "JWT verification and signing, roles and permissions.");

  py::class_<Key>(m, "Key", "A signing or verification key bound to one JWS algorithm.")
      .def_static(
          "hmac",
          [](const py::object& secret, const std::string& algorithm, std::string kid) {
            return Key::hmac(algorithm_of(algorithm), secret_bytes(secret), std::move(kid));
          },
          py::arg("secret"), py::arg("algorithm") = "HS256", py::arg("kid") = "",
          "An HMAC secret (at least as long as the hash: 32 bytes for HS256).")
      .def_static(
          "from_pem",
          [](const std::string& pem, const std::string& algorithm, std::string kid) {
            return Key::from_pem(algorithm_of(algorithm), pem, std::move(kid));
          },
          py::arg("pem"), py::arg("algorithm") = "RS256", py::arg("kid") = "",
          "A public or private key in PEM (SPKI, PKCS#1, PKCS#8, SEC1, X.509).")
      .def_static(
          "from_pem_file",
          [](const std::string& path, const std::string& algorithm, std::string kid) {
            return Key::from_pem_file(algorithm_of(algorithm), path, std::move(kid));
          },
          py::arg("path"), py::arg("algorithm") = "RS256", py::arg("kid") = "")
      .def_static(
          "from_jwk",
          [](const py::dict& jwk, std::optional<std::string> algorithm) {
            auto json = to_json(jwk, "jwk");
            return algorithm ? Key::from_jwk(json, algorithm_of(*algorithm)) : Key::from_jwk(json);
          },
          py::arg("jwk"), py::arg("algorithm") = py::none(), "A JWK (RFC 7517) as a dict.")
      .def_property_readonly(
          "algorithm", [](const Key& k) { return std::string(algorithm_name(k.algorithm())); })
      .def_property_readonly("kid", &Key::kid)
      .def_property_readonly("can_sign", &Key::can_sign)
      .def(
          "public_jwk", [](const Key& k) { return from_json(k.public_jwk()); },
          "The public half as a JWK dict (HMAC keys have none: ConfigError).")
      .def("__repr__", [](const Key& k) {
        return "<svckit.auth.Key " + std::string(algorithm_name(k.algorithm())) +
               (k.kid().empty() ? "" : " kid=" + k.kid()) + ">";
      });

  py::class_<PyPrincipal>(m, "Principal", "Who a verified token says the caller is.")
      .def_property_readonly("id", [](const PyPrincipal& p) { return p.principal().id; })
      .def_property_readonly("email", [](const PyPrincipal& p) { return p.principal().email; })
      .def_property_readonly("roles", [](const PyPrincipal& p) { return p.principal().roles; })
      .def_property_readonly("permissions",
                             [](const PyPrincipal& p) { return p.principal().permissions; })
      .def_property_readonly("claims", &PyPrincipal::claims, "The token's claims (a new dict).")
      .def(
          "has",
          [](const PyPrincipal& p, std::string_view perm) { return p.principal().has(perm); },
          py::arg("permission"), "Whether the caller has `permission` ('*' and 'tasks:*' grant).")
      .def("__repr__",
           [](const PyPrincipal& p) { return "<svckit.auth.Principal " + p.principal().id + ">"; });

  py::class_<PyVerifier> verifier(m, "Verifier", "Verifies JWTs by RFC 8725's rules; thread-safe.");
  verifier
      .def(py::init(&make_verifier), py::arg("keys") = std::vector<Key>{}, py::kw_only(),
           py::arg("issuer") = py::none(), py::arg("audience") = py::none(),
           py::arg("token_type") = py::none(), py::arg("leeway") = 30.0,
           py::arg("require_exp") = true, py::arg("required_claims") = std::vector<std::string>{},
           py::arg("max_token_bytes") = 8192, py::arg("roles") = py::none(),
           py::arg("jwks_url") = py::none(), py::arg("jwks_ca_file") = py::none(),
           py::arg("jwks_refresh") = 300.0)
      .def_static("_from_env", &verifier_from_env, py::arg("env"))
      .def("authenticate", &PyVerifier::authenticate, py::arg("credentials"),
           "A token or 'Bearer <token>' → Principal (roles → permissions by AUTH_ROLES).")
      .def("authorize", &PyVerifier::authorize, py::arg("credentials"), py::arg("permission"),
           "authenticate() and require `permission` (ForbiddenError without it).")
      .def_property_readonly("ready", &PyVerifier::ready,
                             "Whether keys are there (with a JWKS URL: fetched at least once).")
      .def("wait_ready", &PyVerifier::wait_ready, py::arg("timeout") = 10.0);
  def_fast_method<PyVerifier, &verify_token, kVerify, kToken>(
      verifier,
      "verify($self, token)\n--\n\nThe claims of a valid token as a dict; AuthError with .reason "
      "otherwise.");

  py::class_<RolePermissions>(m, "Roles", "Role → permissions (AUTH_ROLES syntax).")
      .def(py::init(&roles_from), py::arg("spec") = py::none())
      .def("permissions_of", &RolePermissions::permissions_of, py::arg("roles"))
      .def(
          "allows",
          [](const RolePermissions& r, const std::vector<std::string>& roles,
             std::string_view permission) {
            Principal p;
            p.permissions = r.permissions_of(roles);
            return p.has(permission);
          },
          py::arg("roles"), py::arg("permission"));

  m.def(
      "sign",
      [](const py::dict& claims, const Key& key) {
        auto json = to_json(claims, "claims");
        py::gil_scoped_release release;
        return auth::sign(json, key);
      },
      py::arg("claims"), py::arg("key"), "A compact JWS of `claims` signed with `key`.");
}

}  // namespace svckit::python
