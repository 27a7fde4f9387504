#include "test_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include <svckit/auth/api_key.hpp>
#include <svckit/error.hpp>

namespace aether::code_assistant {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxArgs = 64;
constexpr std::size_t kMaxArg = 4096;
// Readings of one argument resolved on the file system: a bound keeps a hostile argument
// from costing seconds.
constexpr std::size_t kMaxPathsPerArg = 16;
// What a shell would interpret; without one they are literal, and a caller sending them is
// trying something.
constexpr std::string_view kShellCharacters = ";|&$`<>(){}*?[]~!\\\"'\n\r";

bool plain_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(),
                     [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                              c == '.';
                     }) &&
         name != "." && name != "..";
}

// Whether `relative` (lexically) stays inside its base: no absolute path, no `..` escaping.
bool stays_inside(const fs::path& relative) {
  if (relative.is_absolute() || relative.has_root_name()) return false;
  int depth = 0;
  for (const auto& part : relative) {
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return true;
}

bool is_within(const fs::path& path, const fs::path& root) {
  auto p = path.lexically_normal();
  auto r = root.lexically_normal();
  auto mismatch = std::mismatch(r.begin(), r.end(), p.begin(), p.end());
  return mismatch.first == r.end();
}

// The parts of an argument a program may take as a path: the argument itself, what follows any
// '=' (`--rootdir=x`, `key=x`, `--opt=k=x`), and what is glued to a cluster of short options,
// wherever the cluster ends (`-d/`, `-c/x`, `-vc/x`). Only those that can name a path outside:
// with a '/' or "..".
std::vector<std::string_view> path_candidates(std::string_view arg) {
  std::vector<std::string_view> out;
  auto consider = [&out](std::string_view part) {
    if (part.find('/') != std::string_view::npos || part == "..") out.push_back(part);
  };
  consider(arg);
  for (auto eq = arg.find('='); eq != std::string_view::npos; eq = arg.find('=', eq + 1))
    consider(arg.substr(eq + 1));
  if (arg.size() > 2 && arg[0] == '-' && arg[1] != '-')
    for (std::size_t glued = 2;
         glued < arg.size() && std::isalnum(static_cast<unsigned char>(arg[glued - 1])); ++glued)
      consider(arg.substr(glued));
  return out;
}

// Where `relative` leads from `base` (inside `workspace`), links followed; nothing when that is
// outside the workspace or through a link that leads nowhere. The dangling link is refused like
// the link out: otherwise the answer would tell whether its target exists on the host.
std::optional<fs::path> inside(const fs::path& workspace, const fs::path& base,
                               const fs::path& relative) {
  if (relative.is_absolute() || relative.has_root_name()) return std::nullopt;
  std::error_code ec;
  auto resolved = fs::weakly_canonical(base / relative, ec);
  if (ec || !is_within(resolved, workspace)) return std::nullopt;
  fs::path prefix = base;
  for (const auto& part : relative) {
    prefix /= part;
    auto status = fs::symlink_status(prefix, ec);
    if (ec || !fs::exists(status)) break;
    if (fs::is_symlink(status) && !fs::exists(prefix, ec)) return std::nullopt;
  }
  return resolved;
}

}  // namespace

std::map<std::string, fs::path> allowed_commands(const std::string& names,
                                                 const std::string& path) {
  std::map<std::string, fs::path> out;
  std::size_t start = 0;
  while (start <= names.size()) {
    auto comma = names.find(',', start);
    auto name = names.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) {
      if (!plain_name(name))
        throw std::invalid_argument("'" + name + "' is not a command name (a word, no path)");
      fs::path found;
      std::size_t dir_start = 0;
      while (found.empty() && dir_start <= path.size()) {
        auto colon = path.find(':', dir_start);
        fs::path dir = path.substr(
            dir_start, colon == std::string::npos ? std::string::npos : colon - dir_start);
        if (!dir.empty() && dir.is_absolute() && ::access((dir / name).c_str(), X_OK) == 0)
          found = dir / name;
        if (colon == std::string::npos) break;
        dir_start = colon + 1;
      }
      if (found.empty()) throw std::invalid_argument("'" + name + "' is not found on PATH");
      std::error_code ec;
      auto real = fs::canonical(found, ec);
      if (ec || !is_within(real, "/usr"))
        throw std::invalid_argument("'" + name + "' is " + (ec ? found : real).string() +
                                    ", outside /usr: a test run's sandbox has only /usr");
      out.emplace(name, found);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string workspace_name(const std::string& user) {
  if (plain_name(user) && user.front() != '.' && !user.starts_with("u-")) return user;
  return "u-" + svckit::auth::sha256_hex({user}).substr(0, 32);
}

static fs::path real_directory(const fs::path& path) {
  fs::create_directories(path);
  return fs::canonical(path);
}

TestRunner::TestRunner(RunnerOptions options)
    : options_(std::move(options)),
      real_root_(real_directory(options_.root)),
      sandbox_(options_.sandbox, real_root_) {}

fs::path TestRunner::workspace_of(const std::string& user) const {
  if (user.empty()) throw svckit::Forbidden("a test run needs an authenticated user");
  auto dir = real_root_ / workspace_name(user);
  std::error_code ec;
  if (fs::create_directory(dir, ec) && ::geteuid() == 0) {
    // The run's uid writes in it (pytest's cache, a test's files); nothing else of the host's.
    if (::chown(dir.c_str(), options_.sandbox.uid, options_.sandbox.gid) != 0)
      throw std::runtime_error("cannot hand the workspace to the sandbox's uid");
  }
  auto real = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(real, ec) || !is_within(real, real_root_))
    throw svckit::Forbidden("the workspace is not a directory inside the workspace root");
  return real;
}

CheckedRun TestRunner::check(const RunRequest& request) const {
  if (!sandbox_.unavailable().empty())
    throw svckit::ServiceUnavailable(
        "test runs are off on this host: the sandbox cannot be set up: " + sandbox_.unavailable(),
        3600);
  const auto& argv = request.argv;
  if (argv.empty()) throw svckit::ValidationError("command", "must name a command");
  if (argv.size() > kMaxArgs)
    throw svckit::ValidationError("command",
                                  "more than " + std::to_string(kMaxArgs) + " arguments");
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& a = argv[i];
    auto field = "command[" + std::to_string(i) + "]";
    if (a.size() > kMaxArg)
      throw svckit::ValidationError(field, "longer than " + std::to_string(kMaxArg) + " bytes");
    if (a.find('\0') != std::string::npos)
      throw svckit::ValidationError(field, "contains a NUL byte");
    if (a.find_first_of(kShellCharacters) != std::string::npos)
      throw svckit::ValidationError(
          field, "shell metacharacters are not accepted: the command runs without a shell");
  }
  auto program = options_.commands.find(argv[0]);
  if (program == options_.commands.end()) {
    std::string allowed;
    for (const auto& [name, path] : options_.commands)
      allowed += (allowed.empty() ? "" : ", ") + name;
    throw svckit::Forbidden("'" + argv[0].substr(0, 64) + "' is not an allowed command" +
                            (allowed.empty() ? std::string(" (no command is: CODE_TEST_COMMANDS)")
                                             : " (allowed: " + allowed + ")"));
  }

  fs::path cwd = request.cwd.empty() ? fs::path(".") : fs::path(request.cwd);
  if (request.cwd.find('\0') != std::string::npos || !stays_inside(cwd))
    throw svckit::Forbidden("cwd must be a directory inside your workspace");
  auto workspace = workspace_of(request.user);
  // Inside first, then there: the other order would tell which directories exist outside.
  auto leads_to = inside(workspace, workspace, cwd);
  if (!leads_to) throw svckit::Forbidden("cwd leads outside your workspace (a symbolic link)");
  auto real = *leads_to;
  std::error_code ec;
  if (!fs::is_directory(real, ec))
    throw svckit::ValidationError("cwd", "no such directory in your workspace");

  // Every path an argument may name, resolved as the program would from `real`, symbolic links
  // followed: it must stay in the workspace. The sandbox holds either way; this says why early.
  for (std::size_t i = 1; i < argv.size(); ++i) {
    auto field = "command[" + std::to_string(i) + "]";
    std::size_t on_disk = 0;
    for (auto candidate : path_candidates(argv[i])) {
      fs::path p{std::string(candidate)};
      // Lexically first, which costs no system call; then, when its first part exists (only
      // then can it pass a link), on the file system, a bounded number of times.
      if (p.is_absolute() || !is_within((real / p).lexically_normal(), workspace))
        throw svckit::Forbidden(field + " names a path outside your workspace");
      std::error_code ec;
      if (!fs::exists(fs::symlink_status(real / *p.begin(), ec))) continue;
      if (++on_disk > kMaxPathsPerArg)
        throw svckit::ValidationError(field, "more than " + std::to_string(kMaxPathsPerArg) +
                                                 " ways to read a path in it ('=' or option "
                                                 "letters)");
      if (!inside(workspace, real, p))
        throw svckit::Forbidden(field + " names a path outside your workspace");
    }
  }

  auto timeout = request.timeout.count() == 0 ? options_.default_timeout : request.timeout;
  if (timeout.count() < 1 || timeout > options_.max_timeout)
    throw svckit::ValidationError(
        "timeout_seconds", "must be from 1 to " + std::to_string(options_.max_timeout.count()));
  return {program->second, argv, workspace, real.lexically_relative(workspace), timeout};
}

RunResult TestRunner::run(const CheckedRun& run) {
  if (running_.fetch_add(1) >= options_.max_concurrent) {
    --running_;
    throw svckit::TooManyRequests(
        "already " + std::to_string(options_.max_concurrent) + " test runs going on", 1);
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { --n; }
  } release{running_};
  return sandbox_.run({.program = run.program,
                       .argv = run.argv,
                       .workspace = run.workspace,
                       .directory = run.directory,
                       .timeout = run.timeout,
                       .max_output = options_.max_output});
}

}  // namespace aether::code_assistant
