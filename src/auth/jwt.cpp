#include "svckit/auth/jwt.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <cmath>

#include "svckit/http/ascii.hpp"

namespace svckit::auth {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxKid = 256;
constexpr double kLatestTime = 253402300799;  // 9999-12-31T23:59:59Z
constexpr auto kMaxLeeway = std::chrono::seconds(300);

JoseObject parse_object(std::string_view text, const char* what) {
  std::string error;
  auto parsed = JoseObject::parse(text, error);
  if (!parsed) throw TokenError(std::string(what) + " " + error);
  return std::move(*parsed);
}

std::string decode_part(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes) throw TokenError(std::string(what) + " is not canonical base64url");
  return std::move(*bytes);
}

// A part decoded into `buffer`, grown as needed and reused: tokens are decoded on every
// authenticated request, and an allocation per part was a tenth of an HS256 verification.
std::string_view decode_part_into(std::string_view part, std::string& buffer, const char* what) {
  buffer.resize(part.size() / 4 * 3 + 2);
  auto size = base64url_decode_into(part, buffer);
  if (!size) throw TokenError(std::string(what) + " is not canonical base64url");
  return std::string_view(buffer).substr(0, *size);
}

// A NumericDate claim: a JSON number of seconds, within years 1970..9999.
std::optional<double> time_claim(const JoseObject& claims, const char* name) {
  const auto* member = claims.find(name);
  if (!member) return std::nullopt;
  if (member->kind != JoseObject::Kind::number)
    throw TokenError(std::string("\"") + name + "\" is not a number");
  double t = member->number;
  if (!std::isfinite(t) || t < 0 || t > kLatestTime)
    throw TokenError(std::string("\"") + name + "\" is out of range");
  return t;
}

void check_header(const JoseObject& header) {
  if (!header.string("alg")) throw TokenError("the header has no \"alg\"");
  // Header members that would let the token pick its own key or extensions are refused
  // outright (RFC 8725 §3.10); svckit understands no critical extensions.
  for (const char* member : {"jku", "x5u", "jwk", "x5c", "crit"})
    if (header.contains(member))
      throw TokenError(std::string("the header member \"") + member + "\" is not accepted");
  if (const auto* typ = header.find("typ")) {
    if (typ->kind != JoseObject::Kind::string) throw TokenError("\"typ\" is not a string");
    std::string_view t = typ->text;
    if (!http::iequals(t, "jwt") && !http::iequals(t, "at+jwt") &&
        !http::iequals(t, "application/jwt"))
      throw TokenError("\"typ\" is '" + std::string(t.substr(0, 64)) + "', not a JWT");
  }
}

// The keys that may have signed this token: its algorithm's, narrowed by kid when it has one.
using Candidates = boost::container::small_vector<const Key*, 4>;
Candidates candidate_keys(const KeySet& keys, const JoseObject& header, std::string_view alg_name,
                          const std::function<void()>& on_unknown_kid) {
  auto alg = parse_algorithm(alg_name);
  if (!alg) {
    if (http::iequals(alg_name, "none"))
      throw TokenError("unsigned tokens (alg \"none\") are never accepted");
    throw TokenError("unsupported alg '" + std::string(alg_name.substr(0, 32)) + "'");
  }
  std::optional<std::string_view> kid;
  if (const auto* member = header.find("kid")) {
    if (member->kind != JoseObject::Kind::string) throw TokenError("\"kid\" is not a string");
    if (member->text.size() > kMaxKid) throw TokenError("\"kid\" is too long");
    kid = member->text;
  }
  Candidates candidates;
  for (const auto& key : keys.keys()) {
    if (kid && key.kid() != *kid) continue;
    if (key.algorithm() != *alg) continue;
    candidates.push_back(&key);
  }
  if (candidates.empty()) {
    if (kid && on_unknown_kid) on_unknown_kid();
    if (kid) throw TokenError("no " + std::string(alg_name) + " key with this kid");
    throw TokenError("no key for alg " + std::string(alg_name));
  }
  return candidates;
}

// "aud": a string or an array of strings naming one of the accepted audiences. A token with an
// audience is refused by a verifier that expects none.
void check_audience(const JoseObject& claims, const std::vector<std::string>& accepted) {
  const auto* aud = claims.find("aud");
  if (!aud && accepted.empty()) return;
  if (!aud) throw TokenError("the token has no audience");
  auto is_accepted = [&](std::string_view a) {
    return std::find(accepted.begin(), accepted.end(), a) != accepted.end();
  };
  bool ok = false;
  if (aud->kind == JoseObject::Kind::string) {
    ok = is_accepted(aud->text);  // the usual case: no copy
  } else if (aud->kind == JoseObject::Kind::array) {
    auto strings = claims.strings("aud");
    if (!strings) throw TokenError("\"aud\" holds a non-string");
    ok = std::any_of(strings->begin(), strings->end(), is_accepted);
  } else {
    throw TokenError("\"aud\" is neither a string nor an array");
  }
  if (!ok) throw TokenError("the token is meant for another audience");
}

}  // namespace

TokenError::TokenError(std::string reason)
    : Unauthorized("invalid token: " + reason), reason_(std::move(reason)) {
  with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
}

std::string Token::subject() const {
  return std::string(claims.string("sub").value_or(""));
}

Verifier::Verifier(KeySet keys, VerifyOptions options)
    : keys_(std::make_shared<const KeySet>(std::move(keys))), options_(std::move(options)) {
  options_.leeway = std::clamp(options_.leeway, std::chrono::seconds(0), kMaxLeeway);
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
}

void Verifier::replace_keys(KeySet keys) {
  keys_.store(std::make_shared<const KeySet>(std::move(keys)), std::memory_order_release);
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
  // An issuer's tokens share one header text: each thread keeps the last one it parsed and
  // checked, which spares a decode and a parse per token (the checks depend on the text only).
  struct LastHeader {
    std::string text;
    JoseObject parsed;
  };
  thread_local LastHeader last;
  if (header_part == last.text) {
    out.header = last.parsed;
  } else {
    out.header = parse_object(decode_part(header_part, "the header"), "the header");
    check_header(out.header);
    if (header_part.size() <= 256) last = {std::string(header_part), out.header};
  }
  auto keys = this->keys();  // held: the candidates point into it
  auto candidates =
      candidate_keys(*keys, out.header, *out.header.string("alg"), options_.on_unknown_kid);
  // Both decoded into this thread's buffers: the claims are copied out as they are parsed.
  thread_local std::string signature_buffer, claims_buffer;
  auto signature = decode_part_into(signature_part, signature_buffer, "the signature");
  auto signing_input = token.substr(0, second);
  // With no kid, each key of the algorithm is tried (rotation without kids); there are few.
  bool verified = std::any_of(candidates.begin(), candidates.end(), [&](const Key* key) {
    return key->verify(signing_input, signature);
  });
  if (!verified) throw TokenError("the signature does not verify");

  out.claims =
      parse_object(decode_part_into(claims_part, claims_buffer, "the claims"), "the claims");
  const JoseObject& claims = out.claims;
  double now = std::chrono::duration<double>(options_.clock().time_since_epoch()).count();
  double leeway = static_cast<double>(options_.leeway.count());
  auto exp = time_claim(claims, "exp");
  auto nbf = time_claim(claims, "nbf");
  auto iat = time_claim(claims, "iat");
  if (!exp && options_.require_exp) throw TokenError("the token has no \"exp\"");
  if (exp && now >= *exp + leeway) throw TokenError("the token has expired");
  if (nbf && now < *nbf - leeway) throw TokenError("the token is not valid yet");
  if (iat && *iat > now + leeway) throw TokenError("the token was issued in the future");

  if (options_.issuer && claims.string("iss") != *options_.issuer)
    throw TokenError("the issuer is not " + *options_.issuer);
  check_audience(claims, options_.audiences);
  if (options_.token_type && claims.string("type") != *options_.token_type)
    throw TokenError("not an " + *options_.token_type + " token");
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
