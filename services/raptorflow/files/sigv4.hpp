#pragma once
// AWS Signature Version 4 for S3 requests, as the server checks it: from the Authorization
// header (what boto3 and the AWS CLI send) or from a pre-signed URL's query (X-Amz-Signature,
// bound to its method, path and expiry). The payload is taken at its declared hash
// (x-amz-content-sha256), which the caller compares with the body's real hash once read.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "svckit/http/request.hpp"

namespace raptorflow::files {

struct AccessKey {
  std::string id;
  std::string secret;
  std::string user;  // who the key acts for
};

struct SignedRequest {
  std::string user;
  std::string access_key;
  // The declared SHA-256 of the payload (hex), "UNSIGNED-PAYLOAD", or empty when none was
  // declared (a pre-signed URL).
  std::string payload_hash;
  bool presigned = false;
};

// Why a request's signature is refused, with S3's code for it.
struct SignatureError {
  int status;
  std::string code;  // AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, ...
  std::string message;
};

using KeyLookup = std::function<std::optional<AccessKey>(std::string_view id)>;

// Checks `req`'s signature, made for `region` and the s3 service; the signer on success, else
// the error to answer with. Every x-amz-* header the request carries must be signed, and the
// declared payload hash must be a SHA-256 (lower-case hex), UNSIGNED-PAYLOAD or a STREAMING-
// value. `now` is the server's clock (requests may be 15 minutes off it; a pre-signed URL lasts
// its X-Amz-Expires).
std::variant<SignedRequest, SignatureError> verify_sigv4(
    const svckit::http::Request& req, const KeyLookup& keys, std::string_view region,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Whether `text` is a SHA-256 as SigV4 writes one: 64 lower-case hex digits.
bool is_sha256_hex(std::string_view text);
// The SHA-256 of `bytes`, in lower-case hex.
std::string sha256_hex(std::string_view bytes);

// A pre-signed URL's query (what boto3's generate_presigned_url makes), for tests and for the
// service's own "share a link" answers: `method` and `path` (URI-encoded) as the request will
// carry them, valid for `expires`.
std::string presign_query(
    std::string_view method, std::string_view host, std::string_view path, const AccessKey& key,
    std::string_view region, std::chrono::seconds expires,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// RFC 3986 unreserved characters kept, everything else %XX (upper case), as SigV4 encodes; '/'
// kept when `keep_slash` (a path).
std::string aws_uri_encode(std::string_view text, bool keep_slash);

}  // namespace raptorflow::files
