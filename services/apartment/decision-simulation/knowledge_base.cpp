#include "knowledge_base.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <svckit/auth/api_key.hpp>

namespace apartment::decision {
namespace {

std::string trim(std::string_view s) {
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  auto end = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(begin, end - begin + 1));
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, separator);)
    if (auto t = trim(part); !t.empty()) out.push_back(t);
  return out;
}

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 100 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

const std::set<std::string, std::less<>>& stop_words() {
  static const std::set<std::string, std::less<>> words = {
      "a",    "an",    "and",   "are",   "as",    "at",   "be",   "but",   "by",  "can",
      "do",   "does",  "for",   "from",  "has",   "have", "how",  "i",     "if",  "in",
      "is",   "it",    "its",   "me",    "my",    "of",   "on",   "or",    "our", "should",
      "so",   "that",  "the",   "their", "there", "this", "to",   "was",   "we",  "what",
      "when", "where", "which", "who",   "why",   "will", "with", "would", "you", "your"};
  return words;
}

}  // namespace

bool Document::applies_to(std::string_view category) const {
  return std::find(categories.begin(), categories.end(), "all") != categories.end() ||
         std::find(categories.begin(), categories.end(), category) != categories.end();
}

Document parse_document(const std::string& text, const std::string& file) {
  auto fail = [&](const std::string& why) -> std::invalid_argument {
    return std::invalid_argument("the knowledge document '" + file + "': " + why);
  };
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || trim(line) != "---") throw fail("does not start with ---");
  Document d;
  std::map<std::string, std::string> fields;
  bool closed = false;
  while (std::getline(in, line)) {
    if (trim(line) == "---") {
      closed = true;
      break;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) throw fail("a front matter line without ':': " + line);
    fields[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  if (!closed) throw fail("the front matter has no closing ---");
  for (const char* key : {"id", "title", "type", "categories"})
    if (fields[key].empty()) throw fail(std::string("no ") + key);
  d.id = fields["id"];
  if (!valid_id(d.id)) throw fail("the id '" + d.id + "' is not lower-case letters, digits and -");
  d.title = fields["title"];
  d.type = fields["type"];
  if (std::find(kDocumentTypes.begin(), kDocumentTypes.end(), d.type) == kDocumentTypes.end())
    throw fail("the type '" + d.type + "' is not policy, procedure, sla, contract or faq");
  d.categories = split(fields["categories"], ',');
  for (const auto& c : d.categories)
    if (c != "all" && std::find(kCategories.begin(), kCategories.end(), c) == kCategories.end())
      throw fail("'" + c + "' is not a category");
  for (const auto& rule : split(fields["rules"], ',')) {
    auto eq = rule.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == rule.size())
      throw fail("the rule '" + rule + "' is not key=value");
    d.rules.emplace_back(trim(rule.substr(0, eq)), trim(rule.substr(eq + 1)));
  }
  std::stringstream body;
  body << in.rdbuf();
  d.body = trim(body.str());
  if (d.body.empty()) throw fail("the body is empty");
  return d;
}

std::vector<Document> read_documents(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw std::invalid_argument("the knowledge directory '" + dir + "' is not a directory");
  std::vector<Document> out;
  std::set<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".md") continue;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    auto d = parse_document(text.str(), entry.path().string());
    if (d.id != entry.path().stem().string())
      throw std::invalid_argument("the knowledge document '" + entry.path().string() +
                                  "' has the id '" + d.id + "', not its file's name");
    ids.insert(d.id);
    out.push_back(std::move(d));
  }
  if (out.empty())
    throw std::invalid_argument("the knowledge directory '" + dir + "' has no .md documents");
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::string fts_query(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 2 && !stop_words().contains(word) &&
        std::find(words.begin(), words.end(), word) == words.end())
      words.push_back(word);
    word.clear();
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c))
      word += static_cast<char>(std::tolower(c));
    else
      flush();
    if (words.size() >= 64) break;  // a query of a thousand words asks no better
  }
  flush();
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "\"" : " OR \"") + w + "\"";
  return out;
}

KnowledgeBase::KnowledgeBase(std::vector<Document> documents,
                             std::unique_ptr<svckit::sql::Database> db)
    : documents_(std::move(documents)), db_(std::move(db)) {
  std::string all;
  for (const auto& d : documents_) all += d.id + '\n' + d.title + '\n' + d.body + '\n';
  version_ = "kb-" + svckit::auth::sha256_hex({all}).substr(0, 12);
}

svckit::Task<void> KnowledgeBase::build_index() {
  co_await db_->execute("DROP TABLE IF EXISTS knowledge");
  co_await db_->execute(
      "CREATE VIRTUAL TABLE knowledge USING fts5(id UNINDEXED, title, body, type UNINDEXED, "
      "categories UNINDEXED, tokenize = 'porter unicode61')");
  co_await db_->transaction([this](svckit::sql::Transaction& tx) -> svckit::Task<void> {
    for (const auto& d : documents_) {
      std::string categories = ",";
      for (const auto& c : d.categories) categories += c + ",";
      co_await tx.execute(
          "INSERT INTO knowledge (id, title, body, type, categories) VALUES (?, ?, ?, ?, ?)", d.id,
          d.title, d.body, d.type, categories);
    }
  });
}

svckit::Task<std::vector<RetrievedDocument>> KnowledgeBase::search(
    std::string query, std::int64_t top_k, std::vector<std::string> types,
    std::optional<std::string> category) {
  std::vector<RetrievedDocument> out;
  auto match = fts_query(query);
  if (match.empty()) co_return out;
  std::string sql =
      "SELECT id, title, type, categories, -bm25(knowledge, 0, ?, ?, 0, 0) AS score, "
      "snippet(knowledge, 2, '', '', ' ... ', 24) AS snippet FROM knowledge WHERE knowledge MATCH "
      "?";
  std::vector<svckit::sql::Value> params{kTitleWeight, kBodyWeight, match};
  if (!types.empty()) {
    sql += " AND type IN (";
    for (std::size_t i = 0; i < types.size(); ++i) {
      sql += i ? ", ?" : "?";
      params.emplace_back(types[i]);
    }
    sql += ")";
  }
  if (category) {
    sql += " AND (categories LIKE ? OR categories LIKE '%,all,%')";
    params.emplace_back("%," + *category + ",%");
  }
  sql += " ORDER BY score DESC, id LIMIT ?";
  params.emplace_back(top_k);
  auto result = co_await db_->read(std::move(sql), std::move(params));
  for (const auto& row : result.rows) {
    RetrievedDocument d;
    d.id = row.text("id");
    d.title = row.text("title");
    d.type = row.text("type");
    d.categories = split(row.text("categories"), ',');
    d.score = std::round(row["score"].as_double() * 1e4) / 1e4;
    d.snippet = row.text("snippet");
    out.push_back(std::move(d));
  }
  co_return out;
}

const Document* KnowledgeBase::find(std::string_view id) const {
  for (const auto& d : documents_)
    if (d.id == id) return &d;
  return nullptr;
}

}  // namespace apartment::decision
