#pragma once
// Requests in SQL: a row per request with the columns lists filter on, and the whole request as
// a JSON document (the seed's DynamoDB item). Every change is a read-modify-write in one
// serializable transaction, committed with the events it announces (the outbox), so concurrent
// changes — a resident selecting, an execution event, the background retry — never lose one.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/context.hpp>
#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "apartment/request.hpp"

namespace apartment::requests {

struct RequestFilter {
  std::optional<std::string> status, category, urgency, unit, resident_id;
  std::int64_t page = 1;
  std::int64_t limit = 20;
};

// An event a change publishes when it commits.
struct Outgoing {
  std::string type;
  nlohmann::json data;
};

class RequestStore {
 public:
  RequestStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox)
      : db_(db), outbox_(outbox) {}
  void migrate();

  svckit::Task<void> insert(ServiceRequest request);
  svckit::Task<std::optional<ServiceRequest>> find(std::string id);
  svckit::Task<RequestList> list(RequestFilter filter);

  // Applies `change` to the stored request and writes it with the events `change` returns;
  // nullopt when there is no such request. `change` may throw (svckit::Conflict, ...) to leave
  // it as it was; it may run more than once (a serialization conflict runs it again).
  using Change = std::function<std::vector<Outgoing>(ServiceRequest&)>;
  svckit::Task<std::optional<ServiceRequest>> update(std::string id, Change change,
                                                     const svckit::Context* context);

  // Requests whose steps are due (retry_at at or before `now`), oldest first.
  svckit::Task<std::vector<std::string>> due(std::string now, std::int64_t limit);
  // Pushes the request's retry_at from `seen` to `until` if nobody moved it meanwhile: a replica
  // that claims a due request this way is the only one to run its steps now.
  svckit::Task<bool> claim(std::string id, std::string seen, std::string until);

  // The resident's requests since `since`, and the unit's unresolved ones, `except` one.
  svckit::Task<std::int64_t> count_since(std::string resident_id, std::string since,
                                         std::string except);
  svckit::Task<std::int64_t> count_open(std::string unit, std::string except);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
};

}  // namespace apartment::requests
