#pragma once
// Execution (seed 004): carrying out a selected option in the external systems, and the events
// between Request Management and Execution (the seed's SQS step).
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/simulation.hpp"

namespace apartment {

// Event types on the bus.
inline constexpr const char* kOptionSelected = "apartment.option.selected";
inline constexpr const char* kExecutionStarted = "apartment.execution.started";
inline constexpr const char* kExecutionSucceeded = "apartment.execution.succeeded";
inline constexpr const char* kExecutionFailed = "apartment.execution.failed";

// What to do: the data of apartment.option.selected, and the body of POST /api/v1/execute.
struct ExecutionOrder {
  std::string execution_id;  // the idempotency key: one execution, however often delivered
  std::string request_id;
  std::string option_id;
  std::string action;  // maintenance | billing | delivery | notify
  std::string category;
  std::string urgency;
  std::string unit;
  std::string resident_id;
  std::string summary;  // what the external system is asked to do
  static void rules(svckit::model::Rules<ExecutionOrder>& r) {
    r.field(&ExecutionOrder::execution_id).length(1, 128);
    r.field(&ExecutionOrder::request_id).length(1, 128);
    r.field(&ExecutionOrder::option_id).one_of(kOptions);
    r.field(&ExecutionOrder::action).one_of(kActions);
    r.field(&ExecutionOrder::category).one_of(kCategories);
    r.field(&ExecutionOrder::urgency).one_of(kUrgencies);
    r.field(&ExecutionOrder::unit).length(1, 32);
    r.field(&ExecutionOrder::resident_id).length(1, 128);
    r.field(&ExecutionOrder::summary).length(0, 4000).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(ExecutionOrder, (),
                      (execution_id, request_id, option_id, action, category, urgency, unit,
                       resident_id, summary))

struct Attempt {
  std::int64_t number = 0;
  std::string at;
  std::string outcome;                 // succeeded | failed
  std::optional<std::int64_t> status;  // the external system's HTTP status
  std::optional<std::string> error;
  double duration_ms = 0;
};
BOOST_DESCRIBE_STRUCT(Attempt, (), (number, at, outcome, status, error, duration_ms))

struct Execution {
  std::string id;
  std::string request_id;
  std::string option_id;
  std::string action;
  std::string status;  // executing | succeeded | failed
  std::string target;  // the external system's URL, or "local" when none is configured
  std::optional<std::string> external_reference;
  std::vector<Attempt> attempts;
  std::optional<std::string> busy_until;  // an attempt is under way (claimed) until then
  std::string created_at;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(Execution, (),
                      (id, request_id, option_id, action, status, target, external_reference,
                       attempts, busy_until, created_at, updated_at))

// The data of the apartment.execution.* events.
struct ExecutionUpdate {
  std::string execution_id;
  std::string request_id;
  std::string status;
  std::int64_t attempts = 0;
  std::optional<std::string> external_reference;
  std::optional<std::string> error;
};
BOOST_DESCRIBE_STRUCT(ExecutionUpdate, (),
                      (execution_id, request_id, status, attempts, external_reference, error))

// POST /api/v1/notify.
struct NotifyRequest {
  std::string recipient;  // a resident id, an email address or a phone number
  std::string channel;    // email | sms | push
  std::string subject;
  std::string message;
  std::optional<std::string> request_id;
  static void rules(svckit::model::Rules<NotifyRequest>& r) {
    r.field(&NotifyRequest::recipient).length(1, 256);
    r.field(&NotifyRequest::channel).one_of({"email", "sms", "push"});
    r.field(&NotifyRequest::subject).length(1, 200);
    r.field(&NotifyRequest::message).length(1, 4000);
    r.field(&NotifyRequest::request_id).length(1, 128);
  }
};
BOOST_DESCRIBE_STRUCT(NotifyRequest, (), (recipient, channel, subject, message, request_id))

struct NotificationSent {
  std::string notification_id;
  std::string status;  // sent
  std::string target;
};
BOOST_DESCRIBE_STRUCT(NotificationSent, (), (notification_id, status, target))

}  // namespace apartment
