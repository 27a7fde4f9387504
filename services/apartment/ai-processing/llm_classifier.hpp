#pragma once
// AI Processing's language-model classification (seed 004: "rule-based + LLM"): the model
// CLASSIFIER_MODEL names (an AI_MODELS entry: OpenAI-compatible, Ollama, Gemini, Hugging Face)
// is asked for the category, urgency and confidence as JSON. What it answers is checked like any
// outside input; an answer that is not one, or no answer in time, leaves the rules' answer.
#include <optional>
#include <string>
#include <string_view>

#include <svckit/ai/model.hpp>
#include <svckit/context.hpp>
#include <svckit/task.hpp>

#include "apartment/classification.hpp"

namespace apartment::ai {

// The model's reading of the model's text: its first JSON object with a known category and
// urgency (confidence 0-1, 0.7 when it gives none); nullopt with `why` set otherwise.
std::optional<Classification> read_model_answer(std::string_view text, std::string& why);

// The question put to the model for `message`.
svckit::ai::ChatInput classification_question(const std::string& message);

}  // namespace apartment::ai
