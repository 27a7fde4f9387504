#pragma once
// The Code Assistant's POST /test/run (seed 000 §4.2.2): runs an operator's allow-listed test
// command in a workspace under CODE_TEST_ROOT. This is remote code execution by design, so:
//   - argv only, never a shell: no string is ever parsed as a command line;
//   - argv[0] must be a name the operator listed (CODE_TEST_COMMANDS), resolved on PATH at
//     start-up; anything else, or any path as argv[0], is 403;
//   - shell metacharacters, globs, newlines and NUL in arguments are refused (422): they would
//     mean nothing without a shell, and a caller sending them is trying something;
//   - the working directory and every path-like argument stay inside the root: absolute paths,
//     `..` segments and symlinks leading out are 403;
//   - the child gets a scrubbed environment (PATH, HOME, LANG: none of the service's secrets),
//     stdin from /dev/null, its own process group (killed whole at the timeout), CPU-time, file-
//     size and core limits, and its output is capped;
//   - at most CODE_TEST_MAX_CONCURRENT runs at once (429 beyond).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace aether::code_assistant {

struct RunnerOptions {
  std::filesystem::path root;                             // workspaces live under it
  std::map<std::string, std::filesystem::path> commands;  // allowed name -> program
  std::chrono::seconds default_timeout{60};
  std::chrono::seconds max_timeout{600};
  std::size_t max_output = 64 * 1024;  // per stream
  int max_concurrent = 2;
};

// Parses CODE_TEST_COMMANDS ("pytest,python3,ctest"): each name found on `path` (a PATH value).
// Throws std::invalid_argument for a name that is not a plain word or is not found.
std::map<std::string, std::filesystem::path> allowed_commands(const std::string& names,
                                                              const std::string& path);

struct RunRequest {
  std::vector<std::string> argv;
  std::string cwd = ".";            // relative to the root
  std::chrono::seconds timeout{0};  // 0: the default
};

// A request that passed every check, ready to run.
struct CheckedRun {
  std::filesystem::path program;
  std::vector<std::string> argv;
  std::filesystem::path directory;  // absolute, inside the root
  std::chrono::seconds timeout;
};

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  bool truncated = false;  // stdout or stderr was longer than the cap
  double duration_ms = 0;
  std::string out;
  std::string err;
};

class TestRunner {
 public:
  explicit TestRunner(RunnerOptions options);

  // Throws svckit::Forbidden (403) for what is not allowed, svckit::ValidationError (422) for
  // what is malformed; the message says which rule.
  CheckedRun check(const RunRequest& request) const;
  // Blocks until the command ended or was killed: call it on the blocking pool. Throws
  // svckit::TooManyRequests when CODE_TEST_MAX_CONCURRENT runs are going on.
  RunResult run(const CheckedRun& run);

  const RunnerOptions& options() const { return options_; }

 private:
  RunnerOptions options_;
  std::filesystem::path real_root_;
  std::atomic<int> running_{0};
};

}  // namespace aether::code_assistant
