#include "files_api.hpp"

#include <algorithm>
#include <charconv>

#include <boost/describe/class.hpp>
#include <svckit/auth/principal.hpp>
#include <svckit/error.hpp>
#include <svckit/http/file_response.hpp>
#include <svckit/http/form_data.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>
#include <svckit/model/rules.hpp>
#include <svckit/utf8.hpp>

namespace raptorflow::files {

// POST /api/v1/files/_shares
struct ShareRequest {
  std::string bucket;
  std::optional<std::string> path;  // "" or absent: the whole bucket; "folder/"; "a/key"
  std::optional<std::string> user;
  std::optional<std::string> role;
  std::string access;  // read or write
  static void rules(svckit::model::Rules<ShareRequest>& r) {
    r.field(&ShareRequest::bucket).length(3, 63);
    r.field(&ShareRequest::path).length(0, 1024);
    r.field(&ShareRequest::user).length(1, 200);
    r.field(&ShareRequest::role).length(1, 100);
    r.field(&ShareRequest::access).one_of({"read", "write"});
  }
};
BOOST_DESCRIBE_STRUCT(ShareRequest, (), (bucket, path, user, role, access))

// POST /api/v1/files/_links
struct LinkRequest {
  std::string bucket;
  std::string key;
  std::optional<std::string> version_id;  // absent: whatever is latest when the link is used
  std::optional<std::int64_t> expires_in_seconds;  // absent: until revoked
  static void rules(svckit::model::Rules<LinkRequest>& r) {
    r.field(&LinkRequest::bucket).length(3, 63);
    r.field(&LinkRequest::key).length(1, 1024);
    r.field(&LinkRequest::version_id).length(1, 100);
    r.field(&LinkRequest::expires_in_seconds).range(1, 366 * 86400);
  }
};
BOOST_DESCRIBE_STRUCT(LinkRequest, (), (bucket, key, version_id, expires_in_seconds))

namespace {

using svckit::http::Request;
using svckit::http::Response;

nlohmann::json version_json(const ObjectVersion& v) {
  return {{"bucket", v.bucket},         {"key", v.key},
          {"version_id", v.version_id}, {"size", v.size},
          {"sha256", v.sha256},         {"content_type", v.content_type},
          {"created_at", v.created_at}, {"owner", v.owner},
          {"deleted", v.delete_marker}};
}

nlohmann::json share_json(const Share& s) {
  return {{"id", s.id},
          {"bucket", s.bucket},
          {s.grantee_kind, s.grantee},
          {"path", s.path},
          {"access", s.access},
          {"created_by", s.created_by},
          {"created_at", s.created_at}};
}

nlohmann::json link_json(const Link& l) {
  nlohmann::json out = {{"id", l.id},
                        {"bucket", l.bucket},
                        {"key", l.key},
                        {"created_by", l.created_by},
                        {"created_at", l.created_at}};
  out["version_id"] = l.version_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.version_id);
  out["expires_at"] = l.expires_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.expires_at);
  return out;
}

Caller caller_of(const Request& req) {
  Caller c{req.user_id(), {}};
  if (const auto* p = svckit::auth::principal(req)) c.roles = p->roles;
  return c;
}

void check_bucket(const std::string& name) {
  if (!is_bucket_name(name))
    throw svckit::ValidationError("bucket",
                                  "is 3-63 lower-case letters, digits, '-' and '.' (S3's rules)");
}

// A key as a path: 1-1024 bytes of UTF-8, no control characters, no leading '/', no "." or ".."
// segment (a client that maps keys to files could be led out of a folder by them).
bool is_key(std::string_view key) {
  if (key.empty() || key.size() > 1024 || !svckit::is_utf8(key) || key.front() == '/') return false;
  if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return false;
  for (std::size_t start = 0; start <= key.size();) {
    auto end = std::min(key.find('/', start), key.size());
    auto segment = key.substr(start, end - start);
    if (segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

void check_key(const std::string& key, const char* field = "key") {
  if (!is_key(key))
    throw svckit::ValidationError(
        field,
        "is 1-1024 bytes of UTF-8, without control characters, a leading '/', or '.' or "
        "'..' segments");
}

// type/subtype[; parameters], printable ASCII: what may be served back as a Content-Type.
bool is_media_type(std::string_view type) {
  if (type.empty() || type.size() > 255) return false;
  auto slash = type.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;
  return std::all_of(type.begin(), type.end(),
                     [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

std::string media_type(std::optional<std::string_view> given) {
  if (!given || given->empty()) return "application/octet-stream";
  if (!is_media_type(*given))
    throw svckit::ValidationError("Content-Type", "is not a media type (type/subtype)");
  return std::string(*given);
}

std::string key_param(const Request& req) {
  auto key = req.param("key");
  check_key(key);
  return key;
}

std::uint64_t declared_length(const Request& req) {
  std::uint64_t n = 0;
  if (auto length = req.header("Content-Length"))
    std::from_chars(length->data(), length->data() + length->size(), n);
  return n;
}

// Uploaded files not (yet) in the store: removed when the handler leaves.
struct Uploaded {
  std::vector<std::filesystem::path> paths;
  ~Uploaded() {
    std::error_code ignored;
    for (const auto& p : paths) std::filesystem::remove(p, ignored);
  }
};

svckit::NotFound no_such_file() {
  return svckit::NotFound("no such file");
}

std::string base_name(const std::string& key) {
  auto slash = key.find_last_of('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

}  // namespace

FilesApi::FilesApi(svckit::App& app, ObjectStore& store, std::uint64_t quota,
                   std::uint64_t max_object)
    : app_(app),
      store_(store),
      access_(app.database("files")),
      quota_(quota),
      max_object_(max_object) {
  access_.migrate();
}

void FilesApi::install(svckit::http::Middleware auth) {
  using svckit::http::bind;
  auto api = app_.http().group("/api/v1/files", {std::move(auth)});
  api.get("/", bind(this, &FilesApi::list_buckets))
      .summary("Your buckets, and what others share with you")
      .responds(200);
  api.get("/_quota", bind(this, &FilesApi::quota))
      .summary("Bytes you hold, and your quota")
      .responds(200);
  api.post("/_shares", bind(this, &FilesApi::share))
      .summary("Share a bucket, a folder ('dir/') or a file with a user or a role (the owner)")
      .accepts<ShareRequest>()
      .responds(201);
  api.get("/_shares", bind(this, &FilesApi::list_shares))
      .summary("A bucket's shares (the owner)")
      .query("bucket", "the bucket")
      .responds(200);
  api.del("/_shares/{id}", bind(this, &FilesApi::unshare)).summary("Remove a share").responds(204);
  api.post("/_links", bind(this, &FilesApi::make_link))
      .summary("A public link to a file (the owner): its token is shown once")
      .accepts<LinkRequest>()
      .responds(201);
  api.get("/_links", bind(this, &FilesApi::list_links))
      .summary("A bucket's public links (the owner)")
      .query("bucket", "the bucket")
      .responds(200);
  api.del("/_links/{id}", bind(this, &FilesApi::revoke_link))
      .summary("Revoke a public link")
      .responds(204);
  api.put("/{bucket}", bind(this, &FilesApi::create_bucket))
      .summary("Create a bucket")
      .responds(201);
  api.del("/{bucket}", bind(this, &FilesApi::delete_bucket))
      .summary("Delete an empty bucket (the owner)")
      .responds(204);
  api.get("/{bucket}", bind(this, &FilesApi::list_files))
      .summary("The files under a prefix, folders rolled up by a delimiter")
      .query("prefix", "only keys starting with this")
      .query("delimiter", "roll keys up to the next one of these after the prefix ('/')")
      .query("after", "only keys after this one (next_after of the page before)")
      .query("limit", "at most this many (default 1000)",
             {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}})
      .responds(200);
  api.post("/{bucket}", bind(this, &FilesApi::upload_form))
      .summary(
          "Upload files as a multipart form: 'file' parts, and 'key' (one file) or 'path' "
          "(a folder for the files' own names)")
      .streams_body(max_object_)
      .responds(201);
  api.put("/{bucket}/{key...}", bind(this, &FilesApi::put_file))
      .summary("Upload a file as the raw body: a new version of the key")
      .streams_body(max_object_)
      .responds(201);
  api.get("/{bucket}/{key...}", bind(this, &FilesApi::get_file))
      .summary(
          "Download a file (Range, conditional requests); ?version=ID one version, "
          "?versions all of them")
      .query("version", "this version rather than the latest")
      .query("versions", "list the versions instead", {{"type", "boolean"}})
      .responds(200);
  api.del("/{bucket}/{key...}", bind(this, &FilesApi::delete_file))
      .summary(
          "Delete a file (its versions kept for the retention period); ?version=ID removes "
          "that version for good (the owner)")
      .query("version", "the version to remove for good")
      .responds(204);
  api.post("/{bucket}/{key...}", bind(this, &FilesApi::restore))
      .summary("Restore a version: ?restore=ID makes it the latest again")
      .query("restore", "the version to restore")
      .responds(201);
  // The token is the authority: anyone holding a link downloads without an account.
  auto public_links = app_.http().group("/api/v1/files/_public", {});
  public_links.get("/{token}", bind(this, &FilesApi::public_file))
      .summary("Download through a public link")
      .secret_path()
      .responds(200);
}

svckit::Task<Bucket> FilesApi::allowed(const Request& req, const std::string& bucket,
                                       const std::string& key, Access needed) {
  check_bucket(bucket);
  auto b = co_await store_.bucket(bucket);
  if (!b) throw svckit::NotFound("no such bucket");
  auto caller = caller_of(req);
  auto granted = co_await access_.access(caller, b->owner, bucket, key);
  if (granted == Access::none) throw svckit::NotFound("no such bucket");
  if (granted < needed) throw svckit::Forbidden("you may not do that here");
  co_return *b;
}

svckit::Task<void> FilesApi::allowed_under(const Request& req, const std::string& bucket,
                                           const std::string& prefix) {
  check_bucket(bucket);
  auto b = co_await store_.bucket(bucket);
  if (!b) throw svckit::NotFound("no such bucket");
  auto caller = caller_of(req);
  auto granted = co_await access_.access_under(caller, b->owner, bucket, prefix);
  if (granted == Access::none)
    throw svckit::NotFound("no such bucket (or nothing shared under the prefix)");
}

svckit::Task<Bucket> FilesApi::owned(const Request& req, const std::string& bucket) {
  check_bucket(bucket);
  auto b = co_await store_.bucket(bucket);
  if (!b || b->owner != req.user_id()) throw svckit::NotFound("no bucket of yours by that name");
  co_return *b;
}

svckit::Task<void> FilesApi::check_quota(const std::string& user, std::uint64_t more) {
  if (quota_ == 0) co_return;
  auto used = co_await store_.used_bytes(user);
  if (used + more > quota_)
    throw svckit::Error(413, "about:blank", "Payload Too Large",
                        "this would take " + std::to_string(used + more) + " bytes of a quota of " +
                            std::to_string(quota_));
}

svckit::Task<ObjectVersion> FilesApi::store_upload(const std::string& bucket,
                                                   const std::string& key,
                                                   const svckit::http::SavedBody& saved,
                                                   const std::string& content_type,
                                                   const std::string& user) {
  co_return co_await store_.put(bucket, key, saved.path, saved.sha256, saved.size, content_type,
                                user);
}

svckit::Task<Response> FilesApi::list_buckets(Request& req) {
  auto mine = co_await store_.buckets(req.user_id());
  auto caller = caller_of(req);
  auto shared = co_await access_.shared_with(caller);
  nlohmann::json buckets = nlohmann::json::array(), with_me = nlohmann::json::array();
  for (const auto& b : mine) buckets.push_back({{"name", b.name}, {"created_at", b.created_at}});
  for (const auto& s : shared)
    with_me.push_back({{"bucket", s.bucket}, {"path", s.path}, {"access", s.access}});
  nlohmann::json answer = {{"buckets", std::move(buckets)}, {"shared", std::move(with_me)}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> FilesApi::create_bucket(Request& req) {
  auto name = req.param("bucket");
  check_bucket(name);
  if (!co_await store_.create_bucket(name, req.user_id()))
    throw svckit::Conflict("the bucket name is taken");
  nlohmann::json answer = {{"name", name}, {"owner", req.user_id()}};
  co_return Response::json(201, answer);
}

svckit::Task<Response> FilesApi::delete_bucket(Request& req) {
  auto name = req.param("bucket");
  co_await owned(req, name);
  if (!co_await store_.delete_bucket(name))
    throw svckit::Conflict("the bucket still holds files (or their versions) or uploads");
  co_return Response::empty(204);
}

svckit::Task<Response> FilesApi::list_files(Request& req) {
  auto bucket = req.param("bucket");
  auto prefix = req.query_param("prefix").value_or("");
  auto delimiter = req.query_param("delimiter").value_or("");
  auto after = req.query_param("after").value_or("");
  if (!svckit::is_utf8(prefix) || !svckit::is_utf8(delimiter) || !svckit::is_utf8(after) ||
      prefix.size() > 1024 || delimiter.size() > 16 || after.size() > 1024)
    throw svckit::ValidationError("prefix", "prefix, delimiter and after are short UTF-8");
  auto limit = svckit::http::query_int("limit", req.query_param("limit"), 1000, 1, 1000);
  co_await allowed_under(req, bucket, prefix);
  auto listing =
      co_await store_.list(bucket, prefix, delimiter, after, static_cast<std::size_t>(limit));
  nlohmann::json files = nlohmann::json::array();
  for (const auto& v : listing.objects) files.push_back(version_json(v));
  nlohmann::json answer = {{"files", std::move(files)}, {"folders", listing.common_prefixes}};
  answer["next_after"] = nullptr;
  if (listing.truncated) answer["next_after"] = listing.next_marker;
  co_return Response::json(200, answer);
}

svckit::Task<Response> FilesApi::upload_form(Request& req) {
  auto bucket = req.param("bucket");
  check_bucket(bucket);
  std::string user = req.user_id();
  // Whether the caller may write here at all, before a byte is read.
  auto b = co_await store_.bucket(bucket);
  if (!b) throw svckit::NotFound("no such bucket");
  auto caller = caller_of(req);
  auto anywhere = co_await access_.widest_anywhere(caller, b->owner, bucket);
  if (anywhere == Access::none) throw svckit::NotFound("no such bucket");
  if (anywhere < Access::write) throw svckit::Forbidden("you may not write here");
  co_await check_quota(user, declared_length(req));
  auto form = co_await svckit::http::save_form(req, store_.incoming());
  Uploaded uploaded;
  std::uint64_t total = 0;
  for (const auto& f : form.files) {
    uploaded.paths.push_back(f.saved.path);
    total += f.saved.size;
  }
  if (form.files.empty()) throw svckit::ValidationError("file", "the form has no file part");
  const std::string* key = form.field("key");
  if (key && form.files.size() > 1)
    throw svckit::ValidationError("key", "names one file; for several, give 'path'");
  std::string folder;
  if (const std::string* path = form.field("path")) folder = *path;
  if (!folder.empty() && !folder.ends_with('/')) folder += '/';
  if (!folder.empty()) check_key(folder, "path");
  for (auto& f : form.files) f.content_type = media_type(f.content_type);  // served back later
  std::vector<std::string> keys;
  for (const auto& f : form.files) {
    if (!key && f.filename.empty())
      throw svckit::ValidationError("file", "a file part without a filename needs 'key'");
    keys.push_back(key ? *key : folder + f.filename);
    check_key(keys.back());
  }
  for (const auto& k : keys) co_await allowed(req, bucket, k, Access::write);
  co_await check_quota(user, total);
  nlohmann::json stored = nlohmann::json::array();
  for (std::size_t i = 0; i < form.files.size(); ++i) {
    auto v = co_await store_upload(bucket, keys[i], form.files[i].saved, form.files[i].content_type,
                                   user);
    stored.push_back(version_json(v));
  }
  uploaded.paths.clear();  // the store has them now
  nlohmann::json answer = {{"files", std::move(stored)}};
  co_return Response::json(201, answer);
}

svckit::Task<Response> FilesApi::put_file(Request& req) {
  auto bucket = req.param("bucket");
  auto key = key_param(req);
  co_await allowed(req, bucket, key, Access::write);
  auto type = media_type(req.header("Content-Type"));
  co_await check_quota(req.user_id(), declared_length(req));
  auto saved = co_await svckit::http::save_body(req, store_.incoming());
  Uploaded uploaded;
  uploaded.paths.push_back(saved.path);
  co_await check_quota(req.user_id(), saved.size);  // a chunked body's size is known only now
  auto v = co_await store_upload(bucket, key, saved, type, req.user_id());
  uploaded.paths.clear();
  co_return Response::json(201, version_json(v));
}

svckit::Task<Response> FilesApi::get_file(Request& req) {
  auto bucket = req.param("bucket");
  auto key = key_param(req);
  co_await allowed(req, bucket, key, Access::read);
  if (req.query_param("versions")) {
    auto all = co_await store_.versions(bucket, key, 1000);
    nlohmann::json versions = nlohmann::json::array();
    for (const auto& v : all)
      if (v.key == key) versions.push_back(version_json(v));
    if (versions.empty()) throw no_such_file();
    nlohmann::json answer = {{"versions", std::move(versions)}};
    co_return Response::json(200, answer);
  }
  auto version = req.query_param("version").value_or("");
  auto v = co_await store_.get(bucket, key, version);
  if (!v || v->delete_marker) throw no_such_file();
  auto r = svckit::http::file_response(req, store_.blob_path(v->sha256),
                                       {.content_type = v->content_type,
                                        .etag = v->etag(),
                                        .last_modified = svckit::iso8601_seconds(v->created_at)});
  r.set_header("X-Version-Id", v->version_id);
  co_return r;
}

svckit::Task<Response> FilesApi::delete_file(Request& req) {
  auto bucket = req.param("bucket");
  auto key = key_param(req);
  if (auto version = req.query_param("version")) {
    if (version->empty()) throw svckit::ValidationError("version", "names a version");
    co_await owned(req, bucket);
    if (!co_await store_.remove_version(bucket, key, *version)) throw no_such_file();
    co_return Response::empty(204);
  }
  co_await allowed(req, bucket, key, Access::write);
  auto latest = co_await store_.get(bucket, key);
  if (!latest) throw no_such_file();
  co_await store_.mark_deleted(bucket, key, req.user_id());
  co_return Response::empty(204);
}

svckit::Task<Response> FilesApi::restore(Request& req) {
  auto bucket = req.param("bucket");
  auto key = key_param(req);
  auto version = req.query_param("restore");
  if (!version || version->empty())
    throw svckit::BadRequest("a POST to a file restores a version: ?restore=<version_id>");
  co_await allowed(req, bucket, key, Access::write);
  auto source = co_await store_.get(bucket, key, *version);
  if (!source || source->delete_marker) throw svckit::NotFound("no such version of the file");
  co_await check_quota(req.user_id(), source->size);
  auto restored = co_await store_.copy(*source, bucket, key, req.user_id());
  co_return Response::json(201, version_json(restored));
}

svckit::Task<Response> FilesApi::quota(Request& req) {
  auto used = co_await store_.used_bytes(req.user_id());
  nlohmann::json answer = {{"used", used}};
  answer["quota"] = nullptr;
  if (quota_) answer["quota"] = quota_;
  co_return Response::json(200, answer);
}

svckit::Task<Response> FilesApi::share(Request& req) {
  auto in = req.json<ShareRequest>();
  co_await owned(req, in.bucket);
  if (in.user.has_value() == in.role.has_value())
    throw svckit::ValidationError("user", "name either a user or a role");
  if (in.user && *in.user == req.user_id())
    throw svckit::ValidationError("user", "the bucket is yours already");
  Share s;
  s.id = svckit::uuid_v4();
  s.bucket = in.bucket;
  s.path = in.path.value_or("");
  if (!s.path.empty()) check_key(s.path, "path");
  s.grantee_kind = in.user ? "user" : "role";
  s.grantee = in.user ? *in.user : *in.role;
  s.access = in.access;
  s.created_by = req.user_id();
  s.created_at = svckit::utc_now_iso8601();
  s.id = co_await access_.add(s);  // the existing share's, when it changed one
  co_return Response::json(201, share_json(s));
}

svckit::Task<Response> FilesApi::list_shares(Request& req) {
  auto bucket = req.query_param("bucket").value_or("");
  co_await owned(req, bucket);
  auto all = co_await access_.shares(bucket);
  nlohmann::json shares = nlohmann::json::array();
  for (const auto& s : all) shares.push_back(share_json(s));
  nlohmann::json answer = {{"shares", std::move(shares)}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> FilesApi::unshare(Request& req) {
  auto s = co_await access_.share(req.param("id"));
  if (!s) throw svckit::NotFound("no such share");
  co_await owned(req, s->bucket);
  co_await access_.remove_share(s->id);
  co_return Response::empty(204);
}

svckit::Task<Response> FilesApi::make_link(Request& req) {
  auto in = req.json<LinkRequest>();
  check_key(in.key);
  // The owner's alone: a link made through a share would outlive the share.
  co_await owned(req, in.bucket);
  auto v = co_await store_.get(in.bucket, in.key, in.version_id.value_or(""));
  if (!v || v->delete_marker) throw no_such_file();
  Link l;
  l.id = svckit::uuid_v4();
  l.bucket = in.bucket;
  l.key = in.key;
  l.version_id = in.version_id.value_or("");
  if (in.expires_in_seconds)
    l.expires_at = svckit::utc_iso8601_after(std::chrono::seconds(*in.expires_in_seconds));
  l.created_by = req.user_id();
  l.created_at = svckit::utc_now_iso8601();
  auto token = co_await access_.add(l);
  auto answer = link_json(l);
  answer["token"] = token;
  answer["url"] = "/api/v1/files/_public/" + token;
  co_return Response::json(201, answer);
}

svckit::Task<Response> FilesApi::list_links(Request& req) {
  auto bucket = req.query_param("bucket").value_or("");
  co_await owned(req, bucket);
  auto all = co_await access_.links(bucket);
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : all) links.push_back(link_json(l));
  nlohmann::json answer = {{"links", std::move(links)}};
  co_return Response::json(200, answer);
}

svckit::Task<Response> FilesApi::revoke_link(Request& req) {
  auto l = co_await access_.link_by_id(req.param("id"));
  if (!l) throw svckit::NotFound("no such link");
  co_await owned(req, l->bucket);
  co_await access_.remove_link(l->id);
  co_return Response::empty(204);
}

svckit::Task<Response> FilesApi::public_file(Request& req) {
  auto l = co_await access_.link_by_token(req.param("token"));
  if (!l) throw svckit::NotFound("no such link (or it was revoked)");
  if (!l->expires_at.empty() && l->expires_at <= svckit::utc_now_iso8601())
    throw svckit::Error(410, "about:blank", "Gone", "the link has expired");
  auto v = co_await store_.get(l->bucket, l->key, l->version_id);
  if (!v || v->delete_marker) throw svckit::NotFound("the file is gone");
  auto r = svckit::http::file_response(req, store_.blob_path(v->sha256),
                                       {.content_type = v->content_type,
                                        .etag = v->etag(),
                                        .download_name = base_name(v->key),
                                        .last_modified = svckit::iso8601_seconds(v->created_at)});
  r.set_header("X-Robots-Tag", "noindex");
  co_return r;
}

}  // namespace raptorflow::files
