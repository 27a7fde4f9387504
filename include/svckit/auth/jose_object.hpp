#pragma once
// A JOSE header or JWT claims set as the verifier read it: a JSON object parsed strictly (no
// duplicate members at any depth, bounded nesting, valid UTF-8), its top-level members kept flat
// and typed on access. Tokens are read on every authenticated request; building a DOM for each
// cost more than the HMAC. json() builds one for callers that want it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace svckit::auth {

class JoseObject {
 public:
  enum class Kind { string, number, boolean, null, array, object };
  struct Member {
    std::string name;
    Kind kind = Kind::null;
    std::string text;   // a string's decoded value; any other value's JSON text
    double number = 0;  // when kind is number
  };

  JoseObject() = default;
  // nullopt with `error` saying why ("has a duplicate member", "is not a JSON object", ...).
  static std::optional<JoseObject> parse(std::string_view text, std::string& error);

  std::size_t size() const { return members_.size(); }
  const std::vector<Member>& members() const { return members_; }
  const Member* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // nullopt when absent or of another type.
  std::optional<std::string_view> string(std::string_view name) const;
  std::optional<double> number(std::string_view name) const;
  // An array of strings; nullopt when absent, not an array, or holding anything but strings.
  std::optional<std::vector<std::string>> strings(std::string_view name) const;

  // One member's value as JSON (null when absent), or the whole object.
  nlohmann::json value(std::string_view name) const;
  nlohmann::json json() const;

 private:
  std::vector<Member> members_;
};

}  // namespace svckit::auth
