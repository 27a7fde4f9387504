#pragma once
// RFC 3986's unreserved characters kept, every other byte %XX: a query component, an otpauth://
// label.
#include <string>
#include <string_view>

namespace raptorflow::auth {

std::string url_escaped(std::string_view text);

}  // namespace raptorflow::auth
