#pragma once
// What the fuzz targets share: the bytes as text, and a check that stops the run with a message
// (libFuzzer saves the input that made it fail).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace svckit::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property the code under test promises; broken, the run stops and keeps the input.
inline void expect(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: broken: %s\n", what);
  std::abort();
}

}  // namespace svckit::fuzz
