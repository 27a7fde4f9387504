#include "svckit/auth/jwt.hpp"

#include <algorithm>
#include <cmath>

#include "../http/ascii.hpp"
#include "strict_json.hpp"

namespace svckit::auth {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 8;
constexpr std::size_t kMaxKid = 256;
constexpr double kLatestTime = 253402300799;  // 9999-12-31T23:59:59Z
constexpr auto kMaxLeeway = std::chrono::seconds(300);

// A JOSE header or claims set: an object, by the strict parser (no duplicate members, bounded
// depth, valid UTF-8).
json parse_object(std::string_view text, const char* what) {
  std::string error;
  auto parsed = detail::parse_strict_json(text, kMaxJsonDepth, error);
  if (!parsed) throw TokenError(std::string(what) + " " + error);
  if (!parsed->is_object()) throw TokenError(std::string(what) + " is not a JSON object");
  return std::move(*parsed);
}

std::string decode_part(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes) throw TokenError(std::string(what) + " is not canonical base64url");
  return std::move(*bytes);
}

// A NumericDate claim: a JSON number of seconds, within years 1970..9999.
std::optional<double> time_claim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_number()) throw TokenError(std::string("\"") + name + "\" is not a number");
  double t = it->get<double>();
  if (!std::isfinite(t) || t < 0 || t > kLatestTime)
    throw TokenError(std::string("\"") + name + "\" is out of range");
  return t;
}

void check_header(const json& header) {
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) throw TokenError("the header has no \"alg\"");
  // Header members that would let the token pick its own key or extensions are refused
  // outright (RFC 8725 §3.10); svckit understands no critical extensions.
  for (const char* member : {"jku", "x5u", "jwk", "x5c", "crit"})
    if (header.contains(member))
      throw TokenError(std::string("the header member \"") + member + "\" is not accepted");
  if (auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string()) throw TokenError("\"typ\" is not a string");
    const auto& t = typ->get_ref<const std::string&>();
    if (!http::detail::iequals(t, "jwt") && !http::detail::iequals(t, "at+jwt") &&
        !http::detail::iequals(t, "application/jwt"))
      throw TokenError("\"typ\" is '" + t + "', not a JWT");
  }
}

// The keys that may have signed this token: its algorithm's, narrowed by kid when it has one.
std::vector<const Key*> candidate_keys(const KeySet& keys, const json& header,
                                       std::string_view alg_name) {
  auto alg = parse_algorithm(alg_name);
  if (!alg) {
    if (http::detail::iequals(alg_name, "none"))
      throw TokenError("unsigned tokens (alg \"none\") are never accepted");
    throw TokenError("unsupported alg '" + std::string(alg_name.substr(0, 32)) + "'");
  }
  std::optional<std::string> kid;
  if (auto it = header.find("kid"); it != header.end()) {
    if (!it->is_string()) throw TokenError("\"kid\" is not a string");
    kid = it->get<std::string>();
    if (kid->size() > kMaxKid) throw TokenError("\"kid\" is too long");
  }
  std::vector<const Key*> candidates;
  for (const auto& key : keys.keys()) {
    if (kid && key.kid() != *kid) continue;
    if (key.algorithm() != *alg) continue;
    candidates.push_back(&key);
  }
  if (candidates.empty()) {
    if (kid) throw TokenError("no " + std::string(alg_name) + " key with this kid");
    throw TokenError("no key for alg " + std::string(alg_name));
  }
  return candidates;
}

}  // namespace

TokenError::TokenError(std::string reason)
    : Unauthorized("invalid token: " + reason), reason_(std::move(reason)) {
  with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
}

std::string Token::subject() const {
  auto it = claims.find("sub");
  return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Verifier::Verifier(KeySet keys, VerifyOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {
  options_.leeway = std::clamp(options_.leeway, std::chrono::seconds(0), kMaxLeeway);
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
}

Token Verifier::verify(std::string_view token) const {
  // Size first: nothing is decoded for a token that cannot be legitimate.
  if (token.size() > options_.max_token_bytes) throw TokenError("the token is too large");
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    throw TokenError("not a compact JWS (three dot-separated parts)");
  auto header_part = token.substr(0, first);
  auto claims_part = token.substr(first + 1, second - first - 1);
  auto signature_part = token.substr(second + 1);
  if (signature_part.empty()) throw TokenError("the token is not signed");

  Token out;
  out.header = parse_object(decode_part(header_part, "the header"), "the header");
  check_header(out.header);
  auto candidates =
      candidate_keys(keys_, out.header, out.header["alg"].get_ref<const std::string&>());
  auto signature = decode_part(signature_part, "the signature");
  auto signing_input = token.substr(0, second);
  // With no kid, each key of the algorithm is tried (rotation without kids); there are few.
  bool verified = std::any_of(candidates.begin(), candidates.end(), [&](const Key* key) {
    return key->verify(signing_input, signature);
  });
  if (!verified) throw TokenError("the signature does not verify");

  out.claims = parse_object(decode_part(claims_part, "the claims"), "the claims");
  const json& claims = out.claims;
  double now = std::chrono::duration<double>(options_.clock().time_since_epoch()).count();
  double leeway = static_cast<double>(options_.leeway.count());
  auto exp = time_claim(claims, "exp");
  auto nbf = time_claim(claims, "nbf");
  auto iat = time_claim(claims, "iat");
  if (!exp && options_.require_exp) throw TokenError("the token has no \"exp\"");
  if (exp && now >= *exp + leeway) throw TokenError("the token has expired");
  if (nbf && now < *nbf - leeway) throw TokenError("the token is not valid yet");
  if (iat && *iat > now + leeway) throw TokenError("the token was issued in the future");

  if (options_.issuer) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || *iss != *options_.issuer)
      throw TokenError("the issuer is not " + *options_.issuer);
  }
  auto aud = claims.find("aud");
  if (aud != claims.end() || !options_.audiences.empty()) {
    if (aud == claims.end()) throw TokenError("the token has no audience");
    if (options_.audiences.empty()) throw TokenError("the token is meant for another audience");
    auto accepted = [&](const json& a) {
      return a.is_string() &&
             std::find(options_.audiences.begin(), options_.audiences.end(),
                       a.get_ref<const std::string&>()) != options_.audiences.end();
    };
    bool ok = aud->is_string()  ? accepted(*aud)
              : aud->is_array() ? std::all_of(aud->begin(), aud->end(),
                                              [](const json& a) { return a.is_string(); }) &&
                                      std::any_of(aud->begin(), aud->end(), accepted)
                                : throw TokenError("\"aud\" is neither a string nor an array");
    if (!ok) throw TokenError("the token is meant for another audience");
  }
  if (options_.token_type) {
    auto type = claims.find("type");
    if (type == claims.end() || !type->is_string() || *type != *options_.token_type)
      throw TokenError("not an " + *options_.token_type + " token");
  }
  for (const auto& name : options_.required_claims)
    if (!claims.contains(name)) throw TokenError("the claim \"" + name + "\" is missing");
  return out;
}

std::string sign(const nlohmann::json& claims, const Key& key) {
  json header = {{"alg", algorithm_name(key.algorithm())}, {"typ", "JWT"}};
  if (!key.kid().empty()) header["kid"] = key.kid();
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  std::string signature = key.sign(input);
  return input + "." + base64url_encode(signature);
}

}  // namespace svckit::auth
