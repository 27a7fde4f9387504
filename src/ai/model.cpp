#include "svckit/ai/model.hpp"

#include <charconv>
#include <cstdint>

#include "svckit/error.hpp"

namespace svckit::ai {
namespace {

bool number_in(const std::string& text, double min, double max) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() && v >= min && v <= max;
}

bool integer_in(const std::string& text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() && v >= min && v <= max;
}

}  // namespace

void check_options(const std::map<std::string, std::string>& options) {
  if (options.size() > 16) throw ValidationError("options", "at most 16 options");
  for (const auto& [name, value] : options) {
    bool ok;
    if (name == "temperature")
      ok = number_in(value, 0, 2);
    else if (name == "top_p")
      ok = number_in(value, 0, 1);
    else if (name == "max_tokens")
      ok = integer_in(value, 1, 32768);
    else if (name == "seed")
      ok = integer_in(value, 0, INT32_MAX);
    else if (name == "presence_penalty" || name == "frequency_penalty")
      ok = number_in(value, -2, 2);
    else if (name == "stop")
      ok = !value.empty() && value.size() <= 64;
    else if (name == "cache")
      ok = value == "true" || value == "false";
    else
      throw ValidationError("options." + name.substr(0, 64),
                            "not an option: temperature, top_p, max_tokens, seed, stop, "
                            "presence_penalty, frequency_penalty, cache");
    if (!ok)
      throw ValidationError("options." + name, "out of range: '" + value.substr(0, 64) + "'");
  }
}

void ChatInput::validate() const {
  if (message.empty()) throw ValidationError("message", "is required and must not be empty");
  if (message.size() > kMaxMessage)
    throw ValidationError("message", "longer than " + std::to_string(kMaxMessage) + " bytes");
  if (context.size() > kMaxTurns)
    throw ValidationError("context", "more than " + std::to_string(kMaxTurns) + " turns");
  for (std::size_t i = 0; i < context.size(); ++i) {
    const auto& t = context[i];
    auto field = "context[" + std::to_string(i) + "]";
    if (t.role != "system" && t.role != "user" && t.role != "assistant")
      throw ValidationError(field + ".role", "must be system, user or assistant");
    if (t.content.size() > kMaxMessage)
      throw ValidationError(field + ".content",
                            "longer than " + std::to_string(kMaxMessage) + " bytes");
  }
  check_options(options);
}

std::string_view status_of(CircuitBreaker::State breaker) {
  switch (breaker) {
    case CircuitBreaker::State::closed:
      return "available";
    case CircuitBreaker::State::half_open:
      return "degraded";
    default:
      return "unavailable";
  }
}

std::int64_t count_tokens(std::string_view text) {
  std::int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

}  // namespace svckit::ai
