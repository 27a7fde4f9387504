#pragma once
// Writes JSON text directly, for responses and events on hot paths: no DOM is built. Strings are
// escaped; numbers use the shortest representation that reads back exactly.
//
//   svckit::JsonWriter w;
//   w.begin_object().field("id", id).field("done", false).key("tags").begin_array();
//   for (auto& t : tags) w.value(t);
//   w.end_array().end_object();
//   auto text = w.take();
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace svckit {

class JsonWriter {
 public:
  JsonWriter() { out_.reserve(256); }  // most bodies fit: no regrowth on the way

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  // A key that needs no escaping, as a C++ identifier never does (a described member's name):
  // written as it is. Anything else goes through key().
  JsonWriter& identifier_key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(bool b);
  JsonWriter& value(double d);  // NaN and infinities are written as null
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) JsonWriter& value(I i) {
    return integer(static_cast<std::int64_t>(i));
  }
  template <class T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& null();
  // Already-serialized JSON, inserted as it is.
  JsonWriter& raw(std::string_view json);

  template <class T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  JsonWriter& integer(std::int64_t i);
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);
  void separate();  // a comma before every element but the first of its container

  std::string out_;
  bool first_ = true;  // nothing written yet in the current container
  bool after_key_ = false;
};

}  // namespace svckit
