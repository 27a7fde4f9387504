#pragma once
// Where the File Storage service keeps things: blobs on disk named by their SHA-256 (equal
// content is stored once, whatever its names and versions), and what names them in SQL —
// buckets, every version of every object (an upload of a key is a new version; a delete adds a
// delete marker, the versions stay until removed by version), multipart uploads and their
// parts. Blobs no version refers to any more are removed.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/blocking_pool.hpp"
#include "svckit/sql/database.hpp"
#include "svckit/task.hpp"

namespace raptorflow::files {

struct Bucket {
  std::string name;
  std::string owner;
  std::string created_at;
};

struct ObjectVersion {
  std::string bucket;
  std::string key;
  std::string version_id;
  std::string sha256;  // empty for a delete marker
  std::uint64_t size = 0;
  std::string content_type;
  std::string created_at;  // ISO 8601
  bool delete_marker = false;
  std::string owner;
  bool latest = false;
  // S3's ETag: opaque, quoted; from the content's SHA-256 ("-N" for N parts).
  std::string etag() const;
  int parts = 0;
};

struct Listing {
  std::vector<ObjectVersion> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_marker;  // the last key returned (a continuation token)
};

struct Upload {
  std::string id;
  std::string bucket;
  std::string key;
  std::string owner;
  std::string content_type;
  bool joining = false;  // a CompleteMultipartUpload is joining its parts
};

// 3-63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, no
// "..", and not a name this service's own paths take ("api", "health", ...).
bool is_bucket_name(std::string_view name);

class ObjectStore {
 public:
  ObjectStore(svckit::sql::Database& db, svckit::BlockingPool& pool, std::filesystem::path root);
  static void migrate(svckit::sql::Database& db);

  std::filesystem::path incoming() const { return root_ / "incoming"; }
  std::filesystem::path blob_path(const std::string& sha256) const {
    return root_ / "blobs" / sha256;
  }

  svckit::Task<std::optional<Bucket>> bucket(const std::string& name);
  svckit::Task<std::vector<Bucket>> buckets(const std::string& owner);
  // False when the name is taken (by anyone).
  svckit::Task<bool> create_bucket(const std::string& name, const std::string& owner);
  // False when the bucket still holds objects (any version) or uploads.
  svckit::Task<bool> delete_bucket(const std::string& name);

  // Moves an uploaded file (save_body's) into the blob store and records a new version.
  svckit::Task<ObjectVersion> put(const std::string& bucket, const std::string& key,
                                  const std::filesystem::path& uploaded, const std::string& sha256,
                                  std::uint64_t size, const std::string& content_type,
                                  const std::string& owner, int parts = 0);
  // A new version of `key` with `source`'s content (no bytes copied): S3's CopyObject, and how a
  // version is restored.
  svckit::Task<ObjectVersion> copy(const ObjectVersion& source, const std::string& bucket,
                                   const std::string& key, const std::string& owner);
  // The latest version (nullopt when none, or when it is a delete marker), or the one named.
  svckit::Task<std::optional<ObjectVersion>> get(const std::string& bucket, const std::string& key,
                                                 const std::string& version_id = {});
  // A delete marker on top (the versions stay): what DELETE without a version does.
  svckit::Task<ObjectVersion> mark_deleted(const std::string& bucket, const std::string& key,
                                           const std::string& owner);
  // Removes one version for good (its blob too when nothing else refers to it); false when
  // there is no such version.
  svckit::Task<bool> remove_version(const std::string& bucket, const std::string& key,
                                    const std::string& version_id);
  // The latest live version of each key under `prefix` after `after`, in key order; keys with
  // `delimiter` past the prefix are rolled up into common prefixes.
  svckit::Task<Listing> list(const std::string& bucket, const std::string& prefix,
                             const std::string& delimiter, const std::string& after,
                             std::size_t max_keys);
  // Every version (delete markers too) of keys under `prefix`, newest first per key.
  svckit::Task<std::vector<ObjectVersion>> versions(const std::string& bucket,
                                                    const std::string& prefix,
                                                    std::size_t max_keys);
  // Bytes the owner's versions and unfinished uploads' parts hold (what a quota counts).
  svckit::Task<std::uint64_t> used_bytes(const std::string& owner);

  svckit::Task<Upload> start_upload(const std::string& bucket, const std::string& key,
                                    const std::string& owner, const std::string& content_type);
  svckit::Task<std::optional<Upload>> upload(const std::string& id);
  svckit::Task<void> put_part(const Upload& upload, int number,
                              const std::filesystem::path& uploaded, const std::string& sha256,
                              std::uint64_t size);
  struct Part {
    int number;
    std::string sha256;
    std::uint64_t size;
  };
  svckit::Task<std::vector<Part>> parts(const std::string& upload_id);
  // Joins the parts (on the blocking pool: it copies their bytes) into a new version. The upload
  // is claimed first, so that a retried request does not join the same parts again meanwhile:
  // nullopt when another request has claimed it.
  svckit::Task<std::optional<ObjectVersion>> complete(const Upload& upload,
                                                      const std::vector<Part>& chosen);
  svckit::Task<void> abort(const Upload& upload);
  // Aborts the uploads started before `cutoff` (ISO 8601) and never finished; how many.
  svckit::Task<std::size_t> expire_uploads(const std::string& cutoff);
  // Removes for good every version of the keys deleted (their latest version a delete marker)
  // before `cutoff`, their blobs too once nothing else refers to them; how many keys.
  svckit::Task<std::size_t> purge_deleted(const std::string& cutoff);

 private:
  std::filesystem::path part_path(const std::string& upload_id, int number) const;
  svckit::Task<void> insert(const ObjectVersion& v);
  svckit::Task<void> forget_blob_if_unused(const std::string& sha256);

  svckit::sql::Database& db_;
  svckit::BlockingPool& pool_;
  std::filesystem::path root_;
};

}  // namespace raptorflow::files
