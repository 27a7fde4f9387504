#pragma once
// Decision & Simulation's knowledge base: the policy and procedure documents in a directory (one
// Markdown file each, with a front matter of id, title, type, categories and optional
// machine-readable rules), indexed at start in SQLite FTS5 and searched with BM25.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "apartment/retrieval.hpp"

namespace apartment::decision {

struct Document {
  std::string id;
  std::string title;
  std::string type;
  std::vector<std::string> categories;                     // or {"all"}
  std::vector<std::pair<std::string, std::string>> rules;  // key=value, in the file's order
  std::string body;

  bool applies_to(std::string_view category) const;
};

// Reads one document. Throws std::invalid_argument naming the file and the fault.
Document parse_document(const std::string& text, const std::string& file);
// Every *.md file of `dir`, sorted by id; at least one. Throws std::invalid_argument.
std::vector<Document> read_documents(const std::string& dir);

class KnowledgeBase {
 public:
  static constexpr double kTitleWeight = 4.0;
  static constexpr double kBodyWeight = 1.0;

  // Indexes `documents` into `db` (a SQLite database of its own) at start(): the index is
  // built again from the files every time.
  KnowledgeBase(std::vector<Document> documents, std::unique_ptr<svckit::sql::Database> db);
  svckit::Task<void> build_index();

  // The best `top_k` documents for `query`, filtered by type and category; none when no word
  // of the query is in any document.
  svckit::Task<std::vector<RetrievedDocument>> search(std::string query, std::int64_t top_k,
                                                      std::vector<std::string> types,
                                                      std::optional<std::string> category);

  const std::vector<Document>& documents() const { return documents_; }
  const Document* find(std::string_view id) const;
  // A digest of every document's text: which knowledge a decision was made with.
  const std::string& version() const { return version_; }

 private:
  std::vector<Document> documents_;
  std::unique_ptr<svckit::sql::Database> db_;
  std::string version_;
};

// The FTS5 query for a person's words: each word of two letters or more that is not a common
// English word, quoted (so no FTS5 syntax gets through), joined with OR; "" when none is left.
std::string fts_query(std::string_view text);

}  // namespace apartment::decision
