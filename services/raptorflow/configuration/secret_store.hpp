#pragma once
// Secrets at rest: sealed bytes per service and name (secret_box.hpp), the key-encryption key's
// id beside them, and an audit trail of who set, read, removed or re-sealed what and when. Never
// a value, in a row or in the trail.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <svckit/sql/database.hpp>

#include <sealing/secret_box.hpp>

namespace raptorflow::configuration {

using sealing::Sealed;
using sealing::SealError;
using sealing::SecretBox;

struct StoredSecret {
  std::string service, name;
  Sealed sealed;
  std::int64_t version = 0;
  std::string updated_by;
  std::int64_t updated_at = 0;  // ms since 1970
};

struct SecretEvent {
  std::string service, name, action, by;  // action: set, read, removed, resealed
  std::int64_t at = 0;
};

class SecretStore {
 public:
  explicit SecretStore(svckit::sql::Database& db) : db_(db) {}
  void migrate();

  // Stores `sealed` as the next version of service/name; returns it.
  svckit::Task<std::int64_t> put(std::string service, std::string name, Sealed sealed,
                                 std::string by);
  svckit::Task<std::optional<StoredSecret>> get(std::string service, std::string name);
  svckit::Task<std::vector<StoredSecret>> list(std::string service);  // sealed bytes left empty
  svckit::Task<bool> remove(std::string service, std::string name, std::string by);
  // Every secret a KEK other than `current` sealed: what rotation re-seals.
  svckit::Task<std::vector<StoredSecret>> sealed_by_other_than(std::string current);
  // Replaces a secret's sealed data key, unless the secret changed since it was read.
  svckit::Task<bool> reseal(const StoredSecret& before, Sealed after, std::string by);
  svckit::Task<void> record(std::string service, std::string name, std::string action,
                            std::string by);
  svckit::Task<std::vector<SecretEvent>> events(std::string service, int limit);

 private:
  svckit::sql::Database& db_;
};

}  // namespace raptorflow::configuration
