#pragma once
// The backends open_database() chooses between.
#include <memory>
#include <string>

#include "svckit/sql/database.hpp"

namespace svckit::sql {

// `path` is a file, or ":memory:".
std::unique_ptr<Database> make_sqlite_database(std::string path, BlockingPool& pool);
// `url` is a libpq URI (postgresql://...).
std::unique_ptr<Database> make_postgres_database(std::string url, BlockingPool& pool,
                                                 const DatabaseOptions& options);

}  // namespace svckit::sql
