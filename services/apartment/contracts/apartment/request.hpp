#pragma once
// A resident's service request as Request Management keeps and returns it (seed 004: the
// request domain it owns), and what clients send to create and change one.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/classification.hpp"
#include "apartment/decision.hpp"
#include "apartment/risk.hpp"
#include "apartment/simulation.hpp"

namespace apartment {

// submitted → [pending: a step could not run yet] → classified → options_ready →
// option_selected → executing → resolved | failed.
inline constexpr std::array<std::string_view, 8> kStatuses = {
    "submitted",       "pending",   "classified", "options_ready",
    "option_selected", "executing", "resolved",   "failed"};

struct StatusChange {
  std::string status;
  std::string at;
  std::optional<std::string> reason;
  std::optional<std::string> by;  // who changed it: a user id, or the service that did
};
BOOST_DESCRIBE_STRUCT(StatusChange, (), (status, at, reason, by))

struct ExecutionSummary {
  std::string execution_id;
  std::string status;  // executing | succeeded | failed
  std::int64_t attempts = 0;
  std::optional<std::string> external_reference;
  std::optional<std::string> error;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(ExecutionSummary, (),
                      (execution_id, status, attempts, external_reference, error, updated_at))

struct ServiceRequest {
  std::string id;
  std::string resident_id;
  std::string unit;
  std::string message;
  std::string status;
  std::optional<std::string> pending_reason;  // why a step could not run yet
  std::optional<std::string> retry_at;        // when the next try of the steps is due
  std::int64_t attempts = 0;                  // tries of the steps so far
  std::optional<Classification> classification;
  std::optional<RiskAssessment> risk;
  std::vector<ResolutionOption> options;
  std::optional<Decision> decision;
  std::optional<std::string> selected_option;
  std::optional<ExecutionSummary> execution;
  std::optional<std::string> resolution;
  std::vector<StatusChange> history;
  std::string created_at;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(ServiceRequest, (),
                      (id, resident_id, unit, message, status, pending_reason, retry_at, attempts,
                       classification, risk, options, decision, selected_option, execution,
                       resolution, history, created_at, updated_at))

// POST /api/v1/requests. A resident submits for themself (their unit is their token's); staff
// and admins may submit for a resident, naming them and their unit.
struct NewRequest {
  std::string message;
  std::optional<std::string> resident_id;
  std::optional<std::string> unit;
  static void rules(svckit::model::Rules<NewRequest>& r) {
    r.field(&NewRequest::message).length(1, kMaxMessage);
    r.field(&NewRequest::resident_id).length(1, 128);
    r.field(&NewRequest::unit).length(1, 32);
  }
};
BOOST_DESCRIBE_STRUCT(NewRequest, (), (message, resident_id, unit))

// PUT /api/v1/requests/{id} (staff, admins).
struct StatusUpdate {
  std::string status;
  std::optional<std::string> reason;
  static void rules(svckit::model::Rules<StatusUpdate>& r) {
    r.field(&StatusUpdate::status).one_of(kStatuses);
    r.field(&StatusUpdate::reason).length(1, 1000);
  }
};
BOOST_DESCRIBE_STRUCT(StatusUpdate, (), (status, reason))

// POST /api/v1/requests/{id}/select-option.
struct OptionChoice {
  std::string option_id;
  static void rules(svckit::model::Rules<OptionChoice>& r) {
    r.field(&OptionChoice::option_id).one_of(kOptions);
  }
};
BOOST_DESCRIBE_STRUCT(OptionChoice, (), (option_id))

// POST /api/v1/requests/{id}/resolve (staff, admins).
struct Resolution {
  std::string note;
  static void rules(svckit::model::Rules<Resolution>& r) {
    r.field(&Resolution::note).length(1, 2000);
  }
};
BOOST_DESCRIBE_STRUCT(Resolution, (), (note))

struct RequestList {
  std::vector<ServiceRequest> requests;
  std::int64_t total = 0;
  std::int64_t page = 1;
  std::int64_t limit = 20;
};
BOOST_DESCRIBE_STRUCT(RequestList, (), (requests, total, page, limit))

}  // namespace apartment
