#pragma once
#include <string_view>

namespace svckit::http {

enum class Method { get, head, post, put, patch, del, options, other };

Method parse_method(std::string_view name);
std::string_view method_name(Method method);

}  // namespace svckit::http
