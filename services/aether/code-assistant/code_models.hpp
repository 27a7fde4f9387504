#pragma once
// The Code Assistant's REST bodies (seed 000 §4.2.2), each described once (Boost.Describe): that
// gives their JSON, their checks and their schema in /openapi.json. Code's byte limits and NUL
// bytes are checked by the handlers: the rules count characters.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <svckit/model/rules.hpp>

#include "code_review.hpp"

namespace aether::code_assistant {

template <class T>
void common_rules(svckit::model::Rules<T>& r) {
  r.field(&T::code).length(1, 256 * 1024).describe("source text, no NUL bytes");
  r.field(&T::language).length(0, 32).defaulted();
}

struct ReviewRequest {
  std::string code;
  std::string language = "text";
  std::optional<std::string> context;
  static void rules(svckit::model::Rules<ReviewRequest>& r) {
    common_rules(r);
    r.field(&ReviewRequest::context).length(0, 4096);
  }
};
BOOST_DESCRIBE_STRUCT(ReviewRequest, (), (code, language, context))

struct ReviewAnswer {
  std::vector<Finding> issues;  // code_review.hpp
  std::vector<std::string> suggestions;
  int score = 100;
  std::string language;
  int lines = 0;
};
BOOST_DESCRIBE_STRUCT(ReviewAnswer, (), (issues, suggestions, score, language, lines))

struct RefactorRequest {
  std::string code;  // at most 28 KiB: it goes to a model
  std::string instruction;
  std::string language = "text";
  std::optional<std::string> model;
  static void rules(svckit::model::Rules<RefactorRequest>& r) {
    common_rules(r);
    r.field(&RefactorRequest::instruction).length(1, 4096);
    r.field(&RefactorRequest::model).length(0, 64);
  }
};
BOOST_DESCRIBE_STRUCT(RefactorRequest, (), (code, instruction, language, model))

struct Refactored {
  std::string refactored_code;
  std::vector<std::string> changes;
  std::string explanation;
};
BOOST_DESCRIBE_STRUCT(Refactored, (), (refactored_code, changes, explanation))

struct TestsRequest {
  std::string code;  // at most 28 KiB: it goes to a model
  std::string language = "text";
  std::optional<std::string> framework;  // pytest, gtest, jest, ... (by language when absent)
  std::optional<std::string> model;
  static void rules(svckit::model::Rules<TestsRequest>& r) {
    common_rules(r);
    r.field(&TestsRequest::framework).length(0, 32);
    r.field(&TestsRequest::model).length(0, 64);
  }
};
BOOST_DESCRIBE_STRUCT(TestsRequest, (), (code, language, framework, model))

struct GeneratedTests {
  std::string tests;
  int coverage_estimate = 0;  // percent of the functions the tests name
  std::string framework;
  std::string source;  // model | scaffold
};
BOOST_DESCRIBE_STRUCT(GeneratedTests, (), (tests, coverage_estimate, framework, source))

// POST /test/run: argv, never a shell line; the runner decides what is allowed.
struct RunCommand {
  std::vector<std::string> command;
  std::string cwd = ".";
  std::optional<std::int64_t> timeout_seconds;
  static void rules(svckit::model::Rules<RunCommand>& r) {
    r.field(&RunCommand::command)
        .describe("an array of arguments, [\"pytest\", \"-q\"]: nothing runs a shell");
    r.field(&RunCommand::cwd).length(0, 1024).defaulted();
    r.field(&RunCommand::timeout_seconds).at_least(1);
  }
};
BOOST_DESCRIBE_STRUCT(RunCommand, (), (command, cwd, timeout_seconds))

struct RunOutcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool passed = false;
  bool timed_out = false;
  bool truncated = false;
  std::int64_t duration_ms = 0;
  std::string out;
  std::string err;
  static void rules(svckit::model::Rules<RunOutcome>& r) {
    r.field(&RunOutcome::out).json_name("stdout");
    r.field(&RunOutcome::err).json_name("stderr");
  }
};
BOOST_DESCRIBE_STRUCT(RunOutcome, (),
                      (exit_code, signal, passed, timed_out, truncated, duration_ms, out, err))

}  // namespace aether::code_assistant
