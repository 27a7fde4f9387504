#pragma once
// POST /api/v1/rag/retrieve and GET /api/v1/rag/config (seed 004, Decision & Simulation): the
// knowledge base's policy and procedure documents that answer a question, best first.
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/classification.hpp"

namespace apartment {

inline constexpr std::array<std::string_view, 5> kDocumentTypes = {"policy", "procedure", "sla",
                                                                   "contract", "faq"};

struct RetrieveRequest {
  std::string query;
  std::int64_t top_k = 5;
  std::optional<std::vector<std::string>> types;  // only documents of these types
  std::optional<std::string> category;            // only documents that apply to it (or to all)
  static void rules(svckit::model::Rules<RetrieveRequest>& r) {
    r.field(&RetrieveRequest::query).length(1, 1000);
    r.field(&RetrieveRequest::top_k).range(1, 20).defaulted();
    r.field(&RetrieveRequest::types).items(1, kDocumentTypes.size());
    r.field(&RetrieveRequest::category).one_of(kCategories);
  }
};
BOOST_DESCRIBE_STRUCT(RetrieveRequest, (), (query, top_k, types, category))

struct RetrievedDocument {
  std::string id;
  std::string title;
  std::string type;
  std::vector<std::string> categories;
  double score = 0;     // BM25, higher is better (SQLite's bm25() negated)
  std::string snippet;  // the best passage, plain text
};
BOOST_DESCRIBE_STRUCT(RetrievedDocument, (), (id, title, type, categories, score, snippet))

struct Retrieval {
  std::string query;
  std::vector<RetrievedDocument> documents;
};
BOOST_DESCRIBE_STRUCT(Retrieval, (), (query, documents))

struct RagConfig {
  bool enabled = true;
  std::int64_t documents = 0;
  std::map<std::string, std::int64_t> by_type;
  std::string index;      // sqlite-fts5
  std::string ranking;    // bm25
  std::string tokenizer;  // porter unicode61
  std::map<std::string, double> column_weights;
  std::int64_t default_top_k = 5;
  std::string version;  // a digest of the documents indexed
};
BOOST_DESCRIBE_STRUCT(RagConfig, (),
                      (enabled, documents, by_type, index, ranking, tokenizer, column_weights,
                       default_top_k, version))

}  // namespace apartment
