// A resident's words as the apartment system reads them: the rule classifier (AI Processing) and
// the retrieval query (Decision & Simulation). Any bytes are classified, every term found lies
// inside the message, and the FTS5 query is only quoted words joined by OR.
#include <algorithm>

#include "apartment/classification.hpp"
#include "classifier.hpp"
#include "fuzz_check.hpp"
#include "knowledge_base.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto classifier =
      apartment::ai::Classifier::from_file(APARTMENT_MODEL_DIR "/classification_rules.json");
  auto message = svckit::fuzz::text(data, size);
  auto c = classifier.classify(message);
  using apartment::kCategories;
  svckit::fuzz::expect(
      std::find(kCategories.begin(), kCategories.end(), c.category) != kCategories.end(),
      "a category the service does not know");
  svckit::fuzz::expect(c.confidence >= 0 && c.confidence <= 1, "a confidence outside 0-1");
  for (const auto& e : c.evidence)
    svckit::fuzz::expect(
        e.start >= 0 && e.start < e.end && static_cast<std::size_t>(e.end) <= message.size(),
        "evidence outside the message");
  svckit::fuzz::expect(classifier.severity_terms(message) >= 0, "a negative count");

  auto query = apartment::decision::fts_query(message);
  // "w1" OR "w2" ...: lower-case letters and digits inside the quotes, nothing else.
  bool in_word = false;
  for (std::size_t i = 0; i < query.size(); ++i) {
    char ch = query[i];
    if (ch == '"') {
      in_word = !in_word;
      continue;
    }
    if (in_word) {
      svckit::fuzz::expect((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'),
                           "a character in a query word that is not a letter or digit");
    } else {
      svckit::fuzz::expect(ch == ' ' || ch == 'O' || ch == 'R', "FTS5 syntax outside the quotes");
    }
  }
  svckit::fuzz::expect(!in_word, "an unclosed quote");
  return 0;
}
