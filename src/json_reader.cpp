#include "svckit/json_reader.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>

#include "svckit/utf8.hpp"

namespace svckit {
namespace {

using nlohmann::json;

// Thrown for what needs nlohmann's parser to decide (numbers out of a double's range).
struct Undecided {};

class Reader {
 public:
  Reader(std::string_view text, int max_depth)
      : p_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  // False when the text is not one JSON value (with whitespace around).
  bool read(json& out) {
    if (end_ - p_ >= 3 && std::string_view(p_, 3) == "\xEF\xBB\xBF")
      p_ += 3;  // nlohmann skips a BOM
    if (!value(out, 0)) return false;
    skip_space();
    return p_ == end_;
  }

 private:
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  bool value(json& out, int depth) {
    skip_space();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"':
        out = json::value_t::string;
        return string(out.get_ref<json::string_t&>());
      case 't':
        out = true;
        return literal("true");
      case 'f':
        out = false;
        return literal("false");
      case 'n':
        out = nullptr;
        return literal("null");
      default:
        return number(out);
    }
  }

  bool object(json& out, int depth) {
    if (depth > max_depth_) return false;
    ++p_;  // {
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    skip_space();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    while (true) {
      skip_space();
      std::string key;
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      // Read in place, no temporary to move and destroy; a repeated name: the last one, as
      // nlohmann (value() overwrites what the slot held).
      if (!value(members[std::move(key)], depth)) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_++ != ',') return false;
    }
  }

  bool array(json& out, int depth) {
    if (depth > max_depth_) return false;
    ++p_;  // [
    out = json::array();
    skip_space();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    auto& items = out.get_ref<json::array_t&>();
    while (true) {
      if (!value(items.emplace_back(), depth)) return false;  // read in place
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_++ != ',') return false;
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool code_unit(std::uint32_t& unit) {  // the four hex digits after \u
    if (end_ - p_ < 4) return false;
    unit = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(p_[i]);
      if (h < 0) return false;
      unit = unit * 16 + static_cast<std::uint32_t>(h);
    }
    p_ += 4;
    return true;
  }

  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool escape(std::string& s) {
    if (p_ == end_) return false;
    switch (*p_++) {
      case '"':
        s += '"';
        return true;
      case '\\':
        s += '\\';
        return true;
      case '/':
        s += '/';
        return true;
      case 'b':
        s += '\b';
        return true;
      case 'f':
        s += '\f';
        return true;
      case 'n':
        s += '\n';
        return true;
      case 'r':
        s += '\r';
        return true;
      case 't':
        s += '\t';
        return true;
      case 'u': {
        std::uint32_t unit = 0;
        if (!code_unit(unit)) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
        if (unit >= 0xD800 && unit <= 0xDBFF) {              // must be followed by its low half
          std::uint32_t low = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
          p_ += 2;
          if (!code_unit(low) || low < 0xDC00 || low > 0xDFFF) return false;
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(s, unit);
        return true;
      }
      default:
        return false;
    }
  }

  // Nonzero when a byte of the eight in `w` is a quote, a backslash, a control character or
  // not ASCII: where a run of plain ASCII, which needs no look at each byte, ends.
  static std::uint64_t ends_ascii_run(std::uint64_t w) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
    auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
    return ((w - kOnes * 0x20) & ~w & kHighs) | has_zero(w ^ (kOnes * '"')) |
           has_zero(w ^ (kOnes * '\\')) | (w & kHighs);
  }

  bool string(std::string& s) {
    ++p_;               // "
    bool ascii = true;  // so far: then the text is UTF-8 without a second look
    while (true) {
      const char* run = p_;  // plain bytes up to a quote, a backslash or a control character
      std::uint64_t w;
      while (end_ - p_ >= 8 && (std::memcpy(&w, p_, 8), !ends_ascii_run(w))) p_ += 8;
      while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) {
        ascii &= static_cast<unsigned char>(*p_) < 0x80;
        ++p_;
      }
      s.append(run, p_);
      if (p_ == end_ || static_cast<unsigned char>(*p_) < 0x20) return false;
      if (*p_ == '"') {
        ++p_;
        // An escape always writes whole characters: the raw bytes decide.
        return ascii || is_utf8(s);
      }
      ++p_;  // backslash
      if (!escape(s)) return false;
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(json& out) {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    bool integral = true;
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (integral) {  // as nlohmann: negative int64, else uint64, else a double
      if (*start == '-') {
        std::int64_t i = 0;
        auto [end, ec] = std::from_chars(start, p_, i);
        if (ec == std::errc() && end == p_) {
          out = i;
          return true;
        }
      } else {
        std::uint64_t u = 0;
        auto [end, ec] = std::from_chars(start, p_, u);
        if (ec == std::errc() && end == p_) {
          out = u;  // nlohmann keeps a number without a sign unsigned
          return true;
        }
      }
    }
    double d = 0;
    auto [end, ec] = std::from_chars(start, p_, d);
    if (ec != std::errc() || end != p_) throw Undecided{};  // beyond a double: nlohmann says
    out = d;
    return true;
  }

  const char* p_;
  const char* end_;
  int max_depth_;
};

}  // namespace

bool json_nests_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::optional<json> read_json(std::string_view text, int max_depth) {
  json out;
  try {
    if (!Reader(text, max_depth).read(out)) return std::nullopt;
  } catch (const Undecided&) {
    if (json_nests_deeper_than(text, max_depth)) return std::nullopt;
    if (text.find('\0') != std::string_view::npos)
      return std::nullopt;  // nlohmann would stop there
    auto parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
  }
  return out;
}

}  // namespace svckit
