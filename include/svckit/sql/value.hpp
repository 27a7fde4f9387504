#pragma once
// Values bound to statement parameters and read from rows. Statements only ever take values
// through parameters; SQL text is never assembled from input.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace svckit::sql {

class Value {
 public:
  using Storage = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

  Value() : v_(nullptr) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(int v) : v_(static_cast<std::int64_t>(v)) {}
  Value(long v) : v_(static_cast<std::int64_t>(v)) {}
  Value(long long v) : v_(static_cast<std::int64_t>(v)) {}
  Value(double v) : v_(v) {}
  Value(bool v) : v_(static_cast<std::int64_t>(v)) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  template <class T>
  Value(const std::optional<T>& v) : Value() {
    if (v) *this = Value(*v);
  }

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
  const Storage& storage() const { return v_; }

  // Typed reads; throw std::runtime_error on a type mismatch (NULL reads as an empty value).
  std::int64_t as_int() const;
  double as_double() const;
  std::string as_string() const;

 private:
  Storage v_;
};

}  // namespace svckit::sql
