#pragma once
// What a described model's fields must satisfy, beyond their C++ types: lengths, ranges,
// choices, patterns, formats, item counts, defaults. A model states them once, in a static
// rules() next to its BOOST_DESCRIBE_STRUCT:
//
//   struct NewTask {
//     std::string title;
//     std::string priority = "medium";
//     std::optional<std::string> due_date;
//     static void rules(svckit::model::Rules<NewTask>& r) {
//       r.field(&NewTask::title).length(1, 200);
//       r.field(&NewTask::priority).one_of({"low", "medium", "high"}).defaulted();
//       r.field(&NewTask::due_date).format("date-time");
//     }
//   };
//   BOOST_DESCRIBE_STRUCT(NewTask, (), (title, priority, due_date))
//
// Decoding (model/json.hpp) enforces them, and the JSON Schema (model/schema.hpp) states them.
// A member that is not std::optional is required unless it is defaulted(); an optional one may
// be absent or null.
#include <cstddef>
#include <deque>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/describe/class.hpp>  // BOOST_DESCRIBE_STRUCT, for the models
#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>

namespace svckit::model {

struct FieldRules {
  std::optional<std::size_t> min_length, max_length;  // strings, in characters (code points)
  std::optional<double> minimum, maximum;             // numbers
  std::optional<std::size_t> min_items, max_items;    // arrays
  std::vector<std::string> choices;                   // strings: one of these
  std::string pattern;      // strings: ECMAScript, the whole value must match
  std::string format;       // strings: "date-time" (ISO 8601), "email", "uuid"
  bool defaulted = false;   // may be absent: the model's own initial value stands
  std::string description;  // for the schema
  std::string json_name;    // its key in JSON when not the member's name ("stdout", "class")
};

// Calls f(d) for each public described member of T: d.name, d.pointer.
template <class T, class F>
void for_each_member(F&& f) {
  boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>(f);
}

// The member types a model's JSON, schema and SQL row treat apart.
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T>
struct is_string_map<std::map<std::string, T>> : std::true_type {};

// A model that states rules: `static void rules(Rules<T>&)`.
template <class T>
class Rules;
template <class T>
concept HasRules = requires(Rules<T>& r) {
  T::rules(r);
};

// A struct described with BOOST_DESCRIBE_STRUCT: a model.
template <class T>
concept Described = boost::describe::has_describe_members<T>::value;

template <class T>
class Rules {
 public:
  class Field {
   public:
    explicit Field(FieldRules& rules) : rules_(rules) {}
    Field& length(std::size_t min, std::size_t max) {
      rules_.min_length = min, rules_.max_length = max;
      return *this;
    }
    Field& range(double min, double max) {
      rules_.minimum = min, rules_.maximum = max;
      return *this;
    }
    Field& at_least(double min) {
      rules_.minimum = min;
      return *this;
    }
    Field& items(std::size_t min, std::size_t max) {
      rules_.min_items = min, rules_.max_items = max;
      return *this;
    }
    Field& one_of(std::initializer_list<std::string_view> choices) {
      rules_.choices.assign(choices.begin(), choices.end());
      return *this;
    }
    template <class Range>
    Field& one_of(const Range& choices) {
      rules_.choices.assign(std::begin(choices), std::end(choices));
      return *this;
    }
    // A regular expression the whole string must match. A patterned string is at most 1024
    // characters unless length() says otherwise: std::regex recurses per character.
    Field& pattern(std::string regex) {
      rules_.pattern = std::move(regex);
      return *this;
    }
    Field& format(std::string name) {
      rules_.format = std::move(name);
      return *this;
    }
    Field& defaulted() {
      rules_.defaulted = true;
      return *this;
    }
    Field& describe(std::string text) {
      rules_.description = std::move(text);
      return *this;
    }
    // The member's key in JSON, for keys that cannot be C++ names (keywords, macros like stdout).
    Field& json_name(std::string key) {
      rules_.json_name = std::move(key);
      return *this;
    }

   private:
    FieldRules& rules_;
  };

  // The rules of `member`: a pointer to one of T's described members.
  template <class M>
  Field field(M T::*member) {
    const char* name = nullptr;
    for_each_member<T>([&](auto d) {
      if constexpr (std::is_same_v<std::remove_cv_t<decltype(d.pointer)>, M T::*>)
        if (d.pointer == member) name = d.name;
    });
    if (!name) throw std::logic_error("Rules::field: not a described member");
    for (auto& [n, r] : fields_)
      if (n == name) return Field(r);
    fields_.emplace_back(name, FieldRules{});
    return Field(fields_.back().second);
  }

  // The rules of the member called `name`; none when it has none.
  const FieldRules& of(std::string_view name) const {
    static const FieldRules kNone;
    for (const auto& [n, r] : fields_)
      if (n == name) return r;
    return kNone;
  }
  bool renames() const { return renames_; }
  // The JSON key of the member called `name`.
  const char* key_of(const char* name) const {
    if (!renames_) return name;  // most models: no lookup on the way out
    const auto& key = of(name).json_name;
    return key.empty() ? name : key.c_str();
  }
  void finish() {
    for (const auto& field : fields_) renames_ = renames_ || !field.second.json_name.empty();
  }

 private:
  std::deque<std::pair<std::string, FieldRules>> fields_;  // a Field keeps a reference
  bool renames_ = false;                                   // some field has a json_name
};

// T's rules, built once (T::rules when it has one, none otherwise).
template <class T>
const Rules<T>& rules_of() {
  static const Rules<T> rules = [] {
    Rules<T> r;
    if constexpr (HasRules<T>) T::rules(r);
    r.finish();
    return r;
  }();
  return rules;
}

}  // namespace svckit::model
