#pragma once
// A temporary directory of the test process's own, deleted when the process exits: tests run
// thousands of times on one machine, and what each leaves in /tmp adds up.
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <system_error>

// /tmp/svckit-<name>-<pid>, created on first use.
inline std::filesystem::path process_temp_dir(const std::string& name) {
  struct RemovedAtExit {
    std::mutex mutex;
    std::set<std::filesystem::path> dirs;
    ~RemovedAtExit() {
      std::error_code ignored;
      for (const auto& dir : dirs) std::filesystem::remove_all(dir, ignored);
    }
  };
  static RemovedAtExit removed;
  auto dir =
      std::filesystem::temp_directory_path() / ("svckit-" + name + "-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::lock_guard lock(removed.mutex);
  removed.dirs.insert(dir);
  return dir;
}
