#include "strict_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace svckit::auth::detail {
namespace {

using nlohmann::json;

class Parser {
 public:
  Parser(std::string_view text, int max_depth)
      : p_(text.data()), end_(p_ + text.size()), max_depth_(max_depth) {}

  std::optional<json> parse(std::string& error) {
    json value;
    if (!parse_value(&value, 0) || !at_end()) {
      error = error_;
      return std::nullopt;
    }
    return value;
  }

  // A top-level object, its members kept flat: nested values are checked but not built.
  bool parse_flat(std::vector<FlatMember>& members, std::string& error) {
    skip_space();
    bool ok = p_ != end_ && *p_ == '{' ? parse_flat_members(members) : fail("is not a JSON object");
    if (!ok || !at_end()) {
      error = error_;
      return false;
    }
    return true;
  }

  // Only strings: the items of an array the flat parse already checked.
  bool parse_string_array(std::vector<std::string>& out) {
    skip_space();
    if (p_ == end_ || *p_ != '[') return false;
    ++p_;
    skip_space();
    if (p_ != end_ && *p_ == ']') return ++p_, true;
    for (;;) {
      skip_space();
      if (p_ == end_ || *p_ != '"') return false;
      if (!parse_string(out.emplace_back())) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ']') return ++p_, true;
      if (*p_++ != ',') return false;
    }
  }

 private:
  bool at_end() {
    skip_space();
    if (p_ != end_) return fail("is not valid JSON (bytes after the value)");
    return true;
  }

  bool parse_flat_members(std::vector<FlatMember>& members) {
    ++p_;  // '{'
    skip_space();
    if (p_ != end_ && *p_ == '}') return ++p_, true;
    for (;;) {
      skip_space();
      if (p_ == end_ || *p_ != '"') return fail("is not valid JSON");
      FlatMember& m = members.emplace_back();
      if (!parse_string(m.name)) return false;
      for (std::size_t i = 0; i + 1 < members.size(); ++i)
        if (members[i].name == m.name) return fail("has a duplicate member");
      skip_space();
      if (p_ == end_ || *p_ != ':') return fail("is not valid JSON");
      ++p_;
      if (!parse_flat_value(m)) return false;
      skip_space();
      if (p_ == end_) return fail("is not valid JSON");
      if (*p_ == '}') return ++p_, true;
      if (*p_++ != ',') return fail("is not valid JSON");
    }
  }

  bool parse_flat_value(FlatMember& m) {
    skip_space();
    if (p_ == end_) return fail("is not valid JSON");
    const char* start = p_;
    bool ok = true;
    switch (*p_) {
      case '"':
        m.kind = FlatKind::string;
        return parse_string(m.text);
      case '{':
      case '[':
        m.kind = *p_ == '{' ? FlatKind::object : FlatKind::array;
        ok = parse_value(nullptr, 1);
        break;
      case 't':
      case 'f':
        m.kind = FlatKind::boolean;
        ok = literal(*p_ == 't' ? "true" : "false");
        break;
      case 'n':
        m.kind = FlatKind::null;
        ok = literal("null");
        break;
      default:
        m.kind = FlatKind::number;
        ok = parse_number(nullptr, &m.number);
    }
    m.text.assign(start, p_);
    return ok;
  }

  bool fail(const char* why) {
    error_ = why;
    return false;
  }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word)
      return fail("is not valid JSON");
    p_ += word.size();
    return true;
  }

  // Builds the value into `out`, or only checks it when `out` is null.
  bool parse_value(json* out, int depth) {
    skip_space();
    if (p_ == end_) return fail("is not valid JSON");
    switch (*p_) {
      case '{':
        return parse_object(out, depth + 1);
      case '[':
        return parse_array(out, depth + 1);
      case '"': {
        scratch_.clear();
        if (!parse_string(scratch_)) return false;
        if (out) *out = scratch_;
        return true;
      }
      case 't':
        if (out) *out = true;
        return literal("true");
      case 'f':
        if (out) *out = false;
        return literal("false");
      case 'n':
        if (out) *out = nullptr;
        return literal("null");
      default:
        return parse_number(out, nullptr);
    }
  }

  bool parse_object(json* out, int depth) {
    if (depth > max_depth_) return fail("is nested too deeply");
    ++p_;                         // '{'
    json::object_t checked_only;  // the names seen, when only checking
    if (out) *out = json::object();
    auto& members = out ? out->get_ref<json::object_t&>() : checked_only;
    skip_space();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_space();
      if (p_ == end_ || *p_ != '"') return fail("is not valid JSON");
      std::string name;
      if (!parse_string(name)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return fail("is not valid JSON");
      ++p_;
      json value;
      if (!parse_value(out ? &value : nullptr, depth)) return false;
      // A parser that kept the first or the last would let two readers see different claims.
      if (!members.emplace(std::move(name), std::move(value)).second)
        return fail("has a duplicate member");
      skip_space();
      if (p_ == end_) return fail("is not valid JSON");
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_++ != ',') return fail("is not valid JSON");
    }
  }

  bool parse_array(json* out, int depth) {
    if (depth > max_depth_) return fail("is nested too deeply");
    ++p_;  // '['
    if (out) *out = json::array();
    skip_space();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      json value;
      if (!parse_value(out ? &value : nullptr, depth)) return false;
      if (out) out->get_ref<json::array_t&>().push_back(std::move(value));
      skip_space();
      if (p_ == end_) return fail("is not valid JSON");
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_++ != ',') return fail("is not valid JSON");
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool read_hex4(unsigned& value) {
    if (end_ - p_ < 4) return false;
    value = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return false;
      value = value << 4 | static_cast<unsigned>(h);
    }
    p_ += 4;
    return true;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | cp >> 12);
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | cp >> 18);
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  // The length of the well-formed UTF-8 sequence at p_ (RFC 3629), or 0.
  std::size_t utf8_sequence() const {
    auto at = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
    auto cont = [&](std::ptrdiff_t i) { return i < end_ - p_ && (at(i) & 0xc0) == 0x80; };
    unsigned char c = at(0);
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xe0 && at(1) < 0xa0) return 0;   // overlong
      if (c == 0xed && at(1) >= 0xa0) return 0;  // a surrogate
      return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xf0 && at(1) < 0x90) return 0;
      if (c == 0xf4 && at(1) >= 0x90) return 0;  // beyond U+10FFFF
      return 4;
    }
    return 0;
  }

  bool parse_string(std::string& out) {
    ++p_;  // '"'
    for (;;) {
      const char* run = p_;
      while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20 &&
             static_cast<unsigned char>(*p_) < 0x80)
        ++p_;
      out.append(run, p_);
      if (p_ == end_) return fail("is not valid JSON (an unterminated string)");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail("is not valid JSON (a control character in a string)");
      if (c >= 0x80) {
        std::size_t n = utf8_sequence();
        if (n == 0) return fail("is not valid UTF-8");
        out.append(p_, n);
        p_ += n;
        continue;
      }
      // A backslash escape.
      if (++p_ == end_) return fail("is not valid JSON");
      char e = *p_++;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!read_hex4(cp)) return fail("is not valid JSON (a bad \\u escape)");
          if (cp >= 0xdc00 && cp <= 0xdfff) return fail("is not valid JSON (a lone surrogate)");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
              return fail("is not valid JSON (a lone surrogate)");
            p_ += 2;
            if (!read_hex4(low) || low < 0xdc00 || low > 0xdfff)
              return fail("is not valid JSON (a lone surrogate)");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return fail("is not valid JSON (a bad escape)");
      }
    }
  }

  // Into `out` (an integer when it is one), or as a double into `as_double`; either may be null.
  bool parse_number(json* out, double* as_double) {
    const char* start = p_;
    bool integral = true;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return fail("is not valid JSON");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return fail("is not valid JSON");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return fail("is not valid JSON");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (integral && out) {
      std::int64_t i = 0;
      if (std::from_chars(start, p_, i).ec == std::errc()) {
        *out = i;
        return true;
      }
      std::uint64_t u = 0;
      if (*start != '-' && std::from_chars(start, p_, u).ec == std::errc()) {
        *out = u;
        return true;
      }
    }
    double d = 0;
    auto [end, ec] = std::from_chars(start, p_, d);
    if (ec != std::errc() || end != p_ || !std::isfinite(d))
      return fail("is not valid JSON (a number out of range)");
    if (out) *out = d;
    if (as_double) *as_double = d;
    return true;
  }

  const char* p_;
  const char* end_;
  int max_depth_;
  const char* error_ = "is not valid JSON";
  std::string scratch_;  // string values being checked or copied, reused
};

}  // namespace

std::optional<nlohmann::json> parse_strict_json(std::string_view text, int max_depth,
                                                std::string& error) {
  return Parser(text, max_depth).parse(error);
}

bool parse_strict_flat_object(std::string_view text, int max_depth,
                              std::vector<FlatMember>& members, std::string& error) {
  return Parser(text, max_depth).parse_flat(members, error);
}

std::optional<std::vector<std::string>> parse_string_array(std::string_view text) {
  std::vector<std::string> out;
  Parser parser(text, 1);
  if (!parser.parse_string_array(out)) return std::nullopt;
  return out;
}

}  // namespace svckit::auth::detail
