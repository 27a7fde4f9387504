#pragma once
// The File Storage Service's REST API (/api/v1/files), beside its S3 API, for the front end and
// other services: bearer tokens from the Security Service (the JWT settings), multipart-form and
// raw uploads (streamed), downloads with ranges, versions (list, fetch, restore), soft delete,
// sharing with users and roles (read or write) and public links. The same buckets and objects as
// the S3 API, the same owners (a token's subject is the user FILES_S3_KEYS maps a key to).
// docs/raptorflow-files.md.
#include <cstdint>
#include <memory>
#include <string>

#include <svckit/app/app.hpp>
#include <svckit/http/body_file.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "access.hpp"
#include "object_store.hpp"

namespace raptorflow::files {

class FilesApi {
 public:
  FilesApi(svckit::App& app, ObjectStore& store, std::uint64_t quota, std::uint64_t max_object);
  // Registers the routes; `auth` is the bearer middleware.
  void install(svckit::http::Middleware auth);

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  using Task = svckit::Task<Response>;

  Task list_buckets(Request& req);
  Task create_bucket(Request& req);
  Task delete_bucket(Request& req);
  Task list_files(Request& req);
  Task upload_form(Request& req);
  Task put_file(Request& req);
  Task get_file(Request& req);
  Task delete_file(Request& req);
  Task restore(Request& req);
  Task quota(Request& req);
  Task share(Request& req);
  Task list_shares(Request& req);
  Task unshare(Request& req);
  Task make_link(Request& req);
  Task list_links(Request& req);
  Task revoke_link(Request& req);
  Task public_file(Request& req);

  // The bucket, when the caller may do `needed` to `key` in it (404 for a bucket the caller can
  // see nothing of, so that its existence does not show; 403 past that).
  svckit::Task<Bucket> allowed(const Request& req, const std::string& bucket,
                               const std::string& key, Access needed);
  // The same for listing everything under `prefix` (a share of one file lists nothing).
  svckit::Task<void> allowed_under(const Request& req, const std::string& bucket,
                                   const std::string& prefix);
  svckit::Task<Bucket> owned(const Request& req, const std::string& bucket);
  svckit::Task<void> check_quota(const std::string& user, std::uint64_t more);
  svckit::Task<ObjectVersion> store_upload(const std::string& bucket, const std::string& key,
                                           const svckit::http::SavedBody& saved,
                                           const std::string& content_type,
                                           const std::string& user);

  svckit::App& app_;
  ObjectStore& store_;
  AccessStore access_;
  std::uint64_t quota_, max_object_;
};

}  // namespace raptorflow::files
