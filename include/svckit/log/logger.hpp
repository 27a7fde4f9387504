#pragma once
// Structured logs: one JSON object per line on stdout with `timestamp`, `level`, `service`,
// `message` and whatever fields the caller adds (`request_id`, `method`, `status`, ...).
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "svckit/log/level.hpp"

namespace svckit::log {

struct Field {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  std::string_view key;
  Value value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <class I>
  requires std::is_integral_v<I> Field(std::string_view k, I v)
      : key(k), value(static_cast<std::int64_t>(v)) {}
};

using Fields = std::initializer_list<Field>;

class Logger {
 public:
  // Lines go to `out` (stdout by default). Writes are whole lines, safe from many threads.
  explicit Logger(std::string service, Level min_level = Level::info, std::FILE* out = stdout);

  bool enabled(Level level) const { return level >= min_level_; }
  void set_level(Level level) { min_level_ = level; }
  const std::string& service() const { return service_; }

  void write(Level level, std::string_view message, Fields fields = {},
             Fields more_fields = {}) const;
  void debug(std::string_view message, Fields fields = {}) const {
    write(Level::debug, message, fields);
  }
  void info(std::string_view message, Fields fields = {}) const {
    write(Level::info, message, fields);
  }
  void warning(std::string_view message, Fields fields = {}) const {
    write(Level::warning, message, fields);
  }
  void error(std::string_view message, Fields fields = {}) const {
    write(Level::error, message, fields);
  }

  // Info and debug lines are buffered (App flushes them every 100 ms and at exit); warnings and
  // errors are flushed at once.
  void flush() const { std::fflush(out_); }

  // Builds the line without writing it (tests and custom sinks).
  std::string format(Level level, std::string_view message, Fields fields,
                     Fields more_fields = {}) const;

 private:
  std::string service_;
  Level min_level_;
  std::FILE* out_;
};

// Appends `text` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view text);

}  // namespace svckit::log
