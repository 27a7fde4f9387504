#pragma once
// A described model (svckit/model/rules.hpp) as a table row: each member is the column of the
// same name. Members may be strings, integers, floating point, bool (0/1), std::vector of those
// (a JSON array in a text column), nlohmann::json (its text in a text column) and std::optional
// of any of them (NULL); a member of another type is a compile error.
//
//   const auto kInsert = sql::insert_sql<TaskRecord>("tasks");      // INSERT INTO tasks (...)
//   co_await db.execute(kInsert, sql::values(task));
//   auto task = sql::from_row<TaskRecord>(result.rows.front());
//   c.execute(sql::update_sql<TaskRecord>("tasks", "id"), sql::update_values(task, "id"));
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/model/rules.hpp"
#include "svckit/sql/result.hpp"
#include "svckit/sql/value.hpp"

namespace svckit::sql {

namespace detail {

using model::is_optional;
using model::is_vector;

template <class T>
Value to_value(const T& v) {
  if constexpr (is_vector<T>::value)
    return Value(nlohmann::json(v).dump());
  else if constexpr (std::is_same_v<T, nlohmann::json>)
    return Value(v.dump());
  else if constexpr (is_optional<T>::value)
    return v ? to_value(*v) : Value();
  else
    return Value(v);
}

template <class T>
void read_column(const Value& v, T& out) {
  if constexpr (is_optional<T>::value) {
    if (v.is_null()) {
      out.reset();
    } else {
      out.emplace();
      read_column(v, *out);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    out = v.as_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    out = v.as_int() != 0;
  } else if constexpr (std::is_integral_v<T>) {
    out = static_cast<T>(v.as_int());
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(v.as_double());
  } else if constexpr (is_vector<T>::value) {
    out = nlohmann::json::parse(v.as_string()).template get<T>();
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    out = nlohmann::json::parse(v.as_string());
  } else {
    static_assert(!sizeof(T), "a column is a string, a number, a bool, JSON or an optional of one");
  }
}

using model::for_each_member;

}  // namespace detail

// "id, title, description, ..." in member order.
template <model::Described T>
std::string columns() {
  std::string out;
  detail::for_each_member<T>(
      [&](auto d) { out += (out.empty() ? "" : ", ") + std::string(d.name); });
  return out;
}

// "INSERT INTO <table> (<columns>) VALUES (?, ...)", for values(row).
template <model::Described T>
std::string insert_sql(std::string_view table) {
  std::string marks;
  detail::for_each_member<T>([&](auto) { marks += marks.empty() ? "?" : ", ?"; });
  return "INSERT INTO " + std::string(table) + " (" + columns<T>() + ") VALUES (" + marks + ")";
}

// "UPDATE <table> SET a = ?, b = ? WHERE <key> = ?": every column but the key, for
// update_values(row, key).
template <model::Described T>
std::string update_sql(std::string_view table, std::string_view key) {
  std::string sets;
  detail::for_each_member<T>([&](auto d) {
    if (d.name != key) sets += (sets.empty() ? "" : ", ") + std::string(d.name) + " = ?";
  });
  return "UPDATE " + std::string(table) + " SET " + sets + " WHERE " + std::string(key) + " = ?";
}

// "SELECT <columns> FROM <table>" followed by `rest` (" WHERE id = ?").
template <model::Described T>
std::string select_sql(std::string_view table, std::string_view rest = {}) {
  return "SELECT " + columns<T>() + " FROM " + std::string(table) + std::string(rest);
}

// The row's values in column order.
template <model::Described T>
std::vector<Value> values(const T& row) {
  std::vector<Value> out;
  detail::for_each_member<T>([&](auto d) { out.push_back(detail::to_value(row.*d.pointer)); });
  return out;
}

// Every column's value but the key's, then the key's: the parameters of update_sql().
template <model::Described T>
std::vector<Value> update_values(const T& row, std::string_view key) {
  std::vector<Value> out;
  std::optional<Value> key_value;
  detail::for_each_member<T>([&](auto d) {
    if (d.name == key)
      key_value = detail::to_value(row.*d.pointer);
    else
      out.push_back(detail::to_value(row.*d.pointer));
  });
  out.push_back(key_value.value_or(Value()));
  return out;
}

// A T from a row that has a column for each of its members (std::out_of_range naming a missing
// column).
template <model::Described T>
T from_row(const Row& row) {
  T out{};
  detail::for_each_member<T>([&](auto d) { detail::read_column(row[d.name], out.*d.pointer); });
  return out;
}

}  // namespace svckit::sql
