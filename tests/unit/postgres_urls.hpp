#pragma once
// The PostgreSQL the unit tests use: the one ctest starts (tests/unit/CMakeLists.txt), unless
// SVCKIT_TEST_POSTGRES_URL / SVCKIT_TEST_POSTGRES_ADMIN_URL name another.
#include <cstdlib>
#include <string>

inline std::string test_postgres_url() {
  const char* url = std::getenv("SVCKIT_TEST_POSTGRES_URL");
  return url ? url : SVCKIT_TEST_POSTGRES_URL_DEFAULT;
}
inline std::string test_postgres_admin_url() {
  const char* url = std::getenv("SVCKIT_TEST_POSTGRES_ADMIN_URL");
  return url ? url : SVCKIT_TEST_POSTGRES_ADMIN_URL_DEFAULT;
}
