#pragma once
// Where the Code Assistant's test runs happen: a bubblewrap (bwrap) sandbox.
//
// A run sees a read-only /usr (and the /bin, /lib symlinks into it), a handful of /etc files
// a program needs to start, its own /proc, a minimal /dev, a private size-capped /tmp and,
// writable, its workspace at /workspace. Nothing else of the host exists in it: not DATA_DIR,
// not other workspaces, not the service's /proc. It runs in new user, PID, network, IPC, UTS
// and cgroup namespaces (no network but its own loopback), in a session of its own, under a
// seccomp filter refusing what tests never need (mounts, ptrace, namespaces, kernel keys,
// modules, BPF, io_uring, TIOCSTI), with limits set from outside before it starts: processes,
// address space, open files, file size, CPU time. When the service runs as root the run drops
// to an unprivileged uid first, and joins per-run pids and memory cgroups (v1 or v2) when the
// host lets it create them. The wall-time limit is kept by the parent: at the deadline the
// whole sandbox is killed (the PID namespace dies with its init) and the wait is bounded.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace aether::code_assistant {

struct SandboxOptions {
  std::filesystem::path bwrap = "/usr/bin/bwrap";
  uid_t uid = 65534;  // taken when the service runs as root: nobody
  gid_t gid = 65534;
  std::uint64_t memory_bytes = std::uint64_t{1} << 30;  // per process; per run with cgroups
  int max_processes = 64;
  int max_open_files = 256;
  std::uint64_t max_file_bytes = std::uint64_t{64} << 20;
  std::uint64_t tmp_bytes = std::uint64_t{64} << 20;  // the private /tmp
};

// What one run is to do. `workspace` is a host directory, mounted read-write at /workspace;
// `directory` is where the command starts, relative to it.
struct SandboxedCommand {
  std::filesystem::path program;  // absolute, under /usr
  std::vector<std::string> argv;
  std::filesystem::path workspace;
  std::filesystem::path directory = ".";
  std::chrono::seconds timeout{60};
  std::size_t max_output = 64 * 1024;  // kept of each stream
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

class Sandbox {
 public:
  // Compiles the seccomp filter and tries one run of /usr/bin/true with a workspace made in
  // `workspaces`: the reason it failed, if it did, is unavailable()'s. The run's uid must be
  // able to reach that directory (every directory above it searchable).
  Sandbox(SandboxOptions options, const std::filesystem::path& workspaces);

  // Empty when runs can be sandboxed here; else why not ("bwrap not found", what bwrap said).
  const std::string& unavailable() const { return unavailable_; }
  const SandboxOptions& options() const { return options_; }

  // Blocks until the command ended or was killed at its deadline: call it on a blocking pool.
  // Throws std::runtime_error when the sandbox is unavailable or the host refuses a resource.
  RunResult run(const SandboxedCommand& command) const;

 private:
  SandboxOptions options_;
  std::string filter_;               // the seccomp program, as bwrap --seccomp reads it
  std::vector<std::string> system_;  // bwrap arguments making the read-only system
  std::string unavailable_;
};

}  // namespace aether::code_assistant
