#pragma once
// The AI Gateway's models and providers are the SDK's (svckit/ai/model.hpp, moved there so the
// apartment system's AI Processing asks models the same way; svckit/app/ai_models.hpp reads
// AI_MODELS). The names the gateway's code has always used.
#include <svckit/ai/model.hpp>
#include <svckit/app/ai_models.hpp>

namespace aether::ai_gateway {

using svckit::ai::ChatInput;
using svckit::ai::check_options;
using svckit::ai::Completion;
using svckit::ai::count_tokens;
using svckit::ai::Model;
using svckit::ai::ModelSpec;
using svckit::ai::Provider;
using svckit::ai::status_of;
using svckit::ai::Turn;

}  // namespace aether::ai_gateway
