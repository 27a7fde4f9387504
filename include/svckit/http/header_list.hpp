#pragma once
// Header fields that are comma-separated lists (RFC 9110 §5.6.1): Connection, Upgrade,
// Sec-WebSocket-Protocol. Every field of the name counts, in order; elements are trimmed.
#include <string_view>
#include <vector>

#include "svckit/http/request.hpp"

namespace svckit::http {

std::vector<std::string_view> header_list(const Request& req, std::string_view name);
// Whether an element of the list is `token`, compared without case.
bool header_lists(const Request& req, std::string_view name, std::string_view token);

}  // namespace svckit::http
