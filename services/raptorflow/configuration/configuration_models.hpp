#pragma once
// What clients of the Configuration service send and get, described once (Boost.Describe):
// their JSON, their checks and their OpenAPI schemas. Flag documents are flagd's format, checked
// by svckit::flags::FlagSet (every problem listed), so they travel as JSON here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <nlohmann/json.hpp>
#include <svckit/model/rules.hpp>

namespace raptorflow::configuration {

// GET /api/v1/flags: the set in force.
struct FlagSetReply {
  std::string environment;
  std::int64_t version = 0;  // 0: nothing stored yet
  std::optional<std::string> updated_at;
  std::optional<std::string> updated_by;
  nlohmann::json document;  // flagd's flag-definition JSON
};
BOOST_DESCRIBE_STRUCT(FlagSetReply, (), (environment, version, updated_at, updated_by, document))

// PUT /api/v1/flags: a whole new set.
struct FlagSetWrite {
  nlohmann::json document;
  std::optional<std::string> message;  // why, for the audit trail
  static void rules(svckit::model::Rules<FlagSetWrite>& r) {
    r.field(&FlagSetWrite::message).length(0, 1000);
  }
};
BOOST_DESCRIBE_STRUCT(FlagSetWrite, (), (document, message))

// PUT /api/v1/flags/{key}: one flag, added or replaced.
struct FlagWrite {
  nlohmann::json definition;  // {state, variants, defaultVariant, targeting?, metadata?}
  std::optional<std::string> message;
  static void rules(svckit::model::Rules<FlagWrite>& r) {
    r.field(&FlagWrite::message).length(0, 1000);
  }
};
BOOST_DESCRIBE_STRUCT(FlagWrite, (), (definition, message))

// One version in the audit trail.
struct VersionSummary {
  std::int64_t version = 0;
  std::string author;
  std::string message;
  std::string created_at;
  std::optional<std::int64_t> restored_from;  // a rollback: the version it put back
  nlohmann::json changes;  // [{flag, change: added|removed|changed, before, after}]
};
BOOST_DESCRIBE_STRUCT(VersionSummary, (),
                      (version, author, message, created_at, restored_from, changes))

struct VersionList {
  std::vector<VersionSummary> versions;
  std::optional<std::int64_t> next_before;  // the next page: ?before=
};
BOOST_DESCRIBE_STRUCT(VersionList, (), (versions, next_before))

struct VersionDetail {
  std::int64_t version = 0;
  std::string author;
  std::string message;
  std::string created_at;
  std::optional<std::int64_t> restored_from;
  nlohmann::json changes;
  nlohmann::json document;
};
BOOST_DESCRIBE_STRUCT(VersionDetail, (),
                      (version, author, message, created_at, restored_from, changes, document))

struct Rollback {
  std::optional<std::string> message;
  static void rules(svckit::model::Rules<Rollback>& r) {
    r.field(&Rollback::message).length(0, 1000);
  }
};
BOOST_DESCRIBE_STRUCT(Rollback, (), (message))

// OFREP (https://github.com/open-feature/protocol): what an evaluation is asked with and answers.
struct EvaluationRequest {
  std::optional<nlohmann::json> context;  // the evaluation context; targetingKey its subject
};
BOOST_DESCRIBE_STRUCT(EvaluationRequest, (), (context))

struct EvaluationSuccess {
  std::string key;
  std::optional<nlohmann::json> value;  // absent: the caller's default (DISABLED, no default)
  std::string reason;                   // STATIC, TARGETING_MATCH, DEFAULT, DISABLED
  std::optional<std::string> variant;
  nlohmann::json metadata;
};
BOOST_DESCRIBE_STRUCT(EvaluationSuccess, (), (key, value, reason, variant, metadata))

struct BulkEvaluation {
  std::vector<nlohmann::json> flags;  // each an EvaluationSuccess or {key, errorCode, errorDetails}
  nlohmann::json metadata;
};
BOOST_DESCRIBE_STRUCT(BulkEvaluation, (), (flags, metadata))

// Secrets: PUT /api/v1/config/secrets/{service}/{name}. The value never comes back but to the
// service it belongs to.
struct SecretWrite {
  std::string value;
  static void rules(svckit::model::Rules<SecretWrite>& r) {
    r.field(&SecretWrite::value).length(1, 65536);
  }
};
BOOST_DESCRIBE_STRUCT(SecretWrite, (), (value))

struct SecretValue {
  std::string service;
  std::string name;
  std::string value;
  std::int64_t version = 0;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(SecretValue, (), (service, name, value, version, updated_at))

struct SecretInfo {
  std::string name;
  std::int64_t version = 0;
  std::string updated_by;
  std::string updated_at;
  std::string key_id;  // the key-encryption key that seals it
};
BOOST_DESCRIBE_STRUCT(SecretInfo, (), (name, version, updated_by, updated_at, key_id))

struct SecretList {
  std::string service;
  std::vector<SecretInfo> secrets;
};
BOOST_DESCRIBE_STRUCT(SecretList, (), (service, secrets))

struct SecretEventInfo {
  std::string name;
  std::string action;  // set, read, removed, resealed
  std::string by;
  std::string at;
};
BOOST_DESCRIBE_STRUCT(SecretEventInfo, (), (name, action, by, at))

struct SecretEvents {
  std::vector<SecretEventInfo> events;
};
BOOST_DESCRIBE_STRUCT(SecretEvents, (), (events))

struct Rotation {
  std::string key_id;           // the current key-encryption key
  std::int64_t resealed = 0;    // data keys sealed again with it
  std::int64_t unreadable = 0;  // secrets whose key is not loaded or that failed to open
};
BOOST_DESCRIBE_STRUCT(Rotation, (), (key_id, resealed, unreadable))

// Settings per service, checked by the service's JSON Schema.
struct SchemaWrite {
  nlohmann::json schema;  // a JSON Schema (draft 7; local $refs)
};
BOOST_DESCRIBE_STRUCT(SchemaWrite, (), (schema))

struct SchemaReply {
  std::string service;
  nlohmann::json schema;
  std::int64_t version = 0;
  std::string updated_by;
  std::string updated_at;
};
BOOST_DESCRIBE_STRUCT(SchemaReply, (), (service, schema, version, updated_by, updated_at))

struct SettingsWrite {
  nlohmann::json settings;  // an object the service's schema accepts
  std::optional<std::string> message;
  static void rules(svckit::model::Rules<SettingsWrite>& r) {
    r.field(&SettingsWrite::message).length(0, 1000);
  }
};
BOOST_DESCRIBE_STRUCT(SettingsWrite, (), (settings, message))

struct SettingsReply {
  std::string environment;
  std::string service;
  std::int64_t version = 0;
  nlohmann::json settings;
  std::string updated_by;
  std::string updated_at;
  std::string message;
};
BOOST_DESCRIBE_STRUCT(SettingsReply, (),
                      (environment, service, version, settings, updated_by, updated_at, message))

struct SettingsHistory {
  std::vector<SettingsReply> versions;
};
BOOST_DESCRIBE_STRUCT(SettingsHistory, (), (versions))

}  // namespace raptorflow::configuration
