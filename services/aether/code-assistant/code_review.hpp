#pragma once
// The Code Assistant's static review (seed 000 §4.2.2 POST /review): checks that read the code
// itself, line by line and block by block, with no model involved, so a review is instant,
// deterministic and works offline.
//   every language  line length, trailing whitespace, tabs mixed with spaces, TODO/FIXME/XXX/HACK,
//                   very long functions, deep nesting
//   python          bare except, mutable default arguments, wildcard imports, eval/exec,
//                   comparisons with None by ==
//   cpp             using namespace in headers (or at all), raw new/delete, NULL, unsafe C string
//                   functions, C-style casts
//   javascript      var, == and != (not ===), eval
// Score: 100 minus 10 per error, 3 per warning, 1 per info, at least 0.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <svckit/model/rules.hpp>

namespace aether::code_assistant {

struct Finding {
  std::string severity;  // error | warning | info
  int line = 0;          // 1-based
  std::string rule;      // "line-length", "bare-except", ...
  std::string message;
};
BOOST_DESCRIBE_STRUCT(Finding, (), (severity, line, rule, message))

struct Review {
  std::vector<Finding> issues;           // by line
  std::vector<std::string> suggestions;  // one per rule that fired, most severe first
  int score = 100;
  std::string language;  // as understood: python, cpp, javascript, or the name given
  int lines = 0;
  std::vector<std::string> functions;  // names of the functions found (test generation uses them)
};

// "Python", "py", "c++", "cpp", "cc", "js", ... to python / cpp / javascript; others lower-cased.
std::string normalize_language(std::string_view language);

// At most kMaxFindings findings are kept (a file of 10,000 long lines says so once per rule).
Review review(std::string_view code, std::string_view language);
inline constexpr std::size_t kMaxFindings = 500;

}  // namespace aether::code_assistant
