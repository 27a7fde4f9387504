#include "svckit/context.hpp"

namespace svckit {

void Context::log(log::Level level, std::string_view message, log::Fields fields) const {
  if (!logger_ || !logger_->enabled(level)) return;
  if (user_id_.empty()) {
    logger_->write(level, message, {{"request_id", request_id()}, {"trace_id", trace_.trace_id}},
                   fields);
  } else {
    logger_->write(
        level, message,
        {{"request_id", request_id()}, {"trace_id", trace_.trace_id}, {"user_id", user_id_}},
        fields);
  }
}

}  // namespace svckit
