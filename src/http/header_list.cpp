#include "svckit/http/header_list.hpp"

#include "svckit/http/ascii.hpp"

namespace svckit::http {

std::vector<std::string_view> header_list(const Request& req, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& [field, value] : req.headers()) {
    if (!iequals(field, name)) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto one = trim_ows(rest.substr(0, comma));
      if (!one.empty()) out.push_back(one);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool header_lists(const Request& req, std::string_view name, std::string_view token) {
  for (auto element : header_list(req, name))
    if (iequals(element, token)) return true;
  return false;
}

}  // namespace svckit::http
