#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <array>

#include <nlohmann/json.hpp>

#include "svckit/auth/jwt.hpp"

using namespace svckit::auth;
using nlohmann::json;

namespace {

// RFC 7515 A.1–A.3 share a claims set whose "exp" is 1300819380 (March 2011).
auto rfc_clock = [] {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1300819000));
};
const char* kRfcClaims =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q";

VerifyOptions rfc_options() {
  VerifyOptions o;
  o.clock = rfc_clock;
  return o;
}

// A fresh key pair of the algorithm's type, as PEM, made with OpenSSL directly.
std::string private_pem(Algorithm a) {
  EVP_PKEY* pkey = nullptr;
  switch (a) {
    case Algorithm::ES256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case Algorithm::ES384:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case Algorithm::ES512:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521");
      break;
    case Algorithm::EdDSA:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    default:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  }
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

const Algorithm kAll[] = {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::RS256,
                          Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384,
                          Algorithm::PS512, Algorithm::ES256, Algorithm::ES384, Algorithm::ES512,
                          Algorithm::EdDSA};

Key make_key(Algorithm a, std::string kid = {}) {
  std::string_view name = algorithm_name(a);
  if (name[0] == 'H') return Key::hmac(a, std::string(64, 'k'), kid);
  return Key::from_pem(a, private_pem(a), kid);
}

json fresh_claims() {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return {{"sub", "user-1"}, {"iat", now}, {"exp", now + 600}, {"type", "access"}};
}

// A token from raw header and claims text, signed with `key`: for shapes sign() never makes.
std::string craft(std::string_view header, std::string_view claims, const Key& key) {
  std::string input = base64url_encode(header) + "." + base64url_encode(claims);
  return input + "." + base64url_encode(key.sign(input));
}

std::string reason_of(const Verifier& v, const std::string& token) {
  try {
    v.verify(token);
  } catch (const TokenError& e) {
    return e.reason();
  }
  return "(accepted)";
}

}  // namespace

TEST(Jwt, Rfc7515A1Hs256) {
  auto key = Key::from_jwk(
      json::parse(
          R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})"),
      Algorithm::HS256);
  Verifier v({key}, rfc_options());
  auto token = v.verify(std::string("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.") + kRfcClaims +
                        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  EXPECT_EQ(token.claims.string("iss"), "joe");
  EXPECT_EQ(token.claims.value("http://example.com/is_root"), true);
}

TEST(Jwt, Rfc7515A2Rs256) {
  auto key = Key::from_jwk(
      json{{"kty", "RSA"},
           {"n",
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
            "4qPCJrcS2mJPMEzP1Pt"
            "0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
            "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4L"
            "T6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"},
           {"e", "AQAB"}},
      Algorithm::RS256);
  Verifier v({key}, rfc_options());
  auto token = v.verify(
      std::string("eyJhbGciOiJSUzI1NiJ9.") + kRfcClaims +
      ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
      "O8W2Fp5"
      "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHl"
      "b1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w"
      "9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw");
  EXPECT_EQ(token.claims.string("iss"), "joe");
}

TEST(Jwt, Rfc7515A3Es256) {
  auto key = Key::from_jwk(json{{"kty", "EC"},
                                {"crv", "P-256"},
                                {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                                {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}});
  EXPECT_EQ(key.algorithm(), Algorithm::ES256);  // the curve names the algorithm
  Verifier v({key}, rfc_options());
  std::string token =
      std::string("eyJhbGciOiJFUzI1NiJ9.") + kRfcClaims +
      ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-"
      "Kg6NU1Q";
  EXPECT_EQ(v.verify(token).claims.string("iss"), "joe");
  // The same signature with the payload changed by one character does not verify.
  token[30] = token[30] == 'a' ? 'b' : 'a';
  EXPECT_NE(reason_of(v, token), "(accepted)");
}

// RFC 8037 A.4: Ed25519 is deterministic, so signing reproduces the RFC's signature exactly.
TEST(Jwt, Rfc8037A4Ed25519) {
  auto key = Key::from_jwk(json{{"kty", "OKP"},
                                {"crv", "Ed25519"},
                                {"d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
                                {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}});
  std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  std::string expected =
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
  EXPECT_EQ(base64url_encode(key.sign(input)), expected);
  EXPECT_TRUE(key.verify(input, *base64url_decode(expected)));
  EXPECT_FALSE(key.verify(input + "x", *base64url_decode(expected)));
  EXPECT_EQ(key.public_jwk()["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
}

TEST(Jwt, EveryAlgorithmSignsAndVerifies) {
  for (Algorithm a : kAll) {
    SCOPED_TRACE(std::string(algorithm_name(a)));
    Key key = make_key(a, "k1");
    Verifier v({key}, {});
    auto token = v.verify(sign(fresh_claims(), key));
    EXPECT_EQ(token.subject(), "user-1");
    EXPECT_EQ(token.header.string("alg"), algorithm_name(a));
    EXPECT_EQ(token.header.string("kid"), "k1");
    if (algorithm_name(a)[0] != 'H') {  // the public half alone verifies
      Verifier public_only({Key::from_jwk(key.public_jwk())}, {});
      EXPECT_EQ(public_only.verify(sign(fresh_claims(), key)).subject(), "user-1");
      EXPECT_FALSE(Key::from_jwk(key.public_jwk()).can_sign());
    }
  }
}

TEST(Jwt, KeysAreBoundToOneAlgorithmAndTheRightType) {
  EXPECT_THROW(Key::hmac(Algorithm::HS256, "short"), KeyError);  // < 32 bytes
  EXPECT_THROW(Key::hmac(Algorithm::HS512, std::string(48, 'k')), KeyError);
  EXPECT_THROW(Key::hmac(Algorithm::RS256, std::string(64, 'k')), KeyError);
  auto ec = private_pem(Algorithm::ES256);
  EXPECT_THROW(Key::from_pem(Algorithm::RS256, ec), KeyError);  // EC key for RSA
  EXPECT_THROW(Key::from_pem(Algorithm::ES384, ec), KeyError);  // wrong curve
  EXPECT_THROW(Key::from_pem(Algorithm::HS256, ec), KeyError);
  EXPECT_THROW(Key::from_pem(Algorithm::EdDSA, "not a pem"), KeyError);
  EXPECT_THROW(Key::from_jwk(json{{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}}),
               KeyError);  // no alg
  EXPECT_THROW(Key::from_jwk(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}}),
               KeyError);
}

// PyJWT 2.6 writes an EC coordinate with its leading zero bytes dropped (one key in 128):
// the number is the same, so the key must load and verify; a coordinate too wide must not.
TEST(Jwt, EcCoordinatesWithoutTheirLeadingZerosStillLoad) {
  for (int tries = 0; tries < 10000; ++tries) {
    Key key = make_key(Algorithm::ES256, "short-x");
    json jwk = key.public_jwk();
    auto x = *base64url_decode(jwk["x"].get<std::string>());
    if (x[0] != '\0') continue;
    jwk["x"] = base64url_encode(x.substr(x.find_first_not_of('\0')));
    Verifier v({Key::from_jwk(jwk)}, {});
    EXPECT_EQ(v.verify(sign(fresh_claims(), key)).subject(), "user-1");
    jwk["x"] = base64url_encode(std::string(1, '\0') + x);  // 33 bytes
    EXPECT_THROW(Key::from_jwk(jwk), KeyError);
    jwk["x"] = base64url_encode(std::string(32, '\0'));  // the right width, not on the curve
    EXPECT_THROW(Key::from_jwk(jwk), KeyError);
    return;
  }
  FAIL() << "no P-256 key with a leading zero byte in x in 10000 tries";
}

// An issuer's set may hold keys a verifier cannot use; the lenient form leaves them out and
// names them, the strict form (a JWKS file the operator wrote) refuses the set.
TEST(Jwt, KeySetsCanLeaveOutKeysTheyCannotUse) {
  json jwks = {{"keys", json::array()}};
  jwks["keys"].push_back(make_key(Algorithm::ES256, "good").public_jwk());
  jwks["keys"].push_back(
      {{"kty", "EC"}, {"crv", "secp256k1"}, {"x", "AA"}, {"y", "AA"}, {"kid", "k1"}});
  jwks["keys"].push_back({{"kty", "EC"}, {"crv", 256}, {"kid", "wrong-type"}});
  jwks["keys"].push_back({{"kty", "EC"}, {"kid", 5}});
  jwks["keys"].push_back({{"kty", "RSA"}, {"use", 7}, {"kid", "use-not-text"}});
  jwks["keys"].push_back("not an object");
  jwks["keys"].push_back({{"kty", "RSA"}, {"use", "enc"}, {"kid", "for-encryption"}});  // not ours
  EXPECT_THROW(KeySet::from_jwks(jwks), KeyError);
  std::vector<std::string> skipped;
  auto set = KeySet::from_jwks(jwks, skipped);
  ASSERT_EQ(set.keys().size(), 1u);
  EXPECT_EQ(set.keys()[0].kid(), "good");
  ASSERT_EQ(skipped.size(), 5u);
  EXPECT_EQ(skipped[0], "k1: JWK: unsupported EC curve 'secp256k1'");
  EXPECT_EQ(skipped[1], "wrong-type: JWK: \"crv\" must be a string");
  EXPECT_EQ(skipped[2].rfind("(no kid): ", 0), 0u) << skipped[2];
  EXPECT_EQ(skipped[3], "use-not-text: JWK: \"use\" must be a string");
  EXPECT_EQ(skipped[4], "(not an object): JWK: not a JSON object");
}

TEST(Jwt, KeySetsRotateByKid) {
  Key old_key = make_key(Algorithm::ES256, "2026-10"),
      new_key = make_key(Algorithm::ES256, "2026-11");
  KeySet set{old_key, new_key};
  auto jwks = set.public_jwks();
  ASSERT_EQ(jwks["keys"].size(), 2u);
  Verifier v(KeySet::from_jwks(jwks), {});
  EXPECT_EQ(v.verify(sign(fresh_claims(), old_key)).header.string("kid"), "2026-10");
  EXPECT_EQ(v.verify(sign(fresh_claims(), new_key)).header.string("kid"), "2026-11");
  Verifier only_new({Key::from_jwk(new_key.public_jwk())}, {});
  EXPECT_EQ(reason_of(only_new, sign(fresh_claims(), old_key)), "no ES256 key with this kid");
}

// Hostile tokens: each is refused with its reason, and never with anything but TokenError.
TEST(Jwt, RefusesHostileTokens) {
  Key key = Key::hmac(Algorithm::HS256, std::string(32, 's'));
  VerifyOptions options;
  options.issuer = "svckit-security";
  options.audiences = {"aether"};
  options.token_type = "access";
  Verifier v({key}, options);
  auto now = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  std::string good_claims =
      R"({"sub":"u","iss":"svckit-security","aud":"aether","type":"access","exp":)" + now + "0}";
  const std::string hs = R"({"alg":"HS256","typ":"JWT"})";
  ASSERT_EQ(reason_of(v, craft(hs, good_claims, key)), "(accepted)");
  std::string good = craft(hs, good_claims, key);
  auto body = good.substr(0, good.rfind('.'));
  auto with_claims = [&](const std::string& c) { return craft(hs, c, key); };
  auto claims_with = [&](const std::string& member) {
    return R"({"sub":"u","iss":"svckit-security","aud":"aether","type":"access",)" + member + "}";
  };

  struct Case {
    std::string name, token, reason;
  };
  std::vector<Case> cases = {
      {"alg none",
       base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(good_claims) + ".",
       "the token is not signed"},
      {"alg none signed", craft(R"({"alg":"none"})", good_claims, key),
       "unsigned tokens (alg \"none\") are never accepted"},
      {"alg None", craft(R"({"alg":"None"})", good_claims, key),
       "unsigned tokens (alg \"none\") are never accepted"},
      {"alg nOnE", craft(R"({"alg":"nOnE"})", good_claims, key),
       "unsigned tokens (alg \"none\") are never accepted"},
      {"alg lowercase", craft(R"({"alg":"hs256"})", good_claims, key), "unsupported alg 'hs256'"},
      {"alg not a string", craft(R"({"alg":256})", good_claims, key), "the header has no \"alg\""},
      {"no alg", craft(R"({"typ":"JWT"})", good_claims, key), "the header has no \"alg\""},
      {"another secret", craft(hs, good_claims, Key::hmac(Algorithm::HS256, std::string(32, 't'))),
       "the signature does not verify"},
      {"unknown kid", craft(R"({"alg":"HS256","kid":"nope"})", good_claims, key),
       "no HS256 key with this kid"},
      {"path kid", craft(R"({"alg":"HS256","kid":"../../../dev/null"})", good_claims, key),
       "no HS256 key with this kid"},
      {"long kid",
       craft(R"({"alg":"HS256","kid":")" + std::string(300, 'a') + "\"}", good_claims, key),
       "\"kid\" is too long"},
      {"numeric kid", craft(R"({"alg":"HS256","kid":7})", good_claims, key),
       "\"kid\" is not a string"},
      {"jku", craft(R"({"alg":"HS256","jku":"http://evil/jwks"})", good_claims, key),
       "the header member \"jku\" is not accepted"},
      {"x5u", craft(R"({"alg":"HS256","x5u":"http://evil/cert"})", good_claims, key),
       "the header member \"x5u\" is not accepted"},
      {"jwk", craft(R"({"alg":"HS256","jwk":{"kty":"oct","k":"AA"}})", good_claims, key),
       "the header member \"jwk\" is not accepted"},
      {"x5c", craft(R"({"alg":"HS256","x5c":["MII"]})", good_claims, key),
       "the header member \"x5c\" is not accepted"},
      {"crit", craft(R"({"alg":"HS256","crit":["exp"]})", good_claims, key),
       "the header member \"crit\" is not accepted"},
      {"typ", craft(R"({"alg":"HS256","typ":"JWE"})", good_claims, key),
       "\"typ\" is 'JWE', not a JWT"},
      {"duplicate alg", craft(R"({"alg":"HS256","alg":"none"})", good_claims, key),
       "the header has a duplicate member"},
      {"duplicate sub", with_claims(R"({"sub":"u","sub":"admin","exp":)" + now + "0}"),
       "the claims has a duplicate member"},
      {"duplicate nested", with_claims(claims_with(R"("exp":)" + now + R"(0,"x":{"a":1,"a":2})")),
       "the claims has a duplicate member"},
      {"padded base64", body + "." + base64url_encode(key.sign(body)) + "=",
       "the signature is not canonical base64url"},
      {"standard base64", body + "." + std::string(42, '/') + "A",
       "the signature is not canonical base64url"},
      {"non-canonical bits", body + "." + base64url_encode(key.sign(body)).substr(0, 42) + "B",
       "the signature is not canonical base64url"},
      {"space in header", " " + good, "the header is not canonical base64url"},
      {"truncated signature", body + "." + base64url_encode(key.sign(body).substr(0, 31)),
       "the signature does not verify"},
      {"extended signature", body + "." + base64url_encode(key.sign(body) + "x"),
       "the signature does not verify"},
      {"two parts", body, "not a compact JWS (three dot-separated parts)"},
      {"four parts", good + ".x", "not a compact JWS (three dot-separated parts)"},
      {"empty", "", "not a compact JWS (three dot-separated parts)"},
      {"oversized", good + std::string(9000, 'A'), "the token is too large"},
      {"header not JSON", craft("{alg:HS256}", good_claims, key), "the header is not valid JSON"},
      {"header an array", craft(R"(["HS256"])", good_claims, key),
       "the header is not a JSON object"},
      {"claims a number", with_claims("123"), "the claims is not a JSON object"},
      {"claims deep",
       with_claims(claims_with(R"("exp":)" + now + "0,\"x\":" + std::string(50, '[') +
                               std::string(50, ']'))),
       "the claims is nested too deeply"},
      {"exp a string", with_claims(claims_with(R"("exp":"tomorrow")")), "\"exp\" is not a number"},
      {"exp huge", with_claims(claims_with(R"("exp":1e300)")), "\"exp\" is out of range"},
      {"exp negative", with_claims(claims_with(R"("exp":-5)")), "\"exp\" is out of range"},
      {"exp past", with_claims(claims_with(R"("exp":1300819380)")), "the token has expired"},
      {"no exp", with_claims(claims_with(R"("x":1)")), "the token has no \"exp\""},
      {"nbf future", with_claims(claims_with(R"("exp":)" + now + "0,\"nbf\":" + now + "0")),
       "the token is not valid yet"},
      {"iat future", with_claims(claims_with(R"("exp":)" + now + "0,\"iat\":" + now + "0")),
       "the token was issued in the future"},
      {"iat a bool", with_claims(claims_with(R"("exp":)" + now + "0,\"iat\":true")),
       "\"iat\" is not a number"},
      {"wrong issuer",
       with_claims(R"({"iss":"evil","aud":"aether","type":"access","exp":)" + now + "0}"),
       "the issuer is not svckit-security"},
      {"no audience",
       with_claims(R"({"iss":"svckit-security","type":"access","exp":)" + now + "0}"),
       "the token has no audience"},
      {"other audience",
       with_claims(R"({"iss":"svckit-security","aud":["x","y"],"type":"access","exp":)" + now +
                   "0}"),
       "the token is meant for another audience"},
      {"audience with a number",
       with_claims(R"({"iss":"svckit-security","aud":["aether",1],"type":"access","exp":)" + now +
                   "0}"),
       "\"aud\" holds a non-string"},
      {"audience an object",
       with_claims(R"({"iss":"svckit-security","aud":{"a":1},"type":"access","exp":)" + now + "0}"),
       "\"aud\" is neither a string nor an array"},
      {"refresh as access",
       with_claims(R"({"iss":"svckit-security","aud":"aether","type":"refresh","exp":)" + now +
                   "0}"),
       "not an access token"},
  };
  for (const auto& c : cases) EXPECT_EQ(reason_of(v, c.token), c.reason) << c.name;
}

// The classic confusion: a verifier holding an RSA public key is sent an HS256 token whose
// "secret" is that public key. The key is bound to RS256, so HS256 finds no key at all.
TEST(Jwt, PublicKeysAreNeverHmacSecrets) {
  Key rsa = make_key(Algorithm::RS256);
  Verifier v({Key::from_jwk(rsa.public_jwk())}, {});
  std::string public_text = rsa.public_jwk().dump();
  auto forged = sign(fresh_claims(), Key::hmac(Algorithm::HS256, public_text));
  EXPECT_EQ(reason_of(v, forged), "no key for alg HS256");
  EXPECT_EQ(reason_of(v, sign(fresh_claims(), rsa)), "(accepted)");
}

// ECDSA signatures with r or s zero or not below the curve order are forgeries (CVE-2022-21449).
TEST(Jwt, RefusesOutOfRangeEcdsaSignatures) {
  Key key = make_key(Algorithm::ES256);
  std::string input = "eyJhbGciOiJFUzI1NiJ9.e30";
  std::string zero(64, '\0');
  EXPECT_FALSE(key.verify(input, zero));
  std::string order =
      *base64url_decode("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");  // n of P-256
  std::string good = key.sign(input);
  EXPECT_TRUE(key.verify(input, good));
  EXPECT_FALSE(key.verify(input, order + good.substr(32)));                       // r = n
  EXPECT_FALSE(key.verify(input, good.substr(0, 32) + order));                    // s = n
  EXPECT_FALSE(key.verify(input, good.substr(0, 32) + std::string(32, '\xff')));  // s > n
  EXPECT_FALSE(key.verify(input, good.substr(0, 63)));                            // wrong length
  EXPECT_FALSE(key.verify(input, "\x30\x06\x02\x01\x01\x02\x01\x01"));            // DER is not JWS
}

TEST(Jwt, LeewayIsBoundedAndApplied) {
  Key key = Key::hmac(Algorithm::HS256, std::string(32, 's'));
  VerifyOptions o;
  o.leeway = std::chrono::hours(24);  // clamped to 5 minutes
  auto fixed = std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000));
  o.clock = [fixed] { return fixed; };
  Verifier v({key}, o);
  EXPECT_EQ(v.options().leeway, std::chrono::seconds(300));
  EXPECT_EQ(reason_of(v, sign({{"exp", 2'000'000'000 - 299}}, key)), "(accepted)");
  EXPECT_EQ(reason_of(v, sign({{"exp", 2'000'000'000 - 301}}, key)), "the token has expired");
}

TEST(Jwt, Base64urlIsStrict) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(*base64url_decode("-_8"), "\xfb\xff");
  EXPECT_FALSE(base64url_decode("-_9"));   // the unused bits are not zero
  EXPECT_FALSE(base64url_decode("-_8="));  // padding
  EXPECT_FALSE(base64url_decode("+/8"));   // the other alphabet
  EXPECT_FALSE(base64url_decode("A"));     // no length encodes to 1 mod 4
  EXPECT_FALSE(base64url_decode("AA AA"));
}

// The verifier decodes into buffers it reuses: what does not fit is refused, never written past.
TEST(Jwt, Base64urlDecodesIntoABufferNoLargerThanItIsGiven) {
  std::array<char, 4> buffer{'x', 'x', 'x', 'x'};
  EXPECT_EQ(base64url_decode_into("-_8", std::span(buffer).first(2)), 2u);
  EXPECT_EQ(std::string(buffer.data(), 2), "\xfb\xff");
  EXPECT_EQ(buffer[2], 'x');
  EXPECT_FALSE(base64url_decode_into("-_8", std::span(buffer).first(1)));  // too small
  EXPECT_EQ(base64url_decode_into("AAAAAA", std::span(buffer).first(4)), 4u);
  EXPECT_FALSE(base64url_decode_into("AAAAAAAA", buffer));  // 6 bytes do not
  EXPECT_FALSE(base64url_decode_into("-_9", buffer));
  EXPECT_EQ(base64url_decode_into("", buffer), 0u);
}

// One verifier, many tokens of different sizes on one thread: the reused buffers never carry
// one token's bytes into the next one's claims or signature.
TEST(Jwt, TokensOfDifferentSizesVerifyOneAfterAnother) {
  Key key = Key::hmac(Algorithm::HS256, std::string(40, 'k'));
  Verifier verifier({key}, {});
  auto later = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count() +
               600;
  for (std::size_t n : {200u, 3u, 1000u, 0u, 50u}) {
    std::string long_claim(n, 'v');
    auto token = sign({{"sub", "u" + std::to_string(n)}, {"pad", long_claim}, {"exp", later}}, key);
    auto verified = verifier.verify(token);
    EXPECT_EQ(verified.subject(), "u" + std::to_string(n));
    EXPECT_EQ(*verified.claims.string("pad"), long_claim);
    auto tampered = token;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_THROW(verifier.verify(tampered), TokenError) << n;
  }
}
