#include "rule.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace svckit::flags::detail {

using nlohmann::json;

namespace {

enum class Op {
  kLiteral,
  kArray,
  kVar,
  kIf,
  kEq,
  kStrictEq,
  kNe,
  kStrictNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kNot,
  kNotNot,
  kIn,
  kCat,
  kSubstr,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kMin,
  kMax,
  kMerge,
  kMissing,
  kMissingSome,
  kMap,
  kFilter,
  kReduce,
  kAll,
  kNone,
  kSome,
  kFractional,
  kSemVer,
  kStartsWith,
  kEndsWith,
};

const std::unordered_map<std::string_view, Op>& operators() {
  static const std::unordered_map<std::string_view, Op> table = {
      {"var", Op::kVar},
      {"if", Op::kIf},
      {"?:", Op::kIf},
      {"==", Op::kEq},
      {"===", Op::kStrictEq},
      {"!=", Op::kNe},
      {"!==", Op::kStrictNe},
      {"<", Op::kLt},
      {"<=", Op::kLe},
      {">", Op::kGt},
      {">=", Op::kGe},
      {"and", Op::kAnd},
      {"or", Op::kOr},
      {"!", Op::kNot},
      {"!!", Op::kNotNot},
      {"in", Op::kIn},
      {"cat", Op::kCat},
      {"substr", Op::kSubstr},
      {"+", Op::kAdd},
      {"-", Op::kSub},
      {"*", Op::kMul},
      {"/", Op::kDiv},
      {"%", Op::kMod},
      {"min", Op::kMin},
      {"max", Op::kMax},
      {"merge", Op::kMerge},
      {"missing", Op::kMissing},
      {"missing_some", Op::kMissingSome},
      {"map", Op::kMap},
      {"filter", Op::kFilter},
      {"reduce", Op::kReduce},
      {"all", Op::kAll},
      {"none", Op::kNone},
      {"some", Op::kSome},
      {"fractional", Op::kFractional},
      {"sem_ver", Op::kSemVer},
      {"starts_with", Op::kStartsWith},
      {"ends_with", Op::kEndsWith},
  };
  return table;
}

constexpr int kMaxDepth = 64;
// What one evaluation may cost, whatever the rule: a rule is written by people with flags:write,
// but no rule may hold a service's thread or memory (map inside reduce inside map ... over the
// context's arrays, or cat doubling an accumulator). Past these it answers the default.
constexpr std::size_t kMaxSteps = 100'000;   // nodes evaluated, and nodes copied
constexpr std::size_t kMaxNodes = 10'000;    // nodes of one compiled rule
constexpr std::size_t kMaxText = 64 * 1024;  // bytes of a string cat or substr makes
constexpr std::size_t kMaxItems = 10'000;    // elements of an array map, filter or merge makes

}  // namespace

struct Rule::Node {
  Op op = Op::kLiteral;
  json literal;                   // kLiteral
  std::vector<std::string> path;  // kVar with a literal path ("" is the whole data)
  std::vector<Node> args;
};

namespace {

using Node = Rule::Node;

Node node(Op op) {
  Node n;
  n.op = op;
  return n;
}

bool is_operation(const json& j) {
  return j.is_object() && j.size() == 1;
}

bool holds_operation(const json& j) {
  if (is_operation(j)) return true;
  if (j.is_array()) return std::any_of(j.begin(), j.end(), holds_operation);
  return false;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  if (path.empty()) return parts;
  std::size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string path_text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<std::int64_t>());
  if (j.is_null()) return "";
  throw std::invalid_argument("var: a path must be a string or a number");
}

class Compiler {
 public:
  explicit Compiler(const json& evaluators) : evaluators_(evaluators) {}

  Node compile(const json& expr, int depth) {
    if (depth > kMaxDepth) throw std::invalid_argument("the rule nests deeper than 64");
    // $refs are inlined: ten references to an evaluator of ten references ... is 10^n nodes
    // from a document of a few lines.
    if (++nodes_ > kMaxNodes)
      throw std::invalid_argument(
          "the rule is larger than 10,000 operations once its $refs are expanded");
    if (expr.is_array()) {
      if (!holds_operation(expr)) return literal(expr);
      Node n = node(Op::kArray);
      for (const auto& e : expr) n.args.push_back(compile(e, depth + 1));
      return n;
    }
    if (!is_operation(expr)) return literal(expr);
    // (Not `*expr.items().begin()`: that is a reference into an iterator gone at the `;`.)
    const auto only = expr.begin();
    const std::string& name = only.key();
    const json& raw_args = only.value();
    if (name == "$ref") return reference(raw_args, depth);
    auto found = operators().find(name);
    if (found == operators().end())
      throw std::invalid_argument("unknown operator \"" + name + "\"");
    Node n = node(found->second);
    if (n.op == Op::kVar) return variable(raw_args, depth);
    if (raw_args.is_array()) {
      for (const auto& a : raw_args) n.args.push_back(compile(a, depth + 1));
    } else {
      n.args.push_back(compile(raw_args, depth + 1));  // {"!": x} is {"!": [x]}
    }
    check_arity(name, n);
    return n;
  }

 private:
  static Node literal(const json& j) {
    Node n = node(Op::kLiteral);
    n.literal = j;
    return n;
  }

  Node variable(const json& raw, int depth) {
    Node n = node(Op::kVar);
    const json& path = raw.is_array() ? (raw.empty() ? json() : raw[0]) : raw;
    if (raw.is_array() && raw.size() > 2)
      throw std::invalid_argument("var: takes a path and a default");
    if (is_operation(path)) {
      reads_clock = true;
      n.args.push_back(compile(path, depth + 1));  // a path computed at evaluation
    } else {
      n.args.emplace_back();  // a literal path, split now
      n.path = split_path(path_text(path));
      if (!n.path.empty() && n.path[0] == "$flagd") reads_clock = true;
    }
    if (raw.is_array() && raw.size() == 2) n.args.push_back(compile(raw[1], depth + 1));
    return n;
  }

  Node reference(const json& name, int depth) {
    if (!name.is_string()) throw std::invalid_argument("$ref: must name an evaluator");
    const auto key = name.get<std::string>();
    if (!evaluators_.is_object() || !evaluators_.contains(key))
      throw std::invalid_argument("$ref: no evaluator \"" + key + "\" in $evaluators");
    if (std::find(resolving_.begin(), resolving_.end(), key) != resolving_.end())
      throw std::invalid_argument("$ref: evaluator \"" + key + "\" refers to itself");
    resolving_.push_back(key);
    auto n = compile(evaluators_[key], depth + 1);
    resolving_.pop_back();
    return n;
  }

  static void check_arity(const std::string& name, const Node& n) {
    const auto count = n.args.size();
    auto need = [&](bool ok, const char* what) {
      if (!ok) throw std::invalid_argument(name + ": " + what);
    };
    switch (n.op) {
      case Op::kIf:
        need(count >= 1, "needs a condition");
        break;
      case Op::kStrictEq:
      case Op::kEq:
      case Op::kNe:
      case Op::kStrictNe:
      case Op::kIn:
      case Op::kStartsWith:
      case Op::kEndsWith:
        need(count == 2, "takes two arguments");
        break;
      case Op::kLt:
      case Op::kLe:
        need(count == 2 || count == 3, "takes two or three arguments");
        break;
      case Op::kGt:
      case Op::kGe:
        need(count == 2, "takes two arguments");
        break;
      case Op::kSubstr:
        need(count == 2 || count == 3, "takes a string, a start and a length");
        break;
      case Op::kMissingSome:
        need(count == 2, "takes a count and a list");
        break;
      case Op::kMap:
      case Op::kFilter:
      case Op::kAll:
      case Op::kNone:
      case Op::kSome:
        need(count == 2, "takes a list and a rule");
        break;
      case Op::kReduce:
        need(count == 2 || count == 3, "takes a list, a rule and a start");
        break;
      case Op::kSemVer:
        need(count == 3, "takes a version, an operator and a version");
        break;
      case Op::kFractional:
        need(count >= 1, "needs at least one bucket");
        break;
      default:
        break;
    }
  }

  const json& evaluators_;
  std::vector<std::string> resolving_;
  std::size_t nodes_ = 0;

 public:
  bool reads_clock = false;  // a $flagd path (or a computed path, which could be one)
};

// A custom operator given what it cannot work with: flagd then answers the flag's default
// (reason DEFAULT), whatever rule the operator sits in.
struct OperatorError {};

// --- JavaScript's coercions, as json-logic-js has them -------------------------------------

// JavaScript's Number(string): trimmed, "" is 0, a sign, decimal or 0x/0o/0b integers,
// "Infinity"; anything else (from_chars's "inf" and "nan" included) NaN.
double string_to_number(std::string_view text) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  auto b = text.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return 0;
  text = text.substr(b, text.find_last_not_of(" \t\n\r") + 1 - b);
  double sign = 1;
  const bool signed_text = text[0] == '+' || text[0] == '-';
  if (signed_text) {
    sign = text[0] == '-' ? -1 : 1;
    text.remove_prefix(1);
  }
  if (text == "Infinity") return sign * std::numeric_limits<double>::infinity();
  if (text.size() > 2 && text[0] == '0' && !signed_text) {  // JavaScript takes no sign on these
    const int base = (text[1] == 'x' || text[1] == 'X')   ? 16
                     : (text[1] == 'o' || text[1] == 'O') ? 8
                     : (text[1] == 'b' || text[1] == 'B') ? 2
                                                          : 0;
    if (base) {
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), n, base);
      return ec == std::errc() && end == text.data() + text.size() ? static_cast<double>(n) : kNaN;
    }
  }
  if (text.empty() || !((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
    return kNaN;  // no "inf"
  double d = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  return ec == std::errc() && end == text.data() + text.size() ? sign * d : kNaN;
}

double to_number(const json& v) {
  switch (v.type()) {
    case json::value_t::number_integer:
      return static_cast<double>(v.get<std::int64_t>());
    case json::value_t::number_unsigned:
      return static_cast<double>(v.get<std::uint64_t>());
    case json::value_t::number_float:
      return v.get<double>();
    case json::value_t::boolean:
      return v.get<bool>() ? 1 : 0;
    case json::value_t::null:
      return 0;
    case json::value_t::string:
      return string_to_number(v.get_ref<const std::string&>());
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, end);
}

std::string to_text(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::array: {
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        if (!v[i].is_null()) out += to_text(v[i]);
      }
      return out;
    }
    case json::value_t::object:
      return "[object Object]";
    default:
      return number_text(to_number(v));
  }
}

bool strict_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return to_number(a) == to_number(b);
  return a == b;
}

bool loose_equal(const json& a, const json& b) {
  if (a.type() == b.type() || (a.is_number() && b.is_number())) return strict_equal(a, b);
  if (a.is_null() || b.is_null()) return false;
  if (a.is_boolean() || b.is_boolean() || a.is_number() || b.is_number()) {
    if (a.is_structured() || b.is_structured())
      return to_text(a.is_structured() ? a : b) == to_text(a.is_structured() ? b : a) ||
             to_number(json(to_text(a))) == to_number(json(to_text(b)));
    return to_number(a) == to_number(b);
  }
  return to_text(a) == to_text(b);  // a string and an array or object
}

// JavaScript's <: strings by code unit, anything else as numbers (NaN compares false).
bool less(const json& a, const json& b) {
  if (a.is_string() && b.is_string())
    return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  return to_number(a) < to_number(b);
}
bool less_equal(const json& a, const json& b) {
  if (a.is_string() && b.is_string())
    return a.get_ref<const std::string&>() <= b.get_ref<const std::string&>();
  return to_number(a) <= to_number(b);
}

json number_json(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
    return static_cast<std::int64_t>(d);
  if (!std::isfinite(d)) return nullptr;  // JSON has no NaN or Infinity
  return d;
}

const json* lookup(const json& data, const std::vector<std::string>& path) {
  const json* at = &data;
  for (const auto& part : path) {
    if (at->is_object()) {
      auto it = at->find(part);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
      if (ec != std::errc() || end != part.data() + part.size() || index >= at->size())
        return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return at;
}

// --- semantic versions (semver.org 2.0.0 precedence) ---------------------------------------

struct Version {
  std::uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string_view> pre;
};

bool numeric(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<Version> parse_version(std::string_view s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  if (auto plus = s.find('+'); plus != std::string_view::npos) s = s.substr(0, plus);  // build
  Version v;
  std::string_view core = s, pre;
  if (auto dash = s.find('-'); dash != std::string_view::npos) {
    core = s.substr(0, dash);
    pre = s.substr(dash + 1);
    if (pre.empty()) return std::nullopt;
  }
  std::uint64_t* parts[] = {&v.major, &v.minor, &v.patch};
  for (int i = 0; i < 3; ++i) {
    auto dot = core.find('.');
    auto piece = core.substr(0, dot);
    if (!numeric(piece) || (piece.size() > 1 && piece[0] == '0')) return std::nullopt;
    auto [end, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), *parts[i]);
    if (ec != std::errc()) return std::nullopt;
    if (i == 2 && dot != std::string_view::npos) return std::nullopt;
    if (dot == std::string_view::npos) break;  // "1" and "1.2" are 1.0.0 and 1.2.0
    core.remove_prefix(dot + 1);
  }
  while (!pre.empty()) {
    auto dot = pre.find('.');
    auto id = pre.substr(0, dot);
    if (id.empty()) return std::nullopt;
    v.pre.push_back(id);
    if (dot == std::string_view::npos) break;
    pre.remove_prefix(dot + 1);
    if (pre.empty()) return std::nullopt;
  }
  return v;
}

int compare_ids(std::string_view a, std::string_view b) {
  const bool na = numeric(a), nb = numeric(b);
  if (na && nb) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (na != nb) return na ? -1 : 1;  // numeric identifiers sort first
  return a < b ? -1 : a > b ? 1 : 0;
}

int compare(const Version& a, const Version& b) {
  for (auto [x, y] : {std::pair{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}})
    if (x != y) return x < y ? -1 : 1;
  if (a.pre.empty() || b.pre.empty())
    return a.pre.empty() == b.pre.empty() ? 0 : a.pre.empty() ? 1 : -1;
  for (std::size_t i = 0; i < std::min(a.pre.size(), b.pre.size()); ++i)
    if (int c = compare_ids(a.pre[i], b.pre[i])) return c;
  return a.pre.size() == b.pre.size() ? 0 : a.pre.size() < b.pre.size() ? -1 : 1;
}

std::string version_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return to_text(v);
  return "";
}

bool semver_holds(const json& left, const json& op, const json& right) {
  if (!op.is_string()) throw OperatorError{};
  auto a = parse_version(version_text(left));
  auto b = parse_version(version_text(right));
  if (!a || !b) throw OperatorError{};
  const auto& o = op.get_ref<const std::string&>();
  const int c = compare(*a, *b);
  if (o == "=") return c == 0;
  if (o == "!=") return c != 0;
  if (o == "<") return c < 0;
  if (o == "<=") return c <= 0;
  if (o == ">") return c > 0;
  if (o == ">=") return c >= 0;
  if (o == "^") return a->major == b->major;
  if (o == "~") return a->major == b->major && a->minor == b->minor;
  throw OperatorError{};
}

// --- evaluation ------------------------------------------------------------------------------

void check_size(const json& built) {
  if ((built.is_array() && built.size() > kMaxItems) ||
      (built.is_string() && built.get_ref<const std::string&>().size() > kMaxText))
    throw OperatorError{};
}

class Evaluator {
 public:
  Value eval(const Node& n, const Scope& s) const;

 private:
  // Copies cost what they copy: a value copied into a new array (or an accumulator) is charged
  // one step per node, so nested copies cannot double their way past the budget.
  void charge(const json& copied) const {
    std::vector<const json*> todo{&copied};
    while (!todo.empty()) {
      const json* v = todo.back();
      todo.pop_back();
      if (++steps_ > kMaxSteps) throw OperatorError{};
      if (v->is_structured())
        for (const auto& e : *v) todo.push_back(&e);
    }
  }
  Value step(const Node& n, const Scope& s) const;
  mutable std::size_t steps_ = 0;
  Value arg(const Node& n, std::size_t i, const Scope& s) const {
    return i < n.args.size() ? eval(n.args[i], s) : Value();
  }
  Value var(const Node& n, const Scope& s) const;
  Value iterate(const Node& n, const Scope& s) const;
  Value fractional(const Node& n, const Scope& s) const;
};

Value boolean(bool b) {
  return Value(json(b));
}

Value Evaluator::var(const Node& n, const Scope& s) const {
  const json* found = nullptr;
  if (n.args[0].op == Op::kLiteral) {
    if (!n.path.empty() && n.path[0] == "$flagd" && s.data == s.context) {
      if (n.path.size() == 2 && n.path[1] == "flagKey") return Value(json(std::string(s.flag_key)));
      if (n.path.size() == 2 && n.path[1] == "timestamp") return Value(json(s.timestamp));
      if (n.path.size() == 1)
        return Value(json{{"flagKey", std::string(s.flag_key)}, {"timestamp", s.timestamp}});
    }
    found = lookup(*s.data, n.path);
  } else {
    auto path = eval(n.args[0], s);
    found = lookup(*s.data,
                   split_path(path->is_string() ? path->get<std::string>() : to_text(path.get())));
  }
  if ((!found || found->is_null()) && n.args.size() == 2) return eval(n.args[1], s);
  return found ? Value::ref(*found) : Value();
}

Value Evaluator::iterate(const Node& n, const Scope& s) const {
  auto list = eval(n.args[0], s);
  const json empty = json::array();
  const json& items = list->is_array() ? list.get() : empty;
  Scope inner = s;
  auto each = [&](const json& item) {
    inner.data = &item;
    return eval(n.args[1], inner);
  };
  switch (n.op) {
    case Op::kMap: {
      json out = json::array();
      for (const auto& item : items) {
        auto v = each(item);
        charge(v.get());
        check_size(v.get());
        out.push_back(v.get());
      }
      return Value(std::move(out));
    }
    case Op::kFilter: {
      json out = json::array();
      for (const auto& item : items)
        if (truthy(each(item).get())) {
          charge(item);
          out.push_back(item);
        }
      return Value(std::move(out));
    }
    case Op::kAll:
      if (items.empty()) return boolean(false);
      for (const auto& item : items)
        if (!truthy(each(item).get())) return boolean(false);
      return boolean(true);
    case Op::kNone:
      for (const auto& item : items)
        if (truthy(each(item).get())) return boolean(false);
      return boolean(true);
    case Op::kSome:
      for (const auto& item : items)
        if (truthy(each(item).get())) return boolean(true);
      return boolean(false);
    default: {  // reduce
      json acc = arg(n, 2, s).get();
      for (const auto& item : items) {
        charge(item);
        charge(acc);
        json step = {{"current", item}, {"accumulator", acc}};
        inner.data = &step;
        acc = eval(n.args[1], inner).get();
        check_size(acc);
      }
      return Value(std::move(acc));
    }
  }
}

// flagd's fractional: [bucketBy?, [variant, weight?]...]. The subject's bucket is the murmur3
// hash of bucketBy (default: the flag key followed by the targetingKey) scaled onto the total
// weight, (hash * total) >> 32, and the variants take ranges in order, each its weight wide.
Value Evaluator::fractional(const Node& n, const Scope& s) const {
  std::size_t first = 0;
  std::string bucket_by;
  auto head = eval(n.args[0], s);
  if (head->is_string()) {
    bucket_by = head->get<std::string>();
    first = 1;
  } else {
    if (!head->is_array()) first = 1;  // a bucketBy that found nothing: the targeting key
    auto key = s.context->find("targetingKey");
    if (key == s.context->end() || !key->is_string())
      throw OperatorError{};  // nothing to bucket by
    bucket_by.reserve(s.flag_key.size() + key->get_ref<const std::string&>().size());
    bucket_by.append(s.flag_key).append(key->get_ref<const std::string&>());
  }
  // Two passes over the buckets (literals, mostly: evaluating one again costs nothing): the
  // total weight, then the bucket the hash falls in. Nothing is copied but the variant chosen.
  auto weight_of = [](const json& b) -> std::uint64_t {
    if (!b.is_array() || b.empty()) throw OperatorError{};
    if (b.size() < 2) return 1;
    const auto& w = b[1];
    if (!w.is_number()) throw OperatorError{};
    const double weight = to_number(w);
    if (weight != std::floor(weight)) throw OperatorError{};
    return static_cast<std::uint64_t>(std::max(0.0, std::min(weight, 4e9)));
  };
  std::uint64_t total = 0;
  for (std::size_t i = first; i < n.args.size(); ++i)
    total += weight_of(i == 0 ? head.get() : eval(n.args[i], s).get());
  if (first >= n.args.size() || total == 0 || total > 2147483647u) throw OperatorError{};
  const std::uint64_t bucket = (static_cast<std::uint64_t>(murmur3_32(bucket_by)) * total) >> 32;
  std::uint64_t end = 0;
  for (std::size_t i = first; i < n.args.size(); ++i) {
    auto b = i == 0 ? std::move(head) : eval(n.args[i], s);
    end += weight_of(b.get());
    if (bucket < end) return b.element(0);  // a literal's variant name: not copied
  }
  throw OperatorError{};  // unreachable: bucket < total
}

Value Evaluator::eval(const Node& n, const Scope& s) const {
  if (++steps_ > kMaxSteps) throw OperatorError{};
  return step(n, s);
}

Value Evaluator::step(const Node& n, const Scope& s) const {
  switch (n.op) {
    case Op::kLiteral:
      return Value::ref(n.literal);
    case Op::kArray: {
      json out = json::array();
      for (const auto& a : n.args) {
        auto v = eval(a, s);
        charge(v.get());
        out.push_back(v.get());
      }
      check_size(out);
      return Value(std::move(out));
    }
    case Op::kVar:
      return var(n, s);
    case Op::kIf: {
      std::size_t i = 0;
      for (; i + 1 < n.args.size(); i += 2)
        if (truthy(eval(n.args[i], s).get())) return eval(n.args[i + 1], s);
      return i < n.args.size() ? eval(n.args[i], s) : Value();
    }
    case Op::kEq:
      return boolean(loose_equal(arg(n, 0, s).get(), arg(n, 1, s).get()));
    case Op::kNe:
      return boolean(!loose_equal(arg(n, 0, s).get(), arg(n, 1, s).get()));
    case Op::kStrictEq:
      return boolean(strict_equal(arg(n, 0, s).get(), arg(n, 1, s).get()));
    case Op::kStrictNe:
      return boolean(!strict_equal(arg(n, 0, s).get(), arg(n, 1, s).get()));
    case Op::kLt:
    case Op::kLe: {
      auto a = arg(n, 0, s), b = arg(n, 1, s);
      auto holds = [&](const json& x, const json& y) {
        return n.op == Op::kLt ? less(x, y) : less_equal(x, y);
      };
      if (!holds(a.get(), b.get())) return boolean(false);
      if (n.args.size() == 3) return boolean(holds(b.get(), arg(n, 2, s).get()));
      return boolean(true);
    }
    case Op::kGt:
      return boolean(less(arg(n, 1, s).get(), arg(n, 0, s).get()));
    case Op::kGe:
      return boolean(less_equal(arg(n, 1, s).get(), arg(n, 0, s).get()));
    case Op::kAnd: {
      Value last;
      for (const auto& a : n.args) {
        last = eval(a, s);
        if (!truthy(last.get())) return last;
      }
      return last;
    }
    case Op::kOr: {
      Value last;
      for (const auto& a : n.args) {
        last = eval(a, s);
        if (truthy(last.get())) return last;
      }
      return last;
    }
    case Op::kNot:
      return boolean(!truthy(arg(n, 0, s).get()));
    case Op::kNotNot:
      return boolean(truthy(arg(n, 0, s).get()));
    case Op::kIn: {
      auto needle = arg(n, 0, s), hay = arg(n, 1, s);
      if (hay->is_string()) {
        if (!needle->is_string() && !needle->is_number()) return boolean(false);
        return boolean(hay->get_ref<const std::string&>().find(to_text(needle.get())) !=
                       std::string::npos);
      }
      if (hay->is_array())
        return boolean(std::any_of(hay->begin(), hay->end(),
                                   [&](const json& e) { return strict_equal(e, needle.get()); }));
      return boolean(false);
    }
    case Op::kStartsWith:
    case Op::kEndsWith: {
      auto a = arg(n, 0, s), b = arg(n, 1, s);
      if (!a->is_string() || !b->is_string()) throw OperatorError{};
      std::string_view text = a->get_ref<const std::string&>(),
                       part = b->get_ref<const std::string&>();
      return boolean(n.op == Op::kStartsWith ? text.starts_with(part) : text.ends_with(part));
    }
    case Op::kSemVer:
      return boolean(semver_holds(arg(n, 0, s).get(), arg(n, 1, s).get(), arg(n, 2, s).get()));
    case Op::kFractional:
      return fractional(n, s);
    case Op::kCat: {
      std::string out;
      for (const auto& a : n.args) {
        out += to_text(eval(a, s).get());
        if (out.size() > kMaxText) throw OperatorError{};
      }
      return Value(json(std::move(out)));
    }
    case Op::kSubstr: {
      // By characters, never cutting one in two: where each starts.
      auto text = to_text(arg(n, 0, s).get());
      std::vector<std::size_t> starts;
      for (std::size_t i = 0; i < text.size(); ++i)
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
      const auto size = static_cast<std::int64_t>(starts.size());
      auto whole = [](const json& v) {  // NaN and out-of-range numbers clamped
        const double d = to_number(v);
        return std::isnan(d) ? std::int64_t{0}
                             : static_cast<std::int64_t>(std::clamp(d, -9e15, 9e15));
      };
      auto start = whole(arg(n, 1, s).get());
      if (start < 0) start = std::max<std::int64_t>(0, size + start);
      start = std::min(start, size);
      std::int64_t length = size - start;
      if (n.args.size() == 3) {
        auto l = whole(arg(n, 2, s).get());
        length = l < 0 ? std::max<std::int64_t>(0, size - start + l) : std::min(l, size - start);
      }
      auto at = [&](std::int64_t i) {
        return i < size ? starts[static_cast<std::size_t>(i)] : text.size();
      };
      return Value(json(text.substr(at(start), at(start + length) - at(start))));
    }
    case Op::kAdd:
    case Op::kMul: {
      double acc = n.op == Op::kAdd ? 0 : 1;
      for (const auto& a : n.args) {
        const double x = to_number(eval(a, s).get());
        acc = n.op == Op::kAdd ? acc + x : acc * x;
      }
      return Value(number_json(acc));
    }
    case Op::kSub: {
      const double a = to_number(arg(n, 0, s).get());
      if (n.args.size() == 1) return Value(number_json(-a));
      return Value(number_json(a - to_number(arg(n, 1, s).get())));
    }
    case Op::kDiv:
      return Value(number_json(to_number(arg(n, 0, s).get()) / to_number(arg(n, 1, s).get())));
    case Op::kMod:
      return Value(
          number_json(std::fmod(to_number(arg(n, 0, s).get()), to_number(arg(n, 1, s).get()))));
    case Op::kMin:
    case Op::kMax: {
      if (n.args.empty()) return Value();
      double best = n.op == Op::kMin ? INFINITY : -INFINITY;
      for (const auto& a : n.args) {
        const double x = to_number(eval(a, s).get());
        if (std::isnan(x)) return Value();
        best = n.op == Op::kMin ? std::min(best, x) : std::max(best, x);
      }
      return Value(number_json(best));
    }
    case Op::kMerge: {
      json out = json::array();
      for (const auto& a : n.args) {
        auto v = eval(a, s);
        charge(v.get());
        if (v->is_array()) {
          for (const auto& e : v.get()) out.push_back(e);
        } else {
          out.push_back(v.get());
        }
        check_size(out);
      }
      return Value(std::move(out));
    }
    case Op::kMissing:
    case Op::kMissingSome: {
      const bool some = n.op == Op::kMissingSome;
      json keys = json::array();
      auto collect = [&](const json& v) {
        if (v.is_array()) {
          for (const auto& e : v) keys.push_back(e);
        } else {
          keys.push_back(v);
        }
      };
      if (some) {
        collect(arg(n, 1, s).get());
      } else {
        for (const auto& a : n.args) collect(eval(a, s).get());
      }
      json missing = json::array();
      for (const auto& k : keys) {
        const json* found =
            lookup(*s.data, split_path(k.is_string() ? k.get<std::string>() : to_text(k)));
        if (!found || found->is_null() ||
            (found->is_string() && found->get_ref<const std::string&>().empty()))
          missing.push_back(k);
      }
      if (some) {
        const double need = to_number(arg(n, 0, s).get());
        if (static_cast<double>(keys.size() - missing.size()) >= need) return Value(json::array());
      }
      return Value(std::move(missing));
    }
    case Op::kMap:
    case Op::kFilter:
    case Op::kReduce:
    case Op::kAll:
    case Op::kNone:
    case Op::kSome:
      return iterate(n, s);
  }
  return Value();
}

void literal_results(const Node& n, VariantNames& out) {
  switch (n.op) {
    case Op::kLiteral:
      if (n.literal.is_string()) out.push_back(n.literal.get<std::string>());
      break;
    case Op::kIf:
      for (std::size_t i = 1; i < n.args.size(); i += 2) literal_results(n.args[i], out);
      if (n.args.size() % 2 == 1 && n.args.size() > 1) literal_results(n.args.back(), out);
      break;
    case Op::kFractional:
      for (const auto& b : n.args) {
        if (b.op == Op::kLiteral && b.literal.is_array() && !b.literal.empty() &&
            b.literal[0].is_string())
          out.push_back(b.literal[0].get<std::string>());
        else if (b.op == Op::kArray && !b.args.empty())
          literal_results(b.args[0], out);
      }
      break;
    default:
      break;
  }
}

}  // namespace

bool truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case json::value_t::array:
      return !v.empty();
    case json::value_t::object:
      return true;
    default: {
      const double d = to_number(v);
      return d != 0 && !std::isnan(d);
    }
  }
}

std::uint32_t murmur3_32(std::string_view data, std::uint32_t seed) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t blocks = data.size() / 4;
  std::uint32_t h = seed;
  constexpr std::uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  auto rotl = [](std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  for (std::size_t i = 0; i < blocks; ++i) {
    std::uint32_t k = static_cast<std::uint32_t>(bytes[i * 4]) |
                      static_cast<std::uint32_t>(bytes[i * 4 + 1]) << 8 |
                      static_cast<std::uint32_t>(bytes[i * 4 + 2]) << 16 |
                      static_cast<std::uint32_t>(bytes[i * 4 + 3]) << 24;
    k *= c1;
    k = rotl(k, 15);
    k *= c2;
    h ^= k;
    h = rotl(h, 13);
    h = h * 5 + 0xe6546b64;
  }
  const unsigned char* tail = bytes + blocks * 4;
  std::uint32_t k = 0;
  switch (data.size() & 3) {
    case 3:
      k ^= static_cast<std::uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= static_cast<std::uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      k *= c1;
      k = rotl(k, 15);
      k *= c2;
      h ^= k;
  }
  h ^= static_cast<std::uint32_t>(data.size());
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

std::optional<int> compare_semver(std::string_view a, std::string_view b) {
  auto x = parse_version(a), y = parse_version(b);
  if (!x || !y) return std::nullopt;
  return compare(*x, *y);
}

Rule::Rule() = default;
Rule::Rule(Rule&&) noexcept = default;
Rule& Rule::operator=(Rule&&) noexcept = default;
Rule::~Rule() = default;

Rule Rule::compile(const json& expr, const json& evaluators) {
  Rule rule;
  Compiler compiler(evaluators);
  rule.root_ = std::make_unique<Node>(compiler.compile(expr, 0));
  rule.reads_clock_ = compiler.reads_clock;
  return rule;
}

Value Rule::evaluate(const Scope& scope) const {
  try {
    return Evaluator().eval(*root_, scope);
  } catch (const OperatorError&) {
    return Value();
  }
}

VariantNames Rule::literal_results() const {
  VariantNames names;
  detail::literal_results(*root_, names);
  return names;
}

}  // namespace svckit::flags::detail
