#pragma once
// A header name known when the program is compiled: a view of a string literal, so a request
// can carry it per call without copying it (names like "X-RateLimit-Remaining-Minute" are past
// std::string's short buffer: one allocation each). The constructor is consteval: a name made
// at run time does not compile, so the view can never dangle.
//
//   static constexpr http::HeaderName kRemaining = "RateLimit-Remaining";
#include <string_view>

namespace svckit::http {

class HeaderName {
 public:
  consteval HeaderName(const char* literal) : name_(literal) {}  // NOLINT: implicit on purpose
  constexpr std::string_view view() const { return name_; }

 private:
  std::string_view name_;
};

}  // namespace svckit::http
