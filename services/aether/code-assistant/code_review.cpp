#include "code_review.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

namespace aether::code_assistant {
namespace {

struct Rule {
  const char* severity;
  const char* suggestion;
};

// What each rule says when it fired at least once.
const std::map<std::string, Rule, std::less<>>& rules() {
  static const std::map<std::string, Rule, std::less<>> kRules = {
      {"line-length", {"warning", "Wrap or split lines longer than the limit."}},
      {"trailing-whitespace", {"info", "Strip trailing whitespace (most editors can on save)."}},
      {"mixed-indentation", {"warning", "Indent with spaces only."}},
      {"todo", {"info", "Resolve or ticket the TODO/FIXME comments."}},
      {"long-function", {"warning", "Split long functions into smaller ones with clear names."}},
      {"deep-nesting", {"warning", "Flatten deep nesting: return early, extract inner blocks."}},
      {"bare-except", {"error", "Catch specific exceptions instead of a bare except."}},
      {"mutable-default",
       {"error", "Use None as the default and create the list/dict inside the function."}},
      {"wildcard-import", {"warning", "Import names explicitly instead of with *."}},
      {"eval", {"error", "Do not evaluate strings as code (eval/exec)."}},
      {"none-comparison", {"info", "Compare with None using 'is' / 'is not'."}},
      {"using-namespace", {"warning", "Avoid 'using namespace' (never in headers)."}},
      {"raw-new-delete", {"warning", "Own memory with std::unique_ptr / std::make_unique."}},
      {"null-macro", {"info", "Use nullptr instead of NULL."}},
      {"unsafe-c-string",
       {"error", "Replace gets/strcpy/strcat/sprintf with bounded or std::string APIs."}},
      {"c-style-cast", {"info", "Use static_cast (or another named cast) instead of C casts."}},
      {"var", {"info", "Declare with let or const instead of var."}},
      {"loose-equality", {"warning", "Compare with === and !== ."}},
  };
  return kRules;
}

int severity_rank(std::string_view s) {
  return s == "error" ? 0 : s == "warning" ? 1 : 2;
}

std::vector<std::string_view> split_lines(std::string_view code) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= code.size()) {
    auto end = code.find('\n', start);
    if (end == std::string_view::npos) end = code.size();
    auto line = code.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == code.size()) break;
    start = end + 1;
  }
  if (!lines.empty() && lines.back().empty() && !code.empty() && code.back() == '\n')
    lines.pop_back();
  return lines;
}

// The code of each line with string and character literals blanked and comments removed, so
// that a rule never fires on text inside a string. C-family block comments span lines.
std::vector<std::string> code_only(const std::vector<std::string_view>& lines, bool python) {
  std::vector<std::string> out;
  bool in_block = false;
  for (auto line : lines) {
    std::string s;
    for (std::size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (in_block) {
        if (c == '*' && i + 1 < line.size() && line[i + 1] == '/') {
          in_block = false;
          ++i;
        }
        continue;
      }
      if (python && c == '#') break;
      if (!python && c == '/' && i + 1 < line.size() && line[i + 1] == '/') break;
      if (!python && c == '/' && i + 1 < line.size() && line[i + 1] == '*') {
        in_block = true;
        ++i;
        continue;
      }
      if (c == '"' || c == '\'' || (!python && c == '`')) {
        s += c;
        for (++i; i < line.size() && line[i] != c; ++i)
          if (line[i] == '\\') ++i;
        s += c;
        continue;
      }
      s += c;
    }
    out.push_back(std::move(s));
  }
  return out;
}

int indent_width(std::string_view line) {
  int w = 0;
  for (char c : line) {
    if (c == ' ')
      ++w;
    else if (c == '\t')
      w += 4;
    else
      break;
  }
  return w;
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

class Reviewer {
 public:
  Reviewer(std::string_view code, std::string language)
      : lines_(split_lines(code)), language_(std::move(language)) {
    python_ = language_ == "python";
    cfamily_ = language_ == "cpp" || language_ == "javascript";
    code_ = code_only(lines_, python_);
  }

  Review run() {
    generic();
    if (python_) python();
    if (language_ == "cpp") cpp();
    if (language_ == "javascript") javascript();
    if (python_) python_functions();
    if (cfamily_) brace_functions();
    return result();
  }

 private:
  void add(const std::string& rule, int line, std::string message) {
    if (findings_.size() >= kMaxFindings) return;
    findings_.push_back({rules().at(rule).severity, line, rule, std::move(message)});
  }

  void generic() {
    std::size_t limit = python_ ? 99 : cfamily_ ? 100 : 120;
    bool spaces = false, tabs = false;
    for (const auto& l : lines_) {
      if (l.starts_with(' ')) spaces = true;
      if (l.starts_with('\t')) tabs = true;
    }
    static const std::regex todo(R"(\b(TODO|FIXME|XXX|HACK)\b)");
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      auto l = lines_[i];
      int n = static_cast<int>(i) + 1;
      if (l.size() > limit)
        add("line-length", n,
            "line is " + std::to_string(l.size()) + " characters (limit " + std::to_string(limit) +
                ")");
      if (!l.empty() && (l.back() == ' ' || l.back() == '\t'))
        add("trailing-whitespace", n, "trailing whitespace");
      auto lead = l.substr(0, l.find_first_not_of(" \t"));
      if (lead.find('\t') != std::string_view::npos && lead.find(' ') != std::string_view::npos)
        add("mixed-indentation", n, "indentation mixes tabs and spaces");
      else if (spaces && tabs && l.starts_with('\t'))
        add("mixed-indentation", n, "indented with a tab where the file uses spaces");
      std::match_results<std::string_view::const_iterator> m;
      if (l.size() <= kMaxScannedLine && std::regex_search(l.begin(), l.end(), m, todo))
        add("todo", n, m[1].str() + " comment");
    }
  }

  // Lines longer than this are reported as too long and not searched by the rules (libstdc++'s
  // regex recurses per character and a megabyte-long line would overflow the stack).
  static constexpr std::size_t kMaxScannedLine = 2000;

  void each(const std::regex& pattern, const std::string& rule, const std::string& message) {
    for (std::size_t i = 0; i < code_.size(); ++i)
      if (code_[i].size() <= kMaxScannedLine && std::regex_search(code_[i], pattern))
        add(rule, static_cast<int>(i) + 1, message);
  }

  void python() {
    each(std::regex(R"(^\s*except\s*:)"), "bare-except",
         "bare 'except:' also catches KeyboardInterrupt and SystemExit");
    each(std::regex(R"(\bdef\s+\w+\s*\(.*=\s*(\[|\{|set\(|list\(|dict\())"), "mutable-default",
         "mutable default argument: it is shared between calls");
    each(std::regex(R"(^\s*from\s+\S+\s+import\s+\*)"), "wildcard-import", "wildcard import");
    each(std::regex(R"((^|[^\w.])(eval|exec)\s*\()"), "eval", "eval/exec runs a string as code");
    each(std::regex(R"((==|!=)\s*None\b)"), "none-comparison", "comparison with None by ==/!=");
  }

  void cpp() {
    bool header = false;
    static const std::regex guard(R"(^\s*#\s*ifndef\s+\w+_H)");
    for (const auto& l : code_)
      if (l.find("#pragma once") != std::string::npos ||
          (l.size() <= kMaxScannedLine && std::regex_search(l, guard)))
        header = true;
    each(std::regex(R"(^\s*using\s+namespace\s+[\w:]+\s*;)"), "using-namespace",
         header ? "'using namespace' in a header leaks into every file that includes it"
                : "'using namespace' brings a whole namespace into scope");
    each(std::regex(R"((^|[^\w])new\s+[A-Za-z_:][\w:<>]*\s*[\(\[{;])"), "raw-new-delete",
         "raw new: who deletes it?");
    each(std::regex(R"((^|[^\w=])delete(\s*\[\s*\])?\s+[A-Za-z_(])"), "raw-new-delete",
         "raw delete");
    each(std::regex(R"(\bNULL\b)"), "null-macro", "NULL instead of nullptr");
    each(std::regex(R"((^|[^\w.>:])(gets|strcpy|strcat|sprintf|vsprintf)\s*\()"), "unsafe-c-string",
         "unbounded C string function");
    each(std::regex(R"(\(\s*(int|long|short|char|float|double|unsigned|bool|size_t)\s*\)\s*[\w(])"),
         "c-style-cast", "C-style cast");
  }

  void javascript() {
    each(std::regex(R"((^|[^\w.])var\s+[A-Za-z_$])"), "var", "'var' is function-scoped");
    each(std::regex(R"([^=!<>]==[^=]|!=[^=])"), "loose-equality", "== / != convert types first");
    each(std::regex(R"((^|[^\w.])eval\s*\()"), "eval", "eval runs a string as code");
  }

  // Python functions: a def and the lines indented deeper than it.
  void python_functions() {
    static const std::regex def(R"(^(\s*)(async\s+)?def\s+(\w+)\s*\()");
    for (std::size_t i = 0; i < code_.size(); ++i) {
      std::smatch m;
      if (code_[i].size() > kMaxScannedLine || !std::regex_search(code_[i], m, def)) continue;
      functions_.push_back(m[3].str());
      int base = indent_width(lines_[i]);
      std::size_t last = i;
      int deepest = 0;
      std::size_t deepest_line = i;
      for (std::size_t j = i + 1; j < lines_.size(); ++j) {
        if (blank(lines_[j])) continue;
        int w = indent_width(lines_[j]);
        if (w <= base) break;
        last = j;
        int depth = (w - base) / 4;  // levels inside the function body (1 = its own level)
        if (depth > deepest) {
          deepest = depth;
          deepest_line = j;
        }
      }
      check_function(m[3].str(), i, last, deepest - 1, deepest_line);
    }
  }

  // The name of the function a C-family line opens ("int Foo::bar(int x) const {" -> "bar"),
  // empty when the line opens none: it must end with '{', have parameters, and the word before
  // the first '(' must be a name that is not a control keyword. By hand: a regex with nested
  // repetition backtracks badly on long lines.
  static std::string function_opened(std::string_view line) {
    static const std::set<std::string, std::less<>> keywords = {
        "if", "for", "while", "switch", "catch", "return", "sizeof", "function", "else", "do"};
    auto end = line.find_last_not_of(" \t");
    if (end == std::string_view::npos || line[end] != '{') return {};
    auto open = line.find('(');
    if (open == std::string_view::npos || line.rfind(')', end) == std::string_view::npos ||
        line.rfind(')', end) < open)
      return {};
    auto stop = line.find_last_not_of(" \t", open == 0 ? 0 : open - 1);
    if (stop == std::string_view::npos || open == 0) return {};
    auto start = stop + 1;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(line[start - 1])) ||
                         line[start - 1] == '_' || line[start - 1] == '~'))
      --start;
    std::string name(line.substr(start, stop + 1 - start));
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
        keywords.contains(name))
      return {};
    return name;
  }

  // C-family functions: a line that opens one, and the lines until its brace closes.
  void brace_functions() {
    std::size_t i = 0;
    while (i < code_.size()) {
      std::string name = code_[i].size() > kMaxScannedLine ? "" : function_opened(code_[i]);
      if (name.empty()) {
        ++i;
        continue;
      }
      int depth = 0, deepest = 0;
      std::size_t deepest_line = i, end = i;
      bool opened = false;
      for (std::size_t j = i; j < code_.size(); ++j) {
        for (char c : code_[j]) {
          if (c == '{') {
            ++depth;
            opened = true;
            if (depth > deepest) {
              deepest = depth;
              deepest_line = j;
            }
          } else if (c == '}') {
            --depth;
          }
        }
        end = j;
        if (opened && depth <= 0) break;
      }
      functions_.push_back(name);
      check_function(name, i, end, deepest - 1, deepest_line);
      i = end + 1;
    }
  }

  void check_function(const std::string& name, std::size_t first, std::size_t last, int nesting,
                      std::size_t nesting_line) {
    std::size_t length = last - first + 1;
    std::size_t limit = python_ ? 50 : 60;
    if (length > limit)
      add("long-function", static_cast<int>(first) + 1,
          "function " + name + " is " + std::to_string(length) + " lines (limit " +
              std::to_string(limit) + ")");
    if (nesting > 4)
      add("deep-nesting", static_cast<int>(nesting_line) + 1,
          "blocks nested " + std::to_string(nesting) + " deep in " + name + " (limit 4)");
  }

  Review result() {
    Review r;
    std::stable_sort(findings_.begin(), findings_.end(),
                     [](const Finding& a, const Finding& b) { return a.line < b.line; });
    std::map<std::string, int> fired;
    int penalty = 0;
    for (const auto& f : findings_) {
      ++fired[f.rule];
      penalty += f.severity == "error" ? 10 : f.severity == "warning" ? 3 : 1;
    }
    std::vector<std::pair<int, std::string>> advice;
    for (const auto& [rule, count] : fired)
      advice.push_back({severity_rank(rules().at(rule).severity), rule});
    std::stable_sort(advice.begin(), advice.end());
    for (const auto& [rank, rule] : advice) r.suggestions.push_back(rules().at(rule).suggestion);
    r.issues = std::move(findings_);
    r.score = std::max(0, 100 - penalty);
    r.language = language_;
    r.lines = static_cast<int>(lines_.size());
    r.functions = std::move(functions_);
    return r;
  }

  std::vector<std::string_view> lines_;
  std::vector<std::string> code_;
  std::string language_;
  bool python_ = false;
  bool cfamily_ = false;
  std::vector<Finding> findings_;
  std::vector<std::string> functions_;
};

}  // namespace

std::string normalize_language(std::string_view language) {
  std::string l;
  for (char c : language) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "python" || l == "py" || l == "python3") return "python";
  if (l == "cpp" || l == "c++" || l == "cc" || l == "cxx" || l == "hpp" || l == "c") return "cpp";
  if (l == "javascript" || l == "js" || l == "typescript" || l == "ts" || l == "node")
    return "javascript";
  return l;
}

Review review(std::string_view code, std::string_view language) {
  return Reviewer(code, normalize_language(language)).run();
}

}  // namespace aether::code_assistant
