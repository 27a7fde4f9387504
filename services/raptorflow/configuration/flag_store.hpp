#pragma once
// The flag set's history in SQL: every change a new version (the whole document, who, when,
// why, and what it changed), never rewritten; the newest is the set in force. Each change adds
// a config.flag.changed event to the outbox in the same transaction, so subscribers hear of
// every version that committed and of nothing that did not.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>

namespace raptorflow::configuration {

struct FlagVersion {
  std::int64_t version = 0;  // 0: nothing stored yet (the empty set)
  nlohmann::json document;
  std::string author, message;
  nlohmann::json changes = nlohmann::json::array();  // [{flag, change, before, after}]
  std::int64_t created_at = 0;                       // ms since 1970
  std::optional<std::int64_t> restored_from;         // a rollback: the version it restored
};

// What one document changes against another, flag by flag.
nlohmann::json diff(const nlohmann::json& before, const nlohmann::json& after);

// Someone else changed the set since the version a writer read (If-Match).
struct StaleVersion {
  std::int64_t current;
};

class FlagStore {
 public:
  FlagStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox, std::string environment);
  void migrate();

  svckit::Task<FlagVersion> current();
  svckit::Task<std::int64_t> current_version();
  svckit::Task<std::optional<FlagVersion>> version(std::int64_t v);
  // Newest first, older than `before` (0: from the newest).
  svckit::Task<std::vector<FlagVersion>> history(std::int64_t before, int limit);

  // Stores `document` (already validated) as the next version. `expected`: the version the
  // writer read; when another came first, throws StaleVersion and stores nothing.
  svckit::Task<FlagVersion> write(nlohmann::json document, std::string author, std::string message,
                                  std::optional<std::int64_t> expected,
                                  std::optional<std::int64_t> restored_from,
                                  const svckit::Context* context);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
  std::string environment_;
};

}  // namespace raptorflow::configuration
