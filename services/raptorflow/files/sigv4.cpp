#include "sigv4.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <map>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "svckit/auth/hmac.hpp"
#include "svckit/error.hpp"
#include "svckit/hex.hpp"
#include "svckit/http/ascii.hpp"

namespace raptorflow::files {
namespace {

using svckit::http::iequals;
using svckit::http::trim_ows;

}  // namespace

std::string sha256_hex(std::string_view text) {
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return svckit::to_hex(digest, size);
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

namespace {

using svckit::auth::hmac_sha256;

// 20261207T120000Z
std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  std::tm tm{};
  std::string copy(text);
  const char* end = ::strptime(copy.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  // The clock counts nanoseconds from 1970 in 64 bits: years 1678 to 2262. A request is dated
  // within minutes of now, so anything outside 1970-2200 is simply wrong (found by s3_request).
  std::time_t t = ::timegm(&tm);
  if (t < 0 || t > 7258118400) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

std::string amz_date(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[20];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &tm);
  return text;
}

// Percent-decoding without treating '+' as a space (SigV4 encodes a space as %20); nullopt for
// a malformed escape.
std::optional<std::string> decode(std::string_view text) {
  try {
    return svckit::http::percent_decode(text, /*plus_is_space=*/false);
  } catch (const svckit::Error&) {
    return std::nullopt;
  }
}

using Query = std::vector<std::pair<std::string, std::string>>;

std::optional<Query> parse_query(std::string_view query) {
  Query out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      auto name = decode(pair.substr(0, eq));
      auto value = decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      if (!name || !value) return std::nullopt;
      out.emplace_back(std::move(*name), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string canonical_query(Query query, std::string_view leave_out) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (auto& [name, value] : query)
    if (name != leave_out)
      encoded.emplace_back(aws_uri_encode(name, false), aws_uri_encode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(name).append("=").append(value);
  }
  return out;
}

// A header's value as SigV4 signs it: trimmed, runs of spaces made one; repeated headers
// joined with commas.
std::optional<std::string> canonical_header(const svckit::http::Request& req,
                                            std::string_view name) {
  std::string out;
  bool found = false;
  for (const auto& [field, value] : req.headers()) {
    if (!iequals(field, name)) continue;
    if (found) out.push_back(',');
    found = true;
    bool space = false;
    for (char c : trim_ows(value)) {
      if (c == ' ' || c == '\t') {
        space = true;
        continue;
      }
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  if (!found) return std::nullopt;
  return out;
}

struct Credential {
  std::string key_id, date, region, service;
};

std::optional<Credential> parse_credential(std::string_view text) {
  // AKID/20261207/us-east-1/s3/aws4_request
  std::vector<std::string_view> parts;
  while (true) {
    auto slash = text.find('/');
    parts.push_back(text.substr(0, slash));
    if (slash == std::string_view::npos) break;
    text.remove_prefix(slash + 1);
  }
  if (parts.size() != 5 || parts[4] != "aws4_request" || parts[1].size() != 8) return std::nullopt;
  return Credential{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
                    std::string(parts[3])};
}

std::string signature(const AccessKey& key, const Credential& c, std::string_view date,
                      std::string_view canonical_request) {
  std::string scope = c.date + "/" + c.region + "/" + c.service + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + std::string(date) + "\n" + scope + "\n" +
                        sha256_hex(canonical_request);
  std::string signing = hmac_sha256(
      hmac_sha256(hmac_sha256(hmac_sha256("AWS4" + key.secret, c.date), c.region), c.service),
      "aws4_request");
  auto mac = hmac_sha256(signing, to_sign);
  return svckit::to_hex(mac);
}

SignatureError refused(int status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

bool same(std::string_view a, std::string_view b) {
  return svckit::auth::equal_in_constant_time(a, b);
}

}  // namespace

std::string aws_uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::variant<SignedRequest, SignatureError> verify_sigv4(
    const svckit::http::Request& req, const KeyLookup& keys, std::string_view region,
    std::chrono::system_clock::time_point now) {
  auto query = parse_query(req.query());
  if (!query) return refused(400, "InvalidArgument", "the query string is malformed");
  auto path = decode(req.path());
  if (!path) return refused(400, "InvalidURI", "the path is malformed");
  auto in_query = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [n, v] : *query)
      if (n == name) return v;
    return std::nullopt;
  };

  SignedRequest signer;
  std::string credential_text, signed_headers, given, date;
  auto authorization = req.header("Authorization");
  if (authorization) {
    // AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
    std::string_view rest = *authorization;
    if (!rest.starts_with("AWS4-HMAC-SHA256 "))
      return refused(400, "AuthorizationHeaderMalformed", "only AWS4-HMAC-SHA256 is accepted");
    rest.remove_prefix(17);
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto part = trim_ows(rest.substr(0, comma));
      auto eq = part.find('=');
      auto name = part.substr(0, eq);
      auto value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
      if (name == "Credential") credential_text = value;
      if (name == "SignedHeaders") signed_headers = value;
      if (name == "Signature") given = value;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    date = std::string(req.header("x-amz-date").value_or(""));
    signer.payload_hash = std::string(req.header("x-amz-content-sha256").value_or(""));
    if (signer.payload_hash.empty())
      return refused(400, "InvalidRequest", "x-amz-content-sha256 is required");
    if (!is_sha256_hex(signer.payload_hash) && signer.payload_hash != "UNSIGNED-PAYLOAD" &&
        !signer.payload_hash.starts_with("STREAMING-"))
      return refused(400, "InvalidArgument",
                     "x-amz-content-sha256 must be a SHA-256, UNSIGNED-PAYLOAD or STREAMING-...");
  } else if (auto algorithm = in_query("X-Amz-Algorithm")) {
    if (*algorithm != "AWS4-HMAC-SHA256")
      return refused(400, "AuthorizationQueryParametersError", "only AWS4-HMAC-SHA256 is accepted");
    credential_text = in_query("X-Amz-Credential").value_or("");
    signed_headers = in_query("X-Amz-SignedHeaders").value_or("");
    given = in_query("X-Amz-Signature").value_or("");
    date = in_query("X-Amz-Date").value_or("");
    signer.presigned = true;
    signer.payload_hash = "UNSIGNED-PAYLOAD";
  } else {
    return refused(403, "AccessDenied", "the request is not signed");
  }

  auto credential = parse_credential(credential_text);
  if (!credential || signed_headers.empty() || given.empty())
    return refused(400, "AuthorizationHeaderMalformed", "the signature's fields are incomplete");
  if (credential->region != region || credential->service != "s3")
    return refused(400, "AuthorizationHeaderMalformed",
                   "the credential's scope must name the region " + std::string(region) +
                       " and the service s3");
  auto when = parse_amz_date(date);
  if (!when || date.substr(0, 8) != credential->date)
    return refused(403, "AccessDenied", "the request's date is missing or malformed");
  if (signer.presigned) {
    auto expires_text = in_query("X-Amz-Expires").value_or("");
    long long expires = 0;
    try {
      expires = std::stoll(expires_text);
    } catch (...) {
      return refused(400, "AuthorizationQueryParametersError", "X-Amz-Expires is not a number");
    }
    if (expires < 1 || expires > 604800)
      return refused(400, "AuthorizationQueryParametersError", "X-Amz-Expires is 1 to 604800");
    if (now > *when + std::chrono::seconds(expires))
      return refused(403, "AccessDenied", "Request has expired");
    if (*when > now + std::chrono::minutes(15))
      return refused(403, "AccessDenied", "the URL is dated in the future");
  } else if (*when > now + std::chrono::minutes(15) || *when < now - std::chrono::minutes(15)) {
    return refused(403, "RequestTimeTooSkewed", "the request's time is more than 15 minutes off");
  }
  auto key = keys(credential->key_id);
  if (!key) return refused(403, "InvalidAccessKeyId", "no such access key");

  // The canonical request (SigV4): the headers it names must all be present, host among them.
  std::string canonical_headers;
  bool signs_host = false;
  std::string_view names = signed_headers;
  while (!names.empty()) {
    auto semi = names.find(';');
    auto name = names.substr(0, semi);
    signs_host = signs_host || name == "host";
    auto value = canonical_header(req, name);
    if (!value) return refused(400, "AuthorizationHeaderMalformed", "a signed header is missing");
    canonical_headers.append(name).append(":").append(*value).append("\n");
    if (semi == std::string_view::npos) break;
    names.remove_prefix(semi + 1);
  }
  if (!signs_host) return refused(400, "AuthorizationHeaderMalformed", "host must be signed");
  // An x-amz-* header that is not signed could be added by anyone on the way (a copy source).
  for (const auto& [field, value] : req.headers()) {
    if (!svckit::http::istarts_with(field, "x-amz-")) continue;
    bool listed = false;
    std::string_view rest = signed_headers;
    while (!rest.empty() && !listed) {
      auto semi = rest.find(';');
      listed = iequals(rest.substr(0, semi), field);
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
    if (!listed)
      return refused(403, "AccessDenied", "the header " + std::string(field) + " is not signed");
  }
  std::string canonical = std::string(req.method_name()) + "\n" + aws_uri_encode(*path, true) +
                          "\n" + canonical_query(*query, "X-Amz-Signature") + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + signer.payload_hash;
  if (!same(signature(*key, *credential, date, canonical), given))
    return refused(403, "SignatureDoesNotMatch",
                   "the request signature we calculated does not match the signature you provided");
  signer.user = key->user;
  signer.access_key = key->id;
  return signer;
}

std::string presign_query(std::string_view method, std::string_view host, std::string_view path,
                          const AccessKey& key, std::string_view region,
                          std::chrono::seconds expires, std::chrono::system_clock::time_point now) {
  auto date = amz_date(now);
  Credential c{key.id, date.substr(0, 8), std::string(region), "s3"};
  Query query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                 {"X-Amz-Credential", key.id + "/" + c.date + "/" + c.region + "/s3/aws4_request"},
                 {"X-Amz-Date", date},
                 {"X-Amz-Expires", std::to_string(expires.count())},
                 {"X-Amz-SignedHeaders", "host"}};
  auto canonical_q = canonical_query(query, "");
  std::string canonical = std::string(method) + "\n" + std::string(path) + "\n" + canonical_q +
                          "\nhost:" + std::string(host) + "\n\nhost\nUNSIGNED-PAYLOAD";
  return canonical_q + "&X-Amz-Signature=" + signature(key, c, date, canonical);
}

}  // namespace raptorflow::files
