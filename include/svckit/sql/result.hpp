#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/sql/value.hpp"

namespace svckit::sql {

class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Value> values)
      : columns_(std::move(columns)), values_(std::move(values)) {}

  // Throws std::out_of_range naming the column when it is not in the result.
  const Value& operator[](std::string_view column) const;
  const Value& at(std::size_t index) const { return values_.at(index); }
  std::size_t size() const { return values_.size(); }

  std::string text(std::string_view column) const { return (*this)[column].as_string(); }
  std::int64_t integer(std::string_view column) const { return (*this)[column].as_int(); }
  std::optional<std::string> optional_text(std::string_view column) const;

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Value> values_;
};

struct Result {
  std::vector<Row> rows;
  std::int64_t changes = 0;         // rows changed by an INSERT/UPDATE/DELETE
  std::int64_t last_insert_id = 0;  // rowid of the last INSERT

  bool empty() const { return rows.empty(); }
};

}  // namespace svckit::sql
