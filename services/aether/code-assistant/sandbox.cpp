#include "sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace aether::code_assistant {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What a test never needs and an escape usually does. Everything else is allowed: test
// suites run compilers, interpreters and subprocesses, and a list of what they need is longer
// and more brittle than this one.
constexpr std::array kDenied = {
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "open_by_handle_at",
    "name_to_handle_at",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "lookup_dcookie",
    "vhangup",
};

struct SeccompContext {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  ~SeccompContext() { seccomp_release(ctx); }
};

void add_rule(scmp_filter_ctx ctx, int syscall, unsigned count = 0, scmp_arg_cmp condition = {}) {
  int rc = count == 0 ? seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), syscall, 0)
                      : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), syscall, 1, condition);
  if (rc != 0) throw std::runtime_error("seccomp rule: " + std::string(std::strerror(-rc)));
}

// The filter as bwrap --seccomp reads it: a compiled BPF program.
std::string seccomp_program() {
  SeccompContext filter;
  if (!filter.ctx) throw std::runtime_error("seccomp_init failed");
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr != __NR_SCMP_ERROR) add_rule(filter.ctx, nr);
  }
  // New namespaces through clone: one rule per flag (a masked compare tests one value).
  for (unsigned long flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                             CLONE_NEWNET, CLONE_NEWCGROUP})
    add_rule(filter.ctx, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
  if (int rc = seccomp_rule_add(filter.ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc != 0)
    throw std::runtime_error("seccomp rule: " + std::string(std::strerror(-rc)));
  // The network namespace does not cover vsock: it reaches the hypervisor and its other guests.
  // The family is an int: the kernel reads the low 32 bits, so the rule compares only those
  // (a plain compare takes all 64, and a family with high bits set would pass it).
  add_rule(filter.ctx, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, AF_VSOCK));
  add_rule(filter.ctx, SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, AF_VSOCK));
  // Typing into a terminal the run shares (the session is its own too: bwrap --new-session).
  add_rule(filter.ctx, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, TIOCSTI));
  int fd = ::memfd_create("svckit-seccomp", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("memfd_create failed");
  std::string program;
  if (seccomp_export_bpf(filter.ctx, fd) == 0 && ::lseek(fd, 0, SEEK_SET) == 0) {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) program.append(buffer, n);
  }
  ::close(fd);
  if (program.empty()) throw std::runtime_error("seccomp_export_bpf failed");
  return program;
}

// bwrap arguments for the read-only system: /usr, the top-level links into it (merged /usr) or
// the directories themselves, and the /etc files programs read as they start.
std::vector<std::string> system_mounts() {
  std::vector<std::string> args = {"--ro-bind", "/usr", "/usr"};
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    auto status = fs::symlink_status(top, ec);
    if (ec || !fs::exists(status)) continue;
    if (fs::is_symlink(status)) {
      args.insert(args.end(), {"--symlink", fs::read_symlink(top, ec).string(), top});
    } else {
      args.insert(args.end(), {"--ro-bind", top, top});
    }
  }
  for (const char* etc : {"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
                          "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
                          "/etc/nsswitch.conf", "/etc/python3", "/etc/python3.11"})
    args.insert(args.end(), {"--ro-bind-try", etc, etc});
  return args;
}

// Per-run pids and memory cgroups, when the host lets this process make them (root, and a
// writable hierarchy): the limits then hold for the run as a whole, not per process.
class RunCgroups {
 public:
  RunCgroups(const SandboxOptions& options) {
    static std::atomic<unsigned> counter{0};
    auto name = "run-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {  // v2
      fs::path base = "/sys/fs/cgroup/svckit-code-runs";
      if (make(base) && write(base / "cgroup.subtree_control", "+pids +memory") &&
          make(base / name)) {
        write(base / name / "pids.max", std::to_string(options.max_processes));
        write(base / name / "memory.max", std::to_string(options.memory_bytes));
        write(base / name / "memory.swap.max", "0");
      }
    } else {  // v1: a hierarchy per controller
      fs::path pids = "/sys/fs/cgroup/pids/svckit-code-runs";
      fs::path memory = "/sys/fs/cgroup/memory/svckit-code-runs";
      if (make(pids) && make(pids / name))
        write(pids / name / "pids.max", std::to_string(options.max_processes));
      if (make(memory) && make(memory / name)) {
        write(memory / name / "memory.limit_in_bytes", std::to_string(options.memory_bytes));
        write(memory / name / "memory.memsw.limit_in_bytes", std::to_string(options.memory_bytes));
      }
    }
    for (const auto& dir : dirs_) procs_.push_back((dir / "cgroup.procs").string());
  }
  RunCgroups(const RunCgroups&) = delete;
  RunCgroups& operator=(const RunCgroups&) = delete;

  // cgroup.procs files the child writes "0" into (itself) before it starts bwrap.
  const std::vector<std::string>& procs() const { return procs_; }

  // Whatever is left in them, killed; then the groups removed (they empty asynchronously).
  ~RunCgroups() {
    for (const auto& dir : dirs_) {
      for (int attempt = 0; attempt < 100; ++attempt) {
        kill_members(dir);
        std::error_code ec;
        if (fs::remove(dir, ec) || !fs::exists(dir)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

 private:
  bool make(const fs::path& dir) {
    std::error_code ec;
    fs::create_directory(dir, ec);
    if (ec || !fs::is_directory(dir)) return false;
    if (dir.filename().string().starts_with("run-")) dirs_.push_back(dir);
    return true;
  }
  static bool write(const fs::path& file, const std::string& value) {
    std::ofstream out(file);
    out << value;
    out.flush();
    return static_cast<bool>(out);
  }
  static void kill_members(const fs::path& dir) {
    std::ifstream in(dir / "cgroup.procs");
    for (pid_t pid; in >> pid;) ::kill(pid, SIGKILL);
  }

  std::vector<fs::path> dirs_;
  std::vector<std::string> procs_;
};

// Reads what the sandbox writes until it has exited and both pipes are closed, or `deadline`,
// keeping `cap` bytes of each stream. Returns false when the deadline passed first.
bool collect(int out_fd, int err_fd, int process_fd, Clock::time_point deadline, std::size_t cap,
             RunResult& result) {
  pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {process_fd, POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  char buffer[8192];
  while (fds[0].fd >= 0 || fds[1].fd >= 0 || fds[2].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    int ready = ::poll(fds, 3, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return false;
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) fds[2].fd = -1;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        fds[i].fd = -1;
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

// Waits for a process already sent SIGKILL, at most `bound`; past that a thread reaps it, so
// no zombie is left and no caller waits on a process the kernel is slow to take down.
int reap(pid_t pid, int process_fd, std::chrono::milliseconds bound) {
  pollfd fd{process_fd, POLLIN, 0};
  ::poll(&fd, 1, static_cast<int>(bound.count()));
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return status;
  std::thread([pid] {
    int ignored;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
  }).detach();
  return W_EXITCODE(0, SIGKILL);
}

void set_limit(int resource, rlim_t value) {
  rlimit limit{value, value};
  ::setrlimit(resource, &limit);
}

}  // namespace

Sandbox::Sandbox(SandboxOptions options, const fs::path& workspaces)
    : options_(std::move(options)) {
  if (::access(options_.bwrap.c_str(), X_OK) != 0) {
    unavailable_ = "bubblewrap is not installed (" + options_.bwrap.string() + " not found)";
    return;
  }
  try {
    filter_ = seccomp_program();
  } catch (const std::exception& e) {
    unavailable_ = std::string("no seccomp filter: ") + e.what();
    return;
  }
  system_ = system_mounts();
  // One trial run where the workspaces are: user namespaces may be off, the run's uid may not
  // reach the directory (bwrap mounts a workspace by its path, as that uid).
  auto scratch = workspaces / (".probe-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(scratch, ec);
  if (::geteuid() == 0 && ::chown(scratch.c_str(), options_.uid, options_.gid) != 0) ec.clear();
  try {
    auto trial = run({.program = "/usr/bin/true",
                      .argv = {"true"},
                      .workspace = scratch,
                      .timeout = std::chrono::seconds(10)});
    if (trial.exit_code != 0)
      unavailable_ =
          "bwrap failed: " + (trial.err.empty() ? "exit " + std::to_string(trial.exit_code)
                                                : trial.err.substr(0, 300));
    while (!unavailable_.empty() && (unavailable_.back() == '\n')) unavailable_.pop_back();
  } catch (const std::exception& e) {
    unavailable_ = e.what();
  }
  fs::remove_all(scratch, ec);
}

RunResult Sandbox::run(const SandboxedCommand& command) const {
  if (filter_.empty()) throw std::runtime_error("the sandbox is unavailable: " + unavailable_);
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  auto directory = (fs::path("/workspace") / command.directory).lexically_normal().string();
  std::vector<std::string> args = {options_.bwrap.string(),
                                   "--unshare-user",
                                   "--unshare-pid",
                                   "--unshare-net",
                                   "--unshare-ipc",
                                   "--unshare-uts",
                                   "--unshare-cgroup-try",
                                   "--die-with-parent",
                                   "--new-session",
                                   "--hostname",
                                   "sandbox"};
  args.insert(args.end(), system_.begin(), system_.end());
  args.insert(args.end(),
              {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(options_.tmp_bytes),
               "--tmpfs", "/tmp", "--bind-fd", "4", "/workspace", "--remount-ro", "/", "--chdir",
               directory, "--seccomp", "3", command.program.string()});
  args.insert(args.end(), command.argv.begin() + (command.argv.empty() ? 0 : 1),
              command.argv.end());
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/workspace",
                                  "PYTHONDONTWRITEBYTECODE=1"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  bool as_root = ::geteuid() == 0;
  RunCgroups cgroups(options_);
  rlim_t cpu = static_cast<rlim_t>(command.timeout.count()) + 1;

  // The workspace goes to bwrap open, not by name: the unprivileged uid need not reach it
  // through the root's directories, and a link swapped in after the checks changes nothing.
  int workspace = ::open(command.workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (workspace < 0) throw std::runtime_error("cannot open the workspace");
  int filter = ::memfd_create("svckit-seccomp", MFD_CLOEXEC);
  if (filter < 0 ||
      ::write(filter, filter_.data(), filter_.size()) != static_cast<ssize_t>(filter_.size()) ||
      ::lseek(filter, 0, SEEK_SET) != 0) {
    for (int fd : {workspace, filter})
      if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot hand bwrap its seccomp filter");
  }
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ::close(workspace);
    ::close(filter);
    throw std::runtime_error("pipe failed");
  }
  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {workspace, filter, out[0], out[1], err[0], err[1]}) ::close(fd);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {  // the child: becomes bwrap
    ::setsid();    // a group of its own: killed whole at the deadline
    for (const auto& procs : cgroups.procs()) {
      int fd = ::open(procs.c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(125);
      ::close(fd);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0)
      ::_exit(126);
    // fd 3 is the filter bwrap reads, 4 the workspace. Both are made >= 3 before fork, then moved
    // above 4 so that neither is overwritten by the other's dup2 (dup2 also clears close-on-exec).
    int high_filter = ::fcntl(filter, F_DUPFD, 5), high_workspace = ::fcntl(workspace, F_DUPFD, 5);
    if (high_filter < 0 || high_workspace < 0 || ::dup2(high_filter, 3) < 0 ||
        ::dup2(high_workspace, 4) < 0)
      ::_exit(126);
    set_limit(RLIMIT_CPU, cpu);
    set_limit(RLIMIT_CORE, 0);
    set_limit(RLIMIT_FSIZE, options_.max_file_bytes);
    set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(options_.max_open_files));
    set_limit(RLIMIT_AS, options_.memory_bytes);
    if (as_root) {  // the run gets none of root's rights, outside its namespace too
      if (::setgroups(0, nullptr) != 0 || ::setgid(options_.gid) != 0 ||
          ::setuid(options_.uid) != 0)
        ::_exit(126);
    }
    // Counted per user: set once this is the user it will count against.
    set_limit(RLIMIT_NPROC, static_cast<rlim_t>(options_.max_processes));
    // Nothing of the service's reaches bwrap: not every descriptor is close-on-exec.
    if (::close_range(5, ~0U, 0) != 0)
      for (int fd = 5; fd < 65536; ++fd) ::close(fd);
    // setuid made the process undumpable, its /proc/self root's: bwrap reads its descriptors
    // there (--bind-fd). Only after every descriptor of the service's is closed.
    if (as_root) ::prctl(PR_SET_DUMPABLE, 1);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(workspace);
  ::close(filter);
  ::close(out[1]);
  ::close(err[1]);
  // The deadline is kept by waiting on the process, not on its output (which it may close):
  // without a pidfd (Linux before 5.3, or no descriptor left) nothing runs. At start-up that
  // makes the trial run fail, and /test/run answers 503 with this reason.
  int process = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (process < 0) {
    int error = errno;
    ::kill(pid, SIGKILL);   // the child may not have made its group yet (setsid)
    ::kill(-pid, SIGKILL);  // or has, and started bwrap in it
    int ignored;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    ::close(out[0]);
    ::close(err[0]);
    throw std::runtime_error(std::string("cannot watch a run: pidfd_open: ") +
                             std::strerror(error));
  }
  RunResult result;
  bool finished =
      collect(out[0], err[0], process, started + command.timeout, command.max_output, result);
  if (!finished) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);  // bwrap; its PID namespace dies with it (--die-with-parent)
  }
  int status = reap(pid, process, std::chrono::seconds(5));
  ::kill(-pid, SIGKILL);  // anything left in its group
  for (int fd : {out[0], err[0], process}) ::close(fd);
  result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    // bwrap reports a command killed by a signal as 128 + the signal, the shells' convention.
    int code = WEXITSTATUS(status);
    if (code > 128 && code <= 128 + 64 && !result.timed_out) {
      result.signal = code - 128;
    } else {
      result.exit_code = code;
    }
  }
  return result;
}

}  // namespace aether::code_assistant
