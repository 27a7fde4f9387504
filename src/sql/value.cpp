#include "svckit/sql/value.hpp"

#include <stdexcept>

#include "svckit/sql/result.hpp"

namespace svckit::sql {

std::int64_t Value::as_int() const {
  if (is_null()) return 0;
  if (auto* i = std::get_if<std::int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_)) return static_cast<std::int64_t>(*d);
  throw std::runtime_error("SQL value is text, not an integer");
}

double Value::as_double() const {
  if (is_null()) return 0;
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
  throw std::runtime_error("SQL value is text, not a number");
}

std::string Value::as_string() const {
  if (is_null()) return {};
  if (auto* s = std::get_if<std::string>(&v_)) return *s;
  if (auto* i = std::get_if<std::int64_t>(&v_)) return std::to_string(*i);
  return std::to_string(std::get<double>(v_));
}

const Value& Row::operator[](std::string_view column) const {
  for (std::size_t i = 0; i < columns_->size(); ++i)
    if ((*columns_)[i] == column) return values_[i];
  throw std::out_of_range("no column '" + std::string(column) + "' in the result");
}

std::optional<std::string> Row::optional_text(std::string_view column) const {
  const Value& v = (*this)[column];
  if (v.is_null()) return std::nullopt;
  return v.as_string();
}

}  // namespace svckit::sql
