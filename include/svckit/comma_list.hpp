#pragma once
// A comma-separated list as settings give them ("task.#, agent.#,,config.flag.changed"): the
// items, each trimmed of spaces and tabs, empty ones left out.
//
//   for (const auto& pattern : svckit::comma_list(settings.text("NOTIFY_SUBSCRIPTIONS"))) ...
#include <string>
#include <string_view>
#include <vector>

namespace svckit {

inline std::vector<std::string> comma_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    auto first = item.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;
    out.emplace_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
  }
  return out;
}

}  // namespace svckit
