#include "files_service.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "files_api.hpp"
#include "object_store.hpp"
#include "s3_xml.hpp"
#include "sigv4.hpp"
#include "svckit/hex.hpp"
#include "svckit/http/body_file.hpp"
#include "svckit/http/file_response.hpp"
#include "svckit/utf8.hpp"

namespace raptorflow::files {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;
constexpr const char* kNamespace = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
constexpr std::uint64_t kMinPart = 5 << 20;  // S3's: every part but the last

// An S3 error: its status, its code (NoSuchKey, ...) and a message, answered as S3's XML.
struct S3Error : svckit::Error {
  S3Error(int status, std::string code, std::string message)
      : svckit::Error(status, "about:blank", svckit::status_reason(status), std::move(message)),
        code(std::move(code)) {}
  std::string code;
};

// S3's code for an error that is not one of ours (the SDK's 413, a 400 from a cut body, ...).
std::string code_for(int status) {
  switch (status) {
    case 400:
      return "InvalidRequest";
    case 403:
      return "AccessDenied";
    case 404:
      return "NoSuchKey";
    case 405:
      return "MethodNotAllowed";
    case 411:
      return "MissingContentLength";
    case 413:
      return "EntityTooLarge";
    case 416:
      return "InvalidRange";
    case 422:
      return "InvalidArgument";
    case 429:
      return "SlowDown";
    case 503:
      return "ServiceUnavailable";
    default:
      return status >= 500 ? "InternalError" : "InvalidRequest";
  }
}

Response xml_error(int status, std::string_view code, std::string_view message,
                   const Request& req) {
  Response r;
  r.status = status;
  if (req.method() == svckit::http::Method::head) return r;  // HEAD answers have no body
  r.content_type = "application/xml";
  r.body = XmlWriter()
               .open("Error")
               .leaf("Code", code)
               .leaf("Message", message)
               .leaf("Resource", req.path())
               .leaf("RequestId", req.request_id())
               .close("Error")
               .take();
  return r;
}

Response xml(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/xml";
  r.body = std::move(body);
  return r;
}

// Every S3 answer's errors as S3's XML, whoever threw them.
Task<Response> s3_errors(Request& req, const svckit::http::Handler& next) {
  int status = 0;
  std::string code, message;
  try {
    co_return co_await next(req);
  } catch (const S3Error& e) {
    status = e.status(), code = e.code, message = e.detail();
  } catch (const svckit::Error& e) {
    status = e.status(), code = code_for(e.status()), message = e.detail();
  }
  req.log(svckit::log::Level::info, "s3 error", {{"code", code}, {"status", status}});
  co_return xml_error(status, code, message, req);
}

// S3's subresources this service does not offer: a request naming one is refused, whatever its
// method, rather than taken for the plain operation (PUT ?tagging storing its body as the
// object, DELETE ?policy deleting the bucket).
void refuse_unoffered(const Request& req) {
  static constexpr std::string_view kUnoffered[] = {"acl",
                                                    "policy",
                                                    "cors",
                                                    "lifecycle",
                                                    "tagging",
                                                    "website",
                                                    "replication",
                                                    "encryption",
                                                    "logging",
                                                    "notification",
                                                    "retention",
                                                    "legal-hold",
                                                    "torrent",
                                                    "restore",
                                                    "select",
                                                    "attributes",
                                                    "object-lock",
                                                    "accelerate",
                                                    "analytics",
                                                    "inventory",
                                                    "metrics",
                                                    "requestPayment",
                                                    "ownershipControls",
                                                    "publicAccessBlock",
                                                    "intelligent-tiering",
                                                    "policyStatus"};
  for (auto name : kUnoffered)
    if (req.query_param(std::string(name)))
      throw S3Error(501, "NotImplemented", "?" + std::string(name) + " is not offered here");
}

// S3's bucket naming rules, and names the service's own routes hold.
void check_bucket_name(const std::string& name) {
  if (!is_bucket_name(name))
    throw S3Error(400, "InvalidBucketName",
                  "bucket names are 3-63 lower-case letters, digits, '-' and '.'");
}

std::string key_of(const Request& req) {
  auto key = req.param("key");
  if (key.empty() || key.size() > 1024)
    throw S3Error(400, "KeyTooLongError", "keys are 1 to 1024 bytes");
  if (key.find('\0') != std::string::npos || !svckit::is_utf8(key))
    throw S3Error(400, "InvalidArgument", "keys are UTF-8 without NUL");
  return key;
}

bool has_query(const Request& req, std::string_view name) {
  return req.query_param(std::string(name)).has_value();
}

std::string unquoted(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

// A file save_body() made, removed unless it was moved into the store.
struct UploadedFile {
  std::filesystem::path path;
  ~UploadedFile() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove(path, ignored);
  }
};

}  // namespace

struct FilesService::State {
  svckit::App* app = nullptr;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<FilesApi> api;  // the REST API, when tokens can be checked
  std::map<std::string, AccessKey, std::less<>> keys;
  std::string region;
  std::uint64_t max_object = 0;
  std::uint64_t quota = 0;  // per user; 0: none
  std::chrono::milliseconds upload_expiry{0};
  std::chrono::milliseconds retention{0};

  const SignedRequest& signer(const Request& req) const {
    const auto* s = req.context().attached<SignedRequest>();
    if (!s) throw S3Error(403, "AccessDenied", "the request is not signed");
    return *s;
  }

  // The bucket, when the caller owns it.
  Task<Bucket> owned(const std::string& name, const Request& req) {
    auto b = co_await store->bucket(name);
    if (!b) throw S3Error(404, "NoSuchBucket", "the specified bucket does not exist");
    if (b->owner != req.user_id()) throw S3Error(403, "AccessDenied", "the bucket is not yours");
    co_return *b;
  }

  // Room for `more` bytes in the caller's quota.
  Task<void> check_quota(const Request& req, std::uint64_t more) {
    if (quota == 0) co_return;
    auto used = co_await store->used_bytes(req.user_id());
    if (used + more > quota)
      throw S3Error(403, "QuotaExceeded",
                    "this would take " + std::to_string(used + more) + " bytes of a quota of " +
                        std::to_string(quota));
  }

  // The body saved and its declared hash checked (the payload SigV4 signed).
  Task<svckit::http::SavedBody> receive(Request& req) {
    const auto& who = signer(req);
    if (who.payload_hash.starts_with("STREAMING-"))
      throw S3Error(501, "NotImplemented", "aws-chunked payloads are not accepted; sign the body");
    if (auto length = req.header("Content-Length")) {
      std::uint64_t declared = 0;
      std::from_chars(length->data(), length->data() + length->size(), declared);
      co_await check_quota(req, declared);
    }
    auto saved = co_await svckit::http::save_body(req, store->incoming());
    UploadedFile guard{saved.path};
    if (is_sha256_hex(who.payload_hash) && who.payload_hash != saved.sha256)
      throw S3Error(400, "XAmzContentSHA256Mismatch",
                    "the body's SHA-256 is not the one x-amz-content-sha256 declared");
    co_await check_quota(req, saved.size);  // a chunked body's size is known only now
    guard.path.clear();
    co_return saved;
  }

  // -- buckets --------------------------------------------------------------------------------

  Task<Response> list_buckets(Request& req) {
    auto all = co_await store->buckets(req.user_id());
    XmlWriter x;
    x.open("ListAllMyBucketsResult", kNamespace).open("Owner").leaf("ID", req.user_id());
    x.leaf("DisplayName", req.user_id()).close("Owner").open("Buckets");
    for (const auto& b : all)
      x.open("Bucket").leaf("Name", b.name).leaf("CreationDate", b.created_at).close("Bucket");
    x.close("Buckets").close("ListAllMyBucketsResult");
    co_return xml(200, x.take());
  }

  Task<Response> create_bucket(Request& req) {
    auto name = req.param("bucket");
    check_bucket_name(name);
    if (!co_await store->create_bucket(name, req.user_id())) {
      auto existing = co_await store->bucket(name);
      if (existing && existing->owner == req.user_id())
        throw S3Error(409, "BucketAlreadyOwnedByYou", "you own this bucket already");
      throw S3Error(409, "BucketAlreadyExists", "the bucket name is taken");
    }
    Response r = Response::empty(200);
    r.set_header("Location", "/" + name);
    co_return r;
  }

  Task<Response> head_bucket(Request& req) {
    co_await owned(req.param("bucket"), req);
    Response r = Response::empty(200);
    r.set_header("x-amz-bucket-region", region);
    co_return r;
  }

  Task<Response> delete_bucket(Request& req) {
    auto name = req.param("bucket");
    co_await owned(name, req);
    if (!co_await store->delete_bucket(name))
      throw S3Error(409, "BucketNotEmpty", "the bucket still holds objects or uploads");
    co_return Response::empty(204);
  }

  Task<Response> get_bucket(Request& req) {
    if (req.method() == svckit::http::Method::head) co_return co_await head_bucket(req);
    auto name = req.param("bucket");
    co_await owned(name, req);
    if (has_query(req, "location")) {
      std::string constraint;  // us-east-1 is said as nothing; not a ?: (GCC 12)
      if (region != "us-east-1") constraint = region;
      XmlWriter x;
      x.leaf("LocationConstraint", constraint);
      co_return xml(200, x.take());
    }
    if (has_query(req, "versioning")) {
      XmlWriter x;
      x.open("VersioningConfiguration", kNamespace).leaf("Status", "Enabled");
      co_return xml(200, x.close("VersioningConfiguration").take());
    }
    if (has_query(req, "versions")) co_return co_await list_versions(req, name);
    if (has_query(req, "uploads"))
      throw S3Error(501, "NotImplemented", "listing multipart uploads is not offered");
    co_return co_await list_objects(req, name);
  }

  Task<Response> list_objects(Request& req, const std::string& name) {
    const bool v2 = req.query_param("list-type").value_or("") == "2";
    const bool url = req.query_param("encoding-type").value_or("") == "url";
    auto prefix = req.query_param("prefix").value_or("");
    auto delimiter = req.query_param("delimiter").value_or("");
    std::size_t max_keys = 1000;
    if (auto m = req.query_param("max-keys")) {
      std::from_chars(m->data(), m->data() + m->size(), max_keys);
      max_keys = std::clamp<std::size_t>(max_keys, 0, 1000);
    }
    std::string after;
    auto token = req.query_param("continuation-token");
    if (v2 && token) {
      auto decoded = svckit::from_hex(*token);
      if (!decoded || !svckit::is_utf8(*decoded))
        throw S3Error(400, "InvalidArgument", "the continuation token is not ours");
      after = *decoded;
    } else if (v2) {
      after = req.query_param("start-after").value_or("");
    } else {
      after = req.query_param("marker").value_or("");
    }
    if (!svckit::is_utf8(prefix) || !svckit::is_utf8(after) || !svckit::is_utf8(delimiter))
      throw S3Error(400, "InvalidArgument", "prefixes, markers and delimiters are UTF-8");
    auto listing = co_await store->list(name, prefix, delimiter, after, max_keys);
    auto shown = [url](const std::string& text) { return url ? aws_uri_encode(text, true) : text; };
    XmlWriter x;
    x.open("ListBucketResult", kNamespace).leaf("Name", name).leaf("Prefix", shown(prefix));
    if (!delimiter.empty()) x.leaf("Delimiter", shown(delimiter));
    x.leaf("MaxKeys", std::to_string(max_keys));
    if (url) x.leaf("EncodingType", "url");
    x.leaf("IsTruncated", listing.truncated ? "true" : "false");
    if (v2) {
      x.leaf("KeyCount", std::to_string(listing.objects.size() + listing.common_prefixes.size()));
      if (token) x.leaf("ContinuationToken", *token);
      if (listing.truncated) x.leaf("NextContinuationToken", svckit::to_hex(listing.next_marker));
    } else {
      x.leaf("Marker", shown(req.query_param("marker").value_or("")));
      if (listing.truncated) x.leaf("NextMarker", shown(listing.next_marker));
    }
    for (const auto& o : listing.objects)
      x.open("Contents")
          .leaf("Key", shown(o.key))
          .leaf("LastModified", o.created_at)
          .leaf("ETag", o.etag())
          .leaf("Size", std::to_string(o.size))
          .leaf("StorageClass", "STANDARD")
          .close("Contents");
    for (const auto& p : listing.common_prefixes)
      x.open("CommonPrefixes").leaf("Prefix", shown(p)).close("CommonPrefixes");
    co_return xml(200, x.close("ListBucketResult").take());
  }

  Task<Response> list_versions(Request& req, const std::string& name) {
    auto prefix = req.query_param("prefix").value_or("");
    auto all = co_await store->versions(name, prefix, 1000);
    XmlWriter x;
    x.open("ListVersionsResult", kNamespace).leaf("Name", name).leaf("Prefix", prefix);
    x.leaf("MaxKeys", "1000").leaf("IsTruncated", all.size() >= 1000 ? "true" : "false");
    for (const auto& v : all) {
      const char* tag = v.delete_marker ? "DeleteMarker" : "Version";
      x.open(tag).leaf("Key", v.key).leaf("VersionId", v.version_id);
      x.leaf("IsLatest", v.latest ? "true" : "false").leaf("LastModified", v.created_at);
      if (!v.delete_marker)
        x.leaf("ETag", v.etag())
            .leaf("Size", std::to_string(v.size))
            .leaf("StorageClass", "STANDARD");
      x.open("Owner").leaf("ID", v.owner).close("Owner").close(tag);
    }
    co_return xml(200, x.close("ListVersionsResult").take());
  }

  Task<Response> post_bucket(Request& req) {
    auto name = req.param("bucket");
    co_await owned(name, req);
    if (!has_query(req, "delete"))
      throw S3Error(501, "NotImplemented", "POST on a bucket: only ?delete");
    auto objects = xml_elements(req.body(), "Object");
    if (objects.size() > 1000) throw S3Error(400, "MalformedXML", "at most 1000 keys at once");
    const bool quiet = xml_text(req.body(), "Quiet") == "true";
    XmlWriter x;
    x.open("DeleteResult", kNamespace);
    for (auto object : objects) {
      auto key = xml_text(object, "Key");
      auto version = xml_text(object, "VersionId");
      if (key.empty()) throw S3Error(400, "MalformedXML", "an Object without a Key");
      if (version.empty()) {
        auto marker = co_await store->mark_deleted(name, key, req.user_id());
        if (!quiet)
          x.open("Deleted")
              .leaf("Key", key)
              .leaf("DeleteMarker", "true")
              .leaf("DeleteMarkerVersionId", marker.version_id)
              .close("Deleted");
      } else {
        co_await store->remove_version(name, key, version);
        if (!quiet) x.open("Deleted").leaf("Key", key).leaf("VersionId", version).close("Deleted");
      }
    }
    co_return xml(200, x.close("DeleteResult").take());
  }

  // -- objects --------------------------------------------------------------------------------

  Task<Response> put_object(Request& req) {
    auto bucket = req.param("bucket");
    auto key = key_of(req);
    co_await owned(bucket, req);
    if (req.query_param("uploadId")) co_return co_await upload_part(req, bucket, key);
    if (auto source = req.header("x-amz-copy-source"))
      co_return co_await copy_object(req, bucket, key, std::string(*source));
    auto saved = co_await receive(req);
    UploadedFile guard{saved.path};
    auto type = std::string(req.header("Content-Type").value_or("binary/octet-stream"));
    auto v =
        co_await store->put(bucket, key, saved.path, saved.sha256, saved.size, type, req.user_id());
    guard.path.clear();
    Response r = Response::empty(200);
    r.set_header("ETag", v.etag());
    r.set_header("x-amz-version-id", v.version_id);
    co_return r;
  }

  Task<Response> copy_object(Request& req, const std::string& bucket, const std::string& key,
                             std::string source) {
    // "/bucket/key?versionId=..." or "bucket/key", percent-encoded.
    std::string version;
    if (auto q = source.find("?versionId="); q != std::string::npos) {
      version = source.substr(q + 11);
      source.resize(q);
    }
    source = svckit::http::percent_decode(source, false);
    if (!source.empty() && source.front() == '/') source.erase(0, 1);
    auto slash = source.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == source.size())
      throw S3Error(400, "InvalidArgument", "x-amz-copy-source is bucket/key");
    auto from_bucket = source.substr(0, slash);
    co_await owned(from_bucket, req);
    auto from = co_await store->get(from_bucket, source.substr(slash + 1), version);
    if (!from || from->delete_marker)
      throw S3Error(404, version.empty() ? "NoSuchKey" : "NoSuchVersion", "no such source");
    co_await check_quota(req, from->size);
    auto v = co_await store->copy(*from, bucket, key, req.user_id());
    XmlWriter x;
    x.open("CopyObjectResult", kNamespace)
        .leaf("ETag", v.etag())
        .leaf("LastModified", v.created_at);
    Response r = xml(200, x.close("CopyObjectResult").take());
    r.set_header("x-amz-version-id", v.version_id);
    if (!version.empty()) r.set_header("x-amz-copy-source-version-id", version);
    co_return r;
  }

  Task<Response> get_object(Request& req) {
    auto bucket = req.param("bucket");
    auto key = key_of(req);
    co_await owned(bucket, req);
    auto version = req.query_param("versionId").value_or("");
    auto v = co_await store->get(bucket, key, version);
    if (!v) throw S3Error(404, version.empty() ? "NoSuchKey" : "NoSuchVersion", "no such object");
    if (v->delete_marker) {
      Response r = xml_error(405, "MethodNotAllowed", "that version is a delete marker", req);
      r.set_header("x-amz-delete-marker", "true");
      co_return r;
    }
    auto r = svckit::http::file_response(req, store->blob_path(v->sha256),
                                         {.content_type = v->content_type,
                                          .etag = v->etag(),
                                          .last_modified = svckit::iso8601_seconds(v->created_at)});
    if (r.status == 416)
      co_return xml_error(416, "InvalidRange", "the range is outside the object", req);
    if (r.status == 412) co_return xml_error(412, "PreconditionFailed", "a condition failed", req);
    r.set_header("x-amz-version-id", v->version_id);
    co_return r;
  }

  Task<Response> delete_object(Request& req) {
    auto bucket = req.param("bucket");
    auto key = key_of(req);
    co_await owned(bucket, req);
    Response r = Response::empty(204);
    if (auto id = req.query_param("uploadId")) {
      auto upload = co_await upload_of(*id, bucket, key);
      co_await store->abort(upload);
    } else if (auto version = req.query_param("versionId")) {
      co_await store->remove_version(bucket, key, *version);
      r.set_header("x-amz-version-id", *version);
    } else {
      auto marker = co_await store->mark_deleted(bucket, key, req.user_id());
      r.set_header("x-amz-delete-marker", "true");
      r.set_header("x-amz-version-id", marker.version_id);
    }
    co_return r;
  }

  Task<Response> post_object(Request& req) {
    auto bucket = req.param("bucket");
    auto key = key_of(req);
    co_await owned(bucket, req);
    if (has_query(req, "uploads")) {
      auto type = std::string(req.header("Content-Type").value_or("binary/octet-stream"));
      auto upload = co_await store->start_upload(bucket, key, req.user_id(), type);
      XmlWriter x;
      x.open("InitiateMultipartUploadResult", kNamespace).leaf("Bucket", bucket).leaf("Key", key);
      co_return xml(200,
                    x.leaf("UploadId", upload.id).close("InitiateMultipartUploadResult").take());
    }
    if (auto id = req.query_param("uploadId")) co_return co_await complete(req, *id, bucket, key);
    throw S3Error(501, "NotImplemented", "POST on an object: ?uploads or ?uploadId");
  }

  // -- multipart uploads ---------------------------------------------------------------------

  Task<Upload> upload_of(const std::string& id, const std::string& bucket, const std::string& key) {
    auto upload = co_await store->upload(id);
    if (!upload || upload->bucket != bucket || upload->key != key)
      throw S3Error(404, "NoSuchUpload", "no such multipart upload");
    if (upload->joining)
      throw S3Error(409, "OperationAborted", "the upload's parts are being joined");
    co_return *upload;
  }

  Task<Response> upload_part(Request& req, const std::string& bucket, const std::string& key) {
    auto upload = co_await upload_of(*req.query_param("uploadId"), bucket, key);
    int number = 0;
    auto text = req.query_param("partNumber").value_or("");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || end != text.data() + text.size() || number < 1 || number > 10000)
      throw S3Error(400, "InvalidArgument", "partNumber is 1 to 10000");
    auto saved = co_await receive(req);
    UploadedFile guard{saved.path};
    co_await store->put_part(upload, number, saved.path, saved.sha256, saved.size);
    guard.path.clear();
    Response r = Response::empty(200);
    r.set_header("ETag", "\"" + saved.sha256.substr(0, 32) + "\"");
    co_return r;
  }

  Task<Response> complete(Request& req, const std::string& id, const std::string& bucket,
                          const std::string& key) {
    auto upload = co_await upload_of(id, bucket, key);
    auto stored = co_await store->parts(id);
    std::vector<ObjectStore::Part> chosen;
    int previous = 0;
    auto listed = xml_elements(req.body(), "Part");
    if (listed.empty()) throw S3Error(400, "MalformedXML", "no parts listed");
    for (auto part : listed) {
      int number = std::atoi(xml_text(part, "PartNumber").c_str());
      if (number <= previous)
        throw S3Error(400, "InvalidPartOrder", "parts must be listed in ascending order");
      previous = number;
      auto it = std::find_if(stored.begin(), stored.end(),
                             [&](const auto& p) { return p.number == number; });
      if (it == stored.end() || unquoted(xml_text(part, "ETag")) != it->sha256.substr(0, 32))
        throw S3Error(400, "InvalidPart", "part " + std::to_string(number) + " was not uploaded");
      chosen.push_back(*it);
    }
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      if (i + 1 < chosen.size() && chosen[i].size < kMinPart)
        throw S3Error(400, "EntityTooSmall", "every part but the last is at least 5 MiB");
      total += chosen[i].size;
    }
    if (total > max_object)
      throw S3Error(400, "EntityTooLarge",
                    "the parts add up to more than " + std::to_string(max_object) + " bytes");
    auto completed = co_await store->complete(upload, chosen);
    if (!completed)
      throw S3Error(409, "OperationAborted", "another request is completing this upload");
    const auto& v = *completed;
    XmlWriter x;
    x.open("CompleteMultipartUploadResult", kNamespace).leaf("Location", "/" + bucket + "/" + key);
    x.leaf("Bucket", bucket).leaf("Key", key).leaf("ETag", v.etag());
    Response r = xml(200, x.close("CompleteMultipartUploadResult").take());
    r.set_header("x-amz-version-id", v.version_id);
    co_return r;
  }
};

FilesService::FilesService() : state_(std::make_shared<State>()) {}

svckit::Task<void> FilesService::start(svckit::App& app) {
  // Abandoned multipart uploads hold parts (and quota) until they expire, deleted objects their
  // versions until FILES_RETENTION_DAYS have passed: checked at start and hourly.
  std::weak_ptr<State> weak = state_;
  app.run_in_background("expire multipart uploads", [weak]() -> Task<void> {
    for (;;) {
      if (auto s = weak.lock()) {
        auto cutoff = svckit::utc_iso8601_after(-s->upload_expiry);
        if (auto n = co_await s->store->expire_uploads(cutoff); n > 0)
          s->app->logger().info("multipart uploads expired", {{"uploads", n}});
        auto kept_until = svckit::utc_iso8601_after(-s->retention);
        if (auto n = co_await s->store->purge_deleted(kept_until); n > 0)
          s->app->logger().info("deleted objects purged", {{"keys", n}});
      }
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                      std::chrono::hours(1));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
  });
  co_return;
}
FilesService::~FilesService() = default;

void FilesService::declare(svckit::Settings& settings) {
  using svckit::SettingType;
  settings.declare("files", {.name = "FILES_S3_KEYS",
                             .type = SettingType::secret,
                             .help = "S3 access keys: id:secret:user, comma-separated"});
  settings.declare("files", {.name = "FILES_S3_REGION",
                             .default_value = "us-east-1",
                             .help = "the region S3 clients sign for"});
  settings.declare("files", {.name = "FILES_MAX_OBJECT",
                             .type = SettingType::size,
                             .default_value = "5GiB",
                             .min = 1,
                             .help = "largest object or part (larger: 413 EntityTooLarge)"});
  settings.declare("files",
                   {.name = "FILES_UPLOAD_EXPIRY_DAYS",
                    .type = SettingType::integer,
                    .default_value = "7",
                    .min = 1,
                    .max = 3650,
                    .help = "multipart uploads left unfinished this many days are aborted"});
  settings.declare("files", {.name = "FILES_RETENTION_DAYS",
                             .type = SettingType::integer,
                             .default_value = "30",
                             .min = 0,
                             .max = 36500,
                             .help = "days a deleted object's versions are kept before they are "
                                     "removed for good (0: at the next hourly sweep)"});
  settings.declare("files", {.name = "FILES_QUOTA",
                             .type = SettingType::size,
                             .default_value = "10GiB",
                             .help = "bytes each user's versions may hold (0: no quota)"});
}

void FilesService::install(svckit::App& app) {
  auto& s = *state_;
  s.app = &app;
  auto& db = app.database("files");
  ObjectStore::migrate(db);
  s.store = std::make_unique<ObjectStore>(db, app.blocking(),
                                          std::filesystem::path(app.config().data_dir) / "files");
  s.region = app.settings().text("FILES_S3_REGION");
  s.max_object = app.settings().size("FILES_MAX_OBJECT");
  s.quota = app.settings().size("FILES_QUOTA");
  s.upload_expiry = std::chrono::hours(24) * app.settings().integer("FILES_UPLOAD_EXPIRY_DAYS");
  s.retention = std::chrono::hours(24) * app.settings().integer("FILES_RETENTION_DAYS");
  auto keys = app.settings().text("FILES_S3_KEYS");
  for (std::size_t start = 0; start < keys.size();) {
    auto comma = std::min(keys.find(',', start), keys.size());
    auto entry = keys.substr(start, comma - start);
    auto first = entry.find(':'), second = entry.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos || first == 0 ||
        second == first + 1 || second + 1 == entry.size())
      throw svckit::ConfigError("FILES_S3_KEYS", "each key is id:secret:user");
    AccessKey key{entry.substr(0, first), entry.substr(first + 1, second - first - 1),
                  entry.substr(second + 1)};
    s.keys[key.id] = key;
    start = comma + 1;
  }

  auto state = state_;
  auto authenticate = [state](Request& req, const svckit::http::Handler& next) {
    auto lookup = [&](std::string_view id) -> std::optional<AccessKey> {
      auto it = state->keys.find(id);
      if (it == state->keys.end()) return std::nullopt;
      return it->second;
    };
    auto verdict = verify_sigv4(req, lookup, state->region);
    if (auto* refused = std::get_if<SignatureError>(&verdict))
      throw S3Error(refused->status, refused->code, refused->message);
    auto signer = std::get<SignedRequest>(std::move(verdict));
    // A body already here (Delete, CompleteMultipartUpload) is checked against what was signed
    // now; a streamed one once it has been read (State::receive).
    if (!req.body_stream() && is_sha256_hex(signer.payload_hash) &&
        sha256_hex(req.body()) != signer.payload_hash)
      throw S3Error(400, "XAmzContentSHA256Mismatch",
                    "the body's SHA-256 is not the one x-amz-content-sha256 declared");
    req.context().set_user_id(signer.user);
    req.context().attach(std::move(signer));
    refuse_unoffered(req);
    return next(req);
  };
  auto s3 = app.http().group("", {svckit::http::Middleware(s3_errors), authenticate});
  auto bind = [state](Task<Response> (State::*member)(Request&)) {
    return [state, member](Request& req) { return ((*state).*member)(req); };
  };
  s3.get("/", bind(&State::list_buckets)).summary("S3 ListBuckets");
  s3.put("/{bucket}", bind(&State::create_bucket)).summary("S3 CreateBucket");
  s3.get("/{bucket}", bind(&State::get_bucket))
      .summary(
          "S3 ListObjectsV2 (list-type=2), ListObjects, ListObjectVersions (?versions), "
          "GetBucketLocation, GetBucketVersioning; HEAD: HeadBucket");
  s3.del("/{bucket}", bind(&State::delete_bucket)).summary("S3 DeleteBucket");
  s3.post("/{bucket}", bind(&State::post_bucket)).summary("S3 DeleteObjects (?delete)");
  s3.put("/{bucket}/{key...}", bind(&State::put_object))
      .summary("S3 PutObject, UploadPart (?partNumber&uploadId), CopyObject (x-amz-copy-source)")
      .streams_body(s.max_object);
  s3.get("/{bucket}/{key...}", bind(&State::get_object))
      .summary("S3 GetObject (Range, versionId); HEAD: HeadObject");
  s3.del("/{bucket}/{key...}", bind(&State::delete_object))
      .summary("S3 DeleteObject (a delete marker; versionId: for good), AbortMultipartUpload");
  s3.post("/{bucket}/{key...}", bind(&State::post_object))
      .summary("S3 CreateMultipartUpload (?uploads), CompleteMultipartUpload (?uploadId)");

  // The REST API takes the Security Service's tokens: with no JWT settings, S3 alone is served.
  auto bearer = svckit::bearer_options_from_settings(app);
  if (!bearer.verifier) {
    app.logger().warning("no JWT settings (JWT_SECRET_KEY, JWKS_URL, ...): /api/v1/files is off");
    return;
  }
  s.api = std::make_unique<FilesApi>(app, *s.store, s.quota, s.max_object);
  s.api->install(svckit::auth::bearer(std::move(bearer)));
}

}  // namespace raptorflow::files
