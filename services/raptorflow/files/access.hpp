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

  // What `caller` may do to `key` of the bucket `owner` owns.
  svckit::Task<Access> access(const Caller& caller, const std::string& owner,
                              const std::string& bucket, const std::string& key);
  // What `caller` may do to everything under `prefix`: only shares of the bucket or of a folder
  // the prefix lies in count (a share of one file lists nothing beside it).
  svckit::Task<Access> access_under(const Caller& caller, const std::string& owner,
                                    const std::string& bucket, const std::string& prefix);
  // The widest access `caller` has to anything in the bucket (a form upload's first check).
  svckit::Task<Access> widest_anywhere(const Caller& caller, const std::string& owner,
                                       const std::string& bucket);
  // The buckets shared with `caller` (a share of any path in them).
  svckit::Task<std::vector<Share>> shared_with(const Caller& caller);

  // Adds the share, or changes the access of the one of the same path and grantee; its id.
  svckit::Task<std::string> add(const Share& share);
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
  // The widest access the owner's, or a share of `bucket` naming `caller` whose path `applies` to
  // `target`, gives.
  svckit::Task<Access> widest(const Caller& caller, const std::string& owner,
                              const std::string& bucket, const std::string& target,
                              bool (*applies)(const std::string&, const std::string&));
  // The shares of `bucket` naming `caller`: (path, access) pairs.
  svckit::Task<std::vector<std::pair<std::string, Access>>> grants(const Caller& caller,
                                                                   const std::string& bucket);
  svckit::sql::Database& db_;
};

// Whether a share of `path` covers `key`: the bucket, a folder `key` lies in, or the key itself.
bool covers(const std::string& path, const std::string& key);
// Whether it covers everything under `prefix`: the bucket, or a folder the prefix lies in.
bool covers_all_under(const std::string& path, const std::string& prefix);

}  // namespace raptorflow::files
