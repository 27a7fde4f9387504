#pragma once
// The databases the unit tests use: the PostgreSQL and Redis ctest starts
// (tests/unit/CMakeLists.txt), unless SVCKIT_TEST_POSTGRES_URL / _ADMIN_URL /
// SVCKIT_TEST_REDIS_URL name others, and fresh empty databases of either SQL backend.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "process_temp_dir.hpp"
#include "run_sync.hpp"
#include "svckit/sql/database.hpp"

inline std::string test_postgres_url() {
  const char* url = std::getenv("SVCKIT_TEST_POSTGRES_URL");
  return url ? url : SVCKIT_TEST_POSTGRES_URL_DEFAULT;
}
// The Redis ctest starts (with a password), unless SVCKIT_TEST_REDIS_URL names another.
inline std::string test_redis_url() {
  const char* url = std::getenv("SVCKIT_TEST_REDIS_URL");
  return url ? url : SVCKIT_TEST_REDIS_URL_DEFAULT;
}
inline std::string test_postgres_admin_url() {
  const char* url = std::getenv("SVCKIT_TEST_POSTGRES_ADMIN_URL");
  return url ? url : SVCKIT_TEST_POSTGRES_ADMIN_URL_DEFAULT;
}

// The URL of a new, empty database of `backend` ("sqlite": a file; "postgresql": a database
// created on the test server), named after `prefix`.
inline std::string fresh_test_database(const std::string& backend, const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::string name = prefix + std::to_string(getpid()) + "_" + std::to_string(++counter);
  if (backend == "sqlite") {
    auto dir = process_temp_dir(prefix);
    // Process ids come round again: a file an earlier run left under this name is not fresh.
    auto file = dir / (name + ".db");
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(file.string() + suffix);
    return "sqlite:///" + file.string();
  }
  svckit::BlockingPool pool(1);
  auto server = svckit::sql::open_database(test_postgres_admin_url(), pool);
  LoopThread loop;
  loop.run(server->execute("CREATE DATABASE " + name + " OWNER svckit"));
  std::string url = test_postgres_url();
  return url.substr(0, url.rfind('/') + 1) + name;
}
