#include "svckit/auth/key.hpp"

// The SHA-2 structs of OpenSSL's low-level API are deprecated in 3.0 but copy by value, which
// the HMAC below needs (see FastHmac).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "svckit/auth/jwt.hpp"

namespace svckit::auth {
namespace {

// Owning handles for OpenSSL objects.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

enum class Family { hmac, rsa, rsa_pss, ecdsa, eddsa };

struct Profile {
  Family family;
  const char* digest;     // nullptr for EdDSA
  int hash_bits;          // 256, 384 or 512 (the digest's length); 0 for EdDSA
  std::size_t size;       // HMAC: minimum secret bytes; ECDSA: bytes of r and of s
  const char* curve;      // OpenSSL group name for ECDSA
  const char* jwk_curve;  // "crv" for ECDSA and EdDSA
};

Profile profile(Algorithm a) {
  switch (a) {
    case Algorithm::HS256:
      return {Family::hmac, "SHA256", 256, 32, nullptr, nullptr};
    case Algorithm::HS384:
      return {Family::hmac, "SHA384", 384, 48, nullptr, nullptr};
    case Algorithm::HS512:
      return {Family::hmac, "SHA512", 512, 64, nullptr, nullptr};
    case Algorithm::RS256:
      return {Family::rsa, "SHA256", 256, 0, nullptr, nullptr};
    case Algorithm::RS384:
      return {Family::rsa, "SHA384", 384, 0, nullptr, nullptr};
    case Algorithm::RS512:
      return {Family::rsa, "SHA512", 512, 0, nullptr, nullptr};
    case Algorithm::PS256:
      return {Family::rsa_pss, "SHA256", 256, 0, nullptr, nullptr};
    case Algorithm::PS384:
      return {Family::rsa_pss, "SHA384", 384, 0, nullptr, nullptr};
    case Algorithm::PS512:
      return {Family::rsa_pss, "SHA512", 512, 0, nullptr, nullptr};
    case Algorithm::ES256:
      return {Family::ecdsa, "SHA256", 256, 32, "prime256v1", "P-256"};
    case Algorithm::ES384:
      return {Family::ecdsa, "SHA384", 384, 48, "secp384r1", "P-384"};
    case Algorithm::ES512:
      return {Family::ecdsa, "SHA512", 512, 66, "secp521r1", "P-521"};
    case Algorithm::EdDSA:
      return {Family::eddsa, nullptr, 0, 64, nullptr, "Ed25519"};
  }
  throw KeyError("unknown algorithm");
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Digests are fetched once: fetching by name on every signature costs microseconds.
const EVP_MD* digest(const char* name) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  if (!name) return nullptr;
  std::string_view n = name;
  return n == "SHA256" ? sha256 : n == "SHA384" ? sha384 : sha512;
}

// The order of the curve of an ECDSA algorithm, for range checks of r and s.
const BIGNUM* curve_order(Algorithm a) {
  static auto make = [](int nid) {
    EC_GROUP* g = EC_GROUP_new_by_curve_name(nid);
    BIGNUM* order = BN_dup(EC_GROUP_get0_order(g));
    EC_GROUP_free(g);
    return order;
  };
  static const BIGNUM* p256 = make(NID_X9_62_prime256v1);
  static const BIGNUM* p384 = make(NID_secp384r1);
  static const BIGNUM* p521 = make(NID_secp521r1);
  return a == Algorithm::ES256 ? p256 : a == Algorithm::ES384 ? p384 : p521;
}

// HMAC (RFC 2104) with the key's inner and outer pads absorbed once. Per message it copies two
// hash states by value and hashes; OpenSSL 3's EVP_MAC duplicates provider contexts on the heap
// for every message, which was a third of an HS256 verification.
class FastHmac {
 public:
  FastHmac(int bits, std::string_view key) : bits_(bits) {
    std::size_t block = bits == 256 ? 64 : 128;
    unsigned char k[128] = {0};
    if (key.size() > block) {
      digest_once(key, k);
    } else {
      std::memcpy(k, key.data(), key.size());
    }
    unsigned char ipad[128], opad[128];
    for (std::size_t i = 0; i < block; ++i) {
      ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    if (bits == 256) {
      SHA256_Init(&inner256_);
      SHA256_Update(&inner256_, ipad, block);
      SHA256_Init(&outer256_);
      SHA256_Update(&outer256_, opad, block);
    } else {
      bits == 384 ? SHA384_Init(&inner512_) : SHA512_Init(&inner512_);
      SHA512_Update(&inner512_, ipad, block);
      bits == 384 ? SHA384_Init(&outer512_) : SHA512_Init(&outer512_);
      SHA512_Update(&outer512_, opad, block);
    }
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
  }

  std::string mac(std::string_view message) const {
    std::string out(size(), '\0');
    mac_into(message, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  }
  std::size_t size() const { return static_cast<std::size_t>(bits_ / 8); }

  // Into `o`, size() bytes: verification compares on the stack, without a string per token.
  void mac_into(std::string_view message, unsigned char* o) const {
    unsigned char inner[64];
    if (bits_ == 256) {
      SHA256_CTX c = inner256_;
      SHA256_Update(&c, message.data(), message.size());
      SHA256_Final(inner, &c);
      c = outer256_;
      SHA256_Update(&c, inner, 32);
      SHA256_Final(o, &c);
      OPENSSL_cleanse(&c, sizeof c);
    } else {
      SHA512_CTX c = inner512_;
      SHA512_Update(&c, message.data(), message.size());
      bits_ == 384 ? SHA384_Final(inner, &c) : SHA512_Final(inner, &c);
      c = outer512_;
      SHA512_Update(&c, inner, bits_ / 8);
      bits_ == 384 ? SHA384_Final(o, &c) : SHA512_Final(o, &c);
      OPENSSL_cleanse(&c, sizeof c);
    }
  }

 private:
  void digest_once(std::string_view key, unsigned char* out) const {
    if (bits_ == 256) SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out);
    if (bits_ == 384) SHA384(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out);
    if (bits_ == 512) SHA512(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out);
  }

  int bits_;
  SHA256_CTX inner256_{}, outer256_{};
  SHA512_CTX inner512_{}, outer512_{};
};

}  // namespace

struct Key::Impl {
  Algorithm algorithm;
  Profile profile;
  std::string kid;
  std::optional<FastHmac> mac;  // HMAC
  Pkey pkey;                    // asymmetric
  bool is_private = false;

  // Verification contexts for RSA and ECDSA, set up once and reused: setting one up fetches the
  // signature algorithm by name, which cost more than an RSA-2048 verification itself.
  mutable std::mutex idle_mutex;
  mutable std::vector<EVP_PKEY_CTX*> idle;

  ~Impl() {
    for (auto* ctx : idle) EVP_PKEY_CTX_free(ctx);
  }

  EVP_PKEY_CTX* acquire_verifier() const {
    {
      std::lock_guard lock(idle_mutex);
      if (!idle.empty()) {
        auto* ctx = idle.back();
        idle.pop_back();
        return ctx;
      }
    }
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr);
    bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1;
    // PKCS#1 v1.5 compares the whole encoded message instead (digest_info()): no digest is set.
    if (ok && profile.family != Family::rsa)
      ok = EVP_PKEY_CTX_set_signature_md(ctx, digest(profile.digest)) == 1;
    if (ok && profile.family == Family::rsa_pss)
      ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, digest(profile.digest)) == 1;
    if (!ok) {
      EVP_PKEY_CTX_free(ctx);
      return nullptr;
    }
    return ctx;
  }

  void release_verifier(EVP_PKEY_CTX* ctx) const {
    std::lock_guard lock(idle_mutex);
    if (idle.size() < 64) {
      idle.push_back(ctx);
    } else {
      EVP_PKEY_CTX_free(ctx);
    }
  }

  // What an RS256/384/512 signature must decrypt to, less its padding: the DER DigestInfo of the
  // hash (RFC 8017 §9.2: a fixed prefix per hash, then the hash). Comparing that whole message
  // is the verification RFC 8017 §8.2.2 describes, and it skips the provider's digest lookup.
  std::string digest_info(std::string_view input) const {
    static constexpr unsigned char kSha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x01, 0x05, 0x00, 0x04, 0x20};
    static constexpr unsigned char kSha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x02, 0x05, 0x00, 0x04, 0x30};
    static constexpr unsigned char kSha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x03, 0x05, 0x00, 0x04, 0x40};
    const unsigned char* prefix = profile.hash_bits == 256   ? kSha256
                                  : profile.hash_bits == 384 ? kSha384
                                                             : kSha512;
    static_assert(sizeof kSha256 == sizeof kSha384 && sizeof kSha384 == sizeof kSha512);
    return hash(input, {reinterpret_cast<const char*>(prefix), sizeof kSha256});
  }

  // The message digest of `input` for RSA and ECDSA, after `prefix`: one buffer either way.
  std::string hash(std::string_view input, std::string_view prefix = {}) const {
    auto* data = reinterpret_cast<const unsigned char*>(input.data());
    std::string out(prefix);
    out.resize(prefix.size() + static_cast<std::size_t>(profile.hash_bits / 8));
    auto* o = reinterpret_cast<unsigned char*>(out.data() + prefix.size());
    if (profile.hash_bits == 256) SHA256(data, input.size(), o);
    if (profile.hash_bits == 384) SHA384(data, input.size(), o);
    if (profile.hash_bits == 512) SHA512(data, input.size(), o);
    return out;
  }

  std::string hmac(std::string_view input) const { return mac->mac(input); }

  // Sets up a digest-sign or digest-verify context with the algorithm's padding.
  MdCtx start(bool for_signing) const {
    MdCtx ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* md = digest(profile.digest);
    int ok = for_signing ? EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, pkey.get())
                         : EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey.get());
    if (ok != 1) return nullptr;
    if (profile.family == Family::rsa_pss &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
      return nullptr;
    return ctx;
  }
};

namespace {

// JWS ECDSA signatures are r‖s, each left-padded to the curve's size; OpenSSL speaks DER.
std::optional<std::string> raw_to_der(Algorithm a, std::string_view raw, std::size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  Bn r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
  Bn s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
  const BIGNUM* order = curve_order(a);
  // r and s must lie in [1, n-1]: zero or out-of-range values are forgeries (CVE-2022-21449).
  if (!r || !s || BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), order) >= 0 ||
      BN_cmp(s.get(), order) >= 0)
    return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, r.release(), s.release());
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string der_to_raw(std::string_view der, std::size_t half) {
  auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) throw KeyError("ECDSA signature: " + openssl_error());
  std::string out(2 * half, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), o, static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), o + half, static_cast<int>(half));
  ECDSA_SIG_free(sig);
  return out;
}

std::string group_name(EVP_PKEY* pkey) {
  char name[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
      1)
    return {};
  return std::string(name, len);
}

// Refuses a key whose type does not fit the algorithm (RFC 8725 §3.1: one key, one algorithm).
void check_fits(Algorithm a, EVP_PKEY* pkey) {
  auto p = profile(a);
  auto name = std::string(algorithm_name(a));
  switch (p.family) {
    case Family::hmac:
      throw KeyError(name + " takes a secret, not a " + EVP_PKEY_get0_type_name(pkey) + " key");
    case Family::rsa:
    case Family::rsa_pss:
      if (!EVP_PKEY_is_a(pkey, "RSA")) throw KeyError(name + " needs an RSA key");
      if (EVP_PKEY_get_bits(pkey) < 2048)
        throw KeyError(name + " needs an RSA key of at least 2048 bits, got " +
                       std::to_string(EVP_PKEY_get_bits(pkey)));
      return;
    case Family::ecdsa:
      if (!EVP_PKEY_is_a(pkey, "EC") || group_name(pkey) != p.curve)
        throw KeyError(name + " needs an EC key on " + p.jwk_curve);
      return;
    case Family::eddsa:
      if (!EVP_PKEY_is_a(pkey, "ED25519")) throw KeyError("EdDSA needs an Ed25519 key");
      return;
  }
}

Pkey decode_pem(std::string_view pem, int selection) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx =
      OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, nullptr, selection, nullptr, nullptr);
  if (!dctx) return nullptr;
  auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  std::size_t len = pem.size();
  OSSL_DECODER_from_data(dctx, &data, &len);
  OSSL_DECODER_CTX_free(dctx);
  ERR_clear_error();
  return Pkey(pkey);
}

Pkey public_key_of_certificate(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) return nullptr;
  Pkey key(X509_get_pubkey(cert));
  X509_free(cert);
  return key;
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw KeyError(std::string("cannot read ") + what + " " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A string member, "" when absent; any other type is a KeyError (json::value() would throw
// json's own type_error, which callers do not expect from a key).
std::string text_member(const nlohmann::json& jwk, const char* member) {
  auto it = jwk.find(member);
  if (it == jwk.end()) return {};
  if (!it->is_string()) throw KeyError(std::string("JWK: \"") + member + "\" must be a string");
  return it->get<std::string>();
}

std::string b64(const nlohmann::json& jwk, const char* member, bool required = true) {
  auto it = jwk.find(member);
  if (it == jwk.end()) {
    if (required) throw KeyError(std::string("JWK: \"") + member + "\" is missing");
    return {};
  }
  if (!it->is_string()) throw KeyError(std::string("JWK: \"") + member + "\" must be a string");
  auto bytes = base64url_decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty())
    throw KeyError(std::string("JWK: \"") + member + "\" is not base64url");
  return *bytes;
}

void push_bn(OSSL_PARAM_BLD* bld, const char* name, const std::string& big_endian,
             std::vector<Bn>& keep) {
  keep.emplace_back(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                              static_cast<int>(big_endian.size()), nullptr));
  OSSL_PARAM_BLD_push_BN(bld, name, keep.back().get());
}

Pkey pkey_from_params(const char* type, int selection, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, selection, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) throw KeyError(std::string("JWK: not a valid ") + type + " key: " + openssl_error());
  return Pkey(pkey);
}

struct ParamBuilder {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  ~ParamBuilder() { OSSL_PARAM_BLD_free(bld); }
};

// Builds the EVP_PKEY of an RSA, EC or OKP JWK. Sets `is_private` when it has "d".
Pkey pkey_from_jwk(const nlohmann::json& jwk, const std::string& kty, bool& is_private) {
  ParamBuilder pb;
  std::vector<Bn> keep;
  is_private = jwk.contains("d");
  int selection = is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (kty == "RSA") {
    push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_N, b64(jwk, "n"), keep);
    push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_E, b64(jwk, "e"), keep);
    if (is_private) {
      push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_D, b64(jwk, "d"), keep);
      // The CRT parameters are optional in a JWK but all or nothing.
      if (jwk.contains("p")) {
        push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_FACTOR1, b64(jwk, "p"), keep);
        push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_FACTOR2, b64(jwk, "q"), keep);
        push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, b64(jwk, "dp"), keep);
        push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, b64(jwk, "dq"), keep);
        push_bn(pb.bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, b64(jwk, "qi"), keep);
      }
    }
    return pkey_from_params("RSA", selection, pb.bld);
  }
  if (kty == "EC") {
    auto crv = text_member(jwk, "crv");
    const char* group = crv == "P-256"   ? "prime256v1"
                        : crv == "P-384" ? "secp384r1"
                        : crv == "P-521" ? "secp521r1"
                                         : nullptr;
    if (!group) throw KeyError("JWK: unsupported EC curve '" + crv + "'");
    std::size_t size = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 66;
    auto x = b64(jwk, "x"), y = b64(jwk, "y");
    if (x.empty() || y.empty() || x.size() > size || y.size() > size)
      throw KeyError("JWK: x and y must be " + std::to_string(size) + " bytes on " + crv);
    // RFC 7518 wants the full width, but some issuers (PyJWT 2.6, as Debian 12 ships it) drop
    // leading zero bytes: about one key in 128. The number is the same, so put the zeros back;
    // OpenSSL still refuses a point that is not on the curve.
    std::string point =
        "\x04" + std::string(size - x.size(), '\0') + x + std::string(size - y.size(), '\0') + y;
    OSSL_PARAM_BLD_push_utf8_string(pb.bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(pb.bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    if (is_private) push_bn(pb.bld, OSSL_PKEY_PARAM_PRIV_KEY, b64(jwk, "d"), keep);
    return pkey_from_params("EC", selection, pb.bld);
  }
  if (kty == "OKP") {
    if (text_member(jwk, "crv") != "Ed25519")
      throw KeyError("JWK: the only OKP curve supported is Ed25519");
    auto x = b64(jwk, "x");
    if (x.size() != 32) throw KeyError("JWK: an Ed25519 x is 32 bytes");
    OSSL_PARAM_BLD_push_octet_string(pb.bld, OSSL_PKEY_PARAM_PUB_KEY, x.data(), x.size());
    std::string d;
    if (is_private) {
      d = b64(jwk, "d");
      if (d.size() != 32) throw KeyError("JWK: an Ed25519 d is 32 bytes");
      OSSL_PARAM_BLD_push_octet_string(pb.bld, OSSL_PKEY_PARAM_PRIV_KEY, d.data(), d.size());
    }
    return pkey_from_params("ED25519", selection, pb.bld);
  }
  throw KeyError("JWK: unsupported key type '" + kty + "'");
}

std::string bn_param(EVP_PKEY* pkey, const char* name, std::size_t pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) throw KeyError("cannot export the key");
  Bn owned(bn);
  std::size_t size = pad ? pad : static_cast<std::size_t>(BN_num_bytes(bn));
  std::string out(size, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size));
  return out;
}

}  // namespace

Key Key::hmac(Algorithm algorithm, std::string secret, std::string kid) {
  auto p = profile(algorithm);
  auto name = std::string(algorithm_name(algorithm));
  if (p.family != Family::hmac) throw KeyError(name + " does not take a secret");
  if (secret.size() < p.size)
    throw KeyError(name + " needs a secret of at least " + std::to_string(p.size) + " bytes, got " +
                   std::to_string(secret.size()));
  auto impl = std::make_shared<Impl>();
  impl->algorithm = algorithm;
  impl->profile = p;
  impl->kid = std::move(kid);
  impl->mac.emplace(p.hash_bits, secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  impl->is_private = true;
  return Key(std::move(impl));
}

Key Key::from_pem(Algorithm algorithm, std::string_view pem, std::string kid) {
  auto impl = std::make_shared<Impl>();
  impl->algorithm = algorithm;
  impl->profile = profile(algorithm);
  impl->kid = std::move(kid);
  if (impl->profile.family == Family::hmac)
    throw KeyError(std::string(algorithm_name(algorithm)) + " takes a secret, not a PEM key");
  impl->pkey = decode_pem(pem, EVP_PKEY_KEYPAIR);
  impl->is_private = impl->pkey != nullptr;
  if (!impl->pkey) impl->pkey = decode_pem(pem, EVP_PKEY_PUBLIC_KEY);
  if (!impl->pkey) impl->pkey = public_key_of_certificate(pem);
  if (!impl->pkey)
    throw KeyError(
        "not a PEM key this build reads (SPKI, PKCS#1, PKCS#8, SEC1, X.509; "
        "encrypted keys are not supported)");
  check_fits(algorithm, impl->pkey.get());
  return Key(std::move(impl));
}

Key Key::from_pem_file(Algorithm algorithm, const std::string& path, std::string kid) {
  return from_pem(algorithm, read_file(path, "key file"), std::move(kid));
}

Key Key::from_jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) throw KeyError("JWK: not a JSON object");
  auto alg = jwk.find("alg");
  if (alg != jwk.end()) {
    if (!alg->is_string()) throw KeyError("JWK: \"alg\" must be a string");
    auto a = parse_algorithm(alg->get_ref<const std::string&>());
    if (!a) throw KeyError("JWK: unsupported alg '" + alg->get<std::string>() + "'");
    return from_jwk(jwk, *a);
  }
  auto kty = text_member(jwk, "kty");
  auto crv = text_member(jwk, "crv");
  if (kty == "OKP" && crv == "Ed25519") return from_jwk(jwk, Algorithm::EdDSA);
  if (kty == "EC" && crv == "P-256") return from_jwk(jwk, Algorithm::ES256);
  if (kty == "EC" && crv == "P-384") return from_jwk(jwk, Algorithm::ES384);
  if (kty == "EC" && crv == "P-521") return from_jwk(jwk, Algorithm::ES512);
  if (kty == "EC" || kty == "OKP")
    throw KeyError("JWK: unsupported " + kty + " curve '" + crv + "'");
  throw KeyError("JWK: a key of type '" + kty +
                 "' without \"alg\" does not say which algorithm it is for");
}

Key Key::from_jwk(const nlohmann::json& jwk, Algorithm fallback) {
  if (!jwk.is_object()) throw KeyError("JWK: not a JSON object");
  Algorithm algorithm = fallback;
  if (auto alg = jwk.find("alg"); alg != jwk.end()) {
    auto a = alg->is_string() ? parse_algorithm(alg->get_ref<const std::string&>()) : std::nullopt;
    if (!a) throw KeyError("JWK: unsupported alg");
    algorithm = *a;
  }
  std::string kid = text_member(jwk, "kid");
  if (!jwk.contains("kty") || !jwk["kty"].is_string()) throw KeyError("JWK: \"kty\" is missing");
  auto kty = jwk["kty"].get<std::string>();
  if (kty == "oct") {
    if (profile(algorithm).family != Family::hmac)
      throw KeyError("JWK: an oct key is for HS256/384/512 only");
    return hmac(algorithm, b64(jwk, "k"), std::move(kid));
  }
  auto impl = std::make_shared<Impl>();
  impl->algorithm = algorithm;
  impl->profile = profile(algorithm);
  impl->kid = std::move(kid);
  impl->pkey = pkey_from_jwk(jwk, kty, impl->is_private);
  check_fits(algorithm, impl->pkey.get());
  return Key(std::move(impl));
}

Algorithm Key::algorithm() const {
  return impl_->algorithm;
}
const std::string& Key::kid() const {
  return impl_->kid;
}
bool Key::can_sign() const {
  return impl_->is_private;
}

std::string Key::sign(std::string_view input) const {
  const Impl& k = *impl_;
  if (k.profile.family == Family::hmac) return k.hmac(input);
  if (!k.is_private) throw KeyError("a public key cannot sign");
  MdCtx ctx = k.start(/*for_signing=*/true);
  auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1)
    throw KeyError("signing failed: " + openssl_error());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1)
    throw KeyError("signing failed: " + openssl_error());
  sig.resize(len);
  if (k.profile.family == Family::ecdsa) return der_to_raw(sig, k.profile.size);
  return sig;
}

bool Key::verify(std::string_view input, std::string_view signature) const {
  const Impl& k = *impl_;
  if (k.profile.family == Family::hmac) {
    unsigned char expected[64];
    k.mac->mac_into(input, expected);
    return signature.size() == k.mac->size() &&
           CRYPTO_memcmp(signature.data(), expected, k.mac->size()) == 0;
  }
  std::string der;
  if (k.profile.family == Family::ecdsa) {
    auto converted = raw_to_der(k.algorithm, signature, k.profile.size);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  } else if (k.profile.family == Family::eddsa) {
    if (signature.size() != 64) return false;
  } else if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(k.pkey.get()))) {
    return false;  // an RSA signature is exactly as long as the modulus
  }
  if (k.profile.family != Family::eddsa) {
    EVP_PKEY_CTX* pctx = k.acquire_verifier();
    if (!pctx) return false;
    auto hashed = k.profile.family == Family::rsa ? k.digest_info(input) : k.hash(input);
    bool ok = EVP_PKEY_verify(
                  pctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                  reinterpret_cast<const unsigned char*>(hashed.data()), hashed.size()) == 1;
    k.release_verifier(pctx);
    ERR_clear_error();
    return ok;
  }
  MdCtx ctx = k.start(/*for_signing=*/false);
  bool ok = ctx &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  ERR_clear_error();
  return ok;
}

nlohmann::json Key::public_jwk() const {
  const Impl& k = *impl_;
  nlohmann::json jwk;
  EVP_PKEY* p = k.pkey.get();
  switch (k.profile.family) {
    case Family::hmac:
      throw KeyError("an HMAC secret has no public half");
    case Family::rsa:
    case Family::rsa_pss:
      jwk["kty"] = "RSA";
      jwk["n"] = base64url_encode(bn_param(p, OSSL_PKEY_PARAM_RSA_N));
      jwk["e"] = base64url_encode(bn_param(p, OSSL_PKEY_PARAM_RSA_E));
      break;
    case Family::ecdsa:
      jwk["kty"] = "EC";
      jwk["crv"] = k.profile.jwk_curve;
      jwk["x"] = base64url_encode(bn_param(p, OSSL_PKEY_PARAM_EC_PUB_X, k.profile.size));
      jwk["y"] = base64url_encode(bn_param(p, OSSL_PKEY_PARAM_EC_PUB_Y, k.profile.size));
      break;
    case Family::eddsa: {
      unsigned char x[32];
      std::size_t len = 0;
      if (EVP_PKEY_get_octet_string_param(p, OSSL_PKEY_PARAM_PUB_KEY, x, sizeof x, &len) != 1)
        throw KeyError("cannot export the key");
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = base64url_encode(std::string_view(reinterpret_cast<char*>(x), len));
      break;
    }
  }
  jwk["alg"] = algorithm_name(k.algorithm);
  jwk["use"] = "sig";
  if (!k.kid.empty()) jwk["kid"] = k.kid;
  return jwk;
}

namespace {

// How an error names a key of the set.
std::string name_of(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return "(not an object)";
  auto kid = jwk.find("kid");
  return kid != jwk.end() && kid->is_string() ? kid->get<std::string>() : "(no kid)";
}

// `skipped` null: the first key that cannot be loaded fails the whole set.
KeySet load_jwks(const nlohmann::json& jwks, std::vector<std::string>* skipped) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array())
    throw KeyError("JWKS: expected {\"keys\": [...]}");
  KeySet set;
  for (const auto& jwk : jwks["keys"]) {
    try {
      if (jwk.is_object() && jwk.contains("use") && text_member(jwk, "use") != "sig") continue;
      set.add(Key::from_jwk(jwk));
    } catch (const KeyError& e) {
      if (!skipped) throw KeyError("JWKS key " + name_of(jwk) + ": " + e.what());
      skipped->push_back(name_of(jwk) + ": " + e.what());
    }
  }
  return set;
}

}  // namespace

KeySet KeySet::from_jwks(const nlohmann::json& jwks) {
  return load_jwks(jwks, nullptr);
}

KeySet KeySet::from_jwks(const nlohmann::json& jwks, std::vector<std::string>& skipped) {
  return load_jwks(jwks, &skipped);
}

KeySet KeySet::from_jwks_file(const std::string& path) {
  auto json = nlohmann::json::parse(read_file(path, "JWKS file"), nullptr,
                                    /*allow_exceptions=*/false);
  if (json.is_discarded()) throw KeyError("JWKS file " + path + " is not JSON");
  return from_jwks(json);
}

nlohmann::json KeySet::public_jwks() const {
  auto keys = nlohmann::json::array();
  for (const auto& k : keys_)
    if (profile(k.algorithm()).family != Family::hmac) keys.push_back(k.public_jwk());
  return {{"keys", keys}};
}

}  // namespace svckit::auth
