#pragma once
// The Code Assistant's POST /test/run (seed 000 §4.2.2): runs an operator's allow-listed test
// command in the caller's workspace, CODE_TEST_ROOT/<user>. This is remote code execution by
// design, so the command runs in a sandbox (sandbox.hpp) and, before that:
//   - argv only, never a shell: no string is ever parsed as a command line;
//   - argv[0] must be a name the operator listed (CODE_TEST_COMMANDS), resolved on PATH at
//     start-up; anything else, or any path as argv[0], is 403;
//   - shell metacharacters, globs, newlines and NUL in arguments are refused (422): they would
//     mean nothing without a shell, and a caller sending them is trying something;
//   - the working directory and every path in an argument (the argument itself, the value of
//     `--opt=` or `key=`, what follows a short option such as `-d/`) resolve, symlinks followed,
//     inside the caller's workspace: absolute paths, `..` leading out and links out are 403;
//   - at most CODE_TEST_MAX_CONCURRENT runs at once (429 beyond); none at all when the sandbox
//     cannot be set up on this host (503 naming why).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sandbox.hpp"

namespace aether::code_assistant {

struct RunnerOptions {
  std::filesystem::path root;                             // workspaces live under it
  std::map<std::string, std::filesystem::path> commands;  // allowed name -> program
  std::chrono::seconds default_timeout{60};
  std::chrono::seconds max_timeout{600};
  std::size_t max_output = 64 * 1024;  // per stream
  int max_concurrent = 2;
  SandboxOptions sandbox;
};

// Parses CODE_TEST_COMMANDS ("pytest,python3,ctest"): each name found on `path` (a PATH value).
// Throws std::invalid_argument for a name that is not a plain word, is not found, or is not
// under /usr (the only programs a sandbox has).
std::map<std::string, std::filesystem::path> allowed_commands(const std::string& names,
                                                              const std::string& path);

// The directory under the root that is `user`'s workspace: their id when it is a plain name,
// else "u-" and a hash of it (ids are the token's subject, which may hold anything).
std::string workspace_name(const std::string& user);

struct RunRequest {
  std::string user;  // whose workspace
  std::vector<std::string> argv;
  std::string cwd = ".";            // relative to the workspace
  std::chrono::seconds timeout{0};  // 0: the default
};

// A request that passed every check, ready to run.
struct CheckedRun {
  std::filesystem::path program;
  std::vector<std::string> argv;
  std::filesystem::path workspace;  // absolute and real
  std::filesystem::path directory;  // relative to the workspace
  std::chrono::seconds timeout;
};

class TestRunner {
 public:
  explicit TestRunner(RunnerOptions options);

  // Throws svckit::Forbidden (403) for what is not allowed, svckit::ValidationError (422) for
  // what is malformed, svckit::Unavailable (503) when no run can be sandboxed here; the
  // message says which rule. Makes the caller's workspace when they have none yet.
  CheckedRun check(const RunRequest& request) const;
  // Blocks until the command ended or was killed: call it on the blocking pool. Throws
  // svckit::TooManyRequests when CODE_TEST_MAX_CONCURRENT runs are going on.
  RunResult run(const CheckedRun& run);

  const RunnerOptions& options() const { return options_; }
  // Why test runs are off on this host (empty: they are not).
  const std::string& unavailable() const { return sandbox_.unavailable(); }

 private:
  std::filesystem::path workspace_of(const std::string& user) const;

  RunnerOptions options_;
  std::filesystem::path real_root_;
  Sandbox sandbox_;
  std::atomic<int> running_{0};
};

}  // namespace aether::code_assistant
