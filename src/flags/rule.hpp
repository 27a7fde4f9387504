#pragma once
// A targeting rule compiled from JsonLogic (https://jsonlogic.com) with flagd's operators:
// operator names resolved and variable paths split once, so that evaluating walks a tree of
// nodes against the context and returns references into it (or into the rule's literals)
// wherever it can, allocating only for what it computes (cat, arithmetic, reduce).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace svckit::flags::detail {

// What `var` reads, and what flagd adds to it.
struct Scope {
  const nlohmann::json* data = nullptr;     // the context, or the element inside map/filter/...
  const nlohmann::json* context = nullptr;  // the evaluation context itself
  std::string_view flag_key;
  std::int64_t timestamp = 0;
};

// A result: a reference into the context or the rule, or a value of its own. Most are
// references: those carry no json, whose destructor is a call even when it holds nothing.
class Value {
 public:
  Value() = default;  // null
  explicit Value(nlohmann::json owned) : owned_(std::move(owned)) {}
  static Value ref(const nlohmann::json& j) {
    Value v;
    v.ref_ = &j;
    return v;
  }
  const nlohmann::json& get() const { return ref_ ? *ref_ : owned_ ? *owned_ : null(); }
  const nlohmann::json* operator->() const { return &get(); }
  const nlohmann::json& operator*() const { return get(); }
  // Element `i` of the array this is: referred to when this refers, else copied.
  Value element(std::size_t i) const { return ref_ ? ref((*ref_)[i]) : Value(get()[i]); }

 private:
  static const nlohmann::json& null() {
    static const nlohmann::json value;
    return value;
  }
  const nlohmann::json* ref_ = nullptr;
  std::optional<nlohmann::json> owned_;
};

// The strings a rule may return as a variant name, where a literal says so: what `if` and
// `fractional` hand back. Used by validation to refuse a rule naming an unknown variant.
using VariantNames = std::vector<std::string>;

class Rule {
 public:
  // `evaluators` is the document's "$evaluators" (or null). Throws std::invalid_argument naming
  // the problem: an unknown operator, a $ref to nothing or in a cycle, a wrong argument count,
  // nesting deeper than 64.
  static Rule compile(const nlohmann::json& expr, const nlohmann::json& evaluators);

  Value evaluate(const Scope& scope) const;
  // The literal strings this rule can return as its result.
  VariantNames literal_results() const;
  // Whether it reads $flagd.timestamp: the clock is read for the rules that do, only.
  bool reads_clock() const { return reads_clock_; }

  Rule(Rule&&) noexcept;
  Rule& operator=(Rule&&) noexcept;
  ~Rule();

  struct Node;

 private:
  Rule();
  std::unique_ptr<Node> root_;
  bool reads_clock_ = false;
};

bool truthy(const nlohmann::json& v);
std::uint32_t murmur3_32(std::string_view data, std::uint32_t seed = 0);
// -1, 0, 1 comparing semantic versions (a leading v or V allowed); nullopt when either is not one.
std::optional<int> compare_semver(std::string_view a, std::string_view b);

}  // namespace svckit::flags::detail
