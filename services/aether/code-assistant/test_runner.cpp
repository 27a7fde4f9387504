#include "test_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <svckit/error.hpp>

namespace aether::code_assistant {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxArgs = 64;
constexpr std::size_t kMaxArg = 4096;
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

// An argument that names a path: one with a '/', or the value of --flag=value with one.
std::string_view path_part(std::string_view arg) {
  if (arg.starts_with("-")) {
    auto eq = arg.find('=');
    if (eq == std::string_view::npos) return {};
    arg = arg.substr(eq + 1);
  }
  return arg.find('/') != std::string_view::npos || arg == ".." ? arg : std::string_view{};
}

// Reads what the child wrote until both pipes close or `deadline`, keeping `cap` bytes of each.
// Returns false when the deadline passed.
bool collect(int out_fd, int err_fd, Clock::time_point deadline, std::size_t cap,
             RunResult& result) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open = 2;
  char buffer[8192];
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
        continue;
      }
      auto& sink = *sinks[i];
      std::size_t keep =
          std::min<std::size_t>(static_cast<std::size_t>(n), cap - std::min(cap, sink.size()));
      sink.append(buffer, keep);
      if (keep < static_cast<std::size_t>(n)) result.truncated = true;
    }
  }
  return true;
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
      out.emplace(name, found);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

TestRunner::TestRunner(RunnerOptions options) : options_(std::move(options)) {
  fs::create_directories(options_.root);
  real_root_ = fs::canonical(options_.root);
}

CheckedRun TestRunner::check(const RunRequest& request) const {
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
  for (std::size_t i = 1; i < argv.size(); ++i) {
    auto p = path_part(argv[i]);
    if (!p.empty() && !stays_inside(fs::path(std::string(p))))
      throw svckit::Forbidden("command[" + std::to_string(i) +
                              "] names a path outside the workspace");
  }

  fs::path cwd = request.cwd.empty() ? fs::path(".") : fs::path(request.cwd);
  if (request.cwd.find('\0') != std::string::npos || !stays_inside(cwd))
    throw svckit::Forbidden("cwd must be a directory inside the workspace root");
  std::error_code ec;
  auto real = fs::canonical(real_root_ / cwd, ec);
  if (ec || !fs::is_directory(real, ec))
    throw svckit::ValidationError("cwd", "no such directory in the workspace root");
  if (!is_within(real, real_root_))
    throw svckit::Forbidden("cwd leads outside the workspace root (a symbolic link)");

  auto timeout = request.timeout.count() == 0 ? options_.default_timeout : request.timeout;
  if (timeout.count() < 1 || timeout > options_.max_timeout)
    throw svckit::ValidationError(
        "timeout_seconds", "must be from 1 to " + std::to_string(options_.max_timeout.count()));
  return {program->second, argv, real, timeout};
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

  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                  "HOME=" + run.directory.string(), "PYTHONDONTWRITEBYTECODE=1"};
  std::vector<char*> argv, envp;
  for (const auto& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string directory = run.directory.string();
  std::string program = run.program.string();
  rlim_t cpu = static_cast<rlim_t>(run.timeout.count()) + 1;

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error("pipe failed");
  }
  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {  // the child
    ::setsid();    // its own process group: the timeout kills it and what it started
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0)
      ::_exit(126);
    rlimit limit_cpu{cpu, cpu}, no_core{0, 0}, file{64 << 20, 64 << 20};
    ::setrlimit(RLIMIT_CPU, &limit_cpu);
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::setrlimit(RLIMIT_FSIZE, &file);
    if (::chdir(directory.c_str()) != 0) ::_exit(126);
    // Nothing of the service's reaches the command: not every descriptor is close-on-exec (an
    // Asio socket, the listener itself, need not be).
    if (::close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  RunResult result;
  bool finished = collect(out[0], err[0], started + run.timeout, options_.max_output, result);
  if (!finished) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid, SIGKILL);  // whatever it left running in its group goes with it
  ::close(out[0]);
  ::close(err[0]);
  result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace aether::code_assistant
