#pragma once
// Who may do what to the files of a bucket, beside its owner: shares (with a user or a role,
// read or write, on the whole bucket, a folder — a path ending in '/' — or one key) and public
// links (a key, or one version of it, for anyone holding the link's token, until it expires or is
// revoked). The REST API checks them (files_api.hpp); the S3 API stays owner-only.
//
// A link's token is 32 random bytes, base64url; only its SHA-256 is stored, so what the database
// holds cannot be turned into working links.
#include <optional>
#include <string>
#include <vector>

#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

namespace raptorflow::files {

enum class Access { none, read, write, owner };

struct Share {
  std::string id;
  std::string bucket;
  std::string path;          // "" (the bucket), "folder/" or "a/key"
  std::string grantee_kind;  // "user" or "role"
  std::string grantee;
  std::string access;  // "read" or "write"
  std::string created_by, created_at;
};

struct Link {
  std::string id;
  std::string bucket, key;
  std::string version_id;  // empty: the latest version when it is used
  std::string expires_at;  // ISO 8601; empty: until revoked
  std::string created_by, created_at;
};

// Who is asking: the token's subject and roles.
struct Caller {
  std::string id;
  std::vector<std::string> roles;
};

class AccessStore {
 public:
  explicit AccessStore(svckit::sql::Database& db) : db_(db) {}
  void migrate();

  // What `caller` may do to `key` (or, for a listing, to everything under the prefix `key`) of
  // the bucket `owner` owns.
  svckit::Task<Access> access(const Caller& caller, const std::string& owner,
                              const std::string& bucket, const std::string& key);
  // The buckets shared with `caller` (a share of any path in them).
  svckit::Task<std::vector<Share>> shared_with(const Caller& caller);

  svckit::Task<void> add(const Share& share);
  svckit::Task<std::vector<Share>> shares(const std::string& bucket);
  svckit::Task<std::optional<Share>> share(const std::string& id);
  svckit::Task<bool> remove_share(const std::string& id);

  // A new link; returns its token (shown once: only its hash is kept).
  svckit::Task<std::string> add(const Link& link);
  svckit::Task<std::vector<Link>> links(const std::string& bucket);
  svckit::Task<std::optional<Link>> link_by_id(const std::string& id);
  svckit::Task<std::optional<Link>> link_by_token(const std::string& token);
  svckit::Task<bool> remove_link(const std::string& id);

 private:
  svckit::sql::Database& db_;
};

// Whether a share of `path` covers `key`: the bucket, a folder `key` lies in, or the key itself.
bool covers(const std::string& path, const std::string& key);

}  // namespace raptorflow::files
