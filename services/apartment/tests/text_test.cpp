// Cutting outside text without cutting a character.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apartment/text.hpp"

namespace apartment {
namespace {

TEST(Utf8Prefix, NeverCutsACharacter) {
  std::string emoji = "a";
  for (int i = 0; i < 200; ++i) emoji += "\xF0\x9F\x98\x80";  // U+1F600, four bytes
  for (std::size_t max : {0u, 1u, 2u, 3u, 4u, 5u, 500u, 801u, 2000u}) {
    auto cut = utf8_prefix(emoji, max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(cut.empty() || cut.size() % 4 == 1) << max;  // "a" then whole emoji
    EXPECT_NO_THROW(nlohmann::json(cut).dump()) << max;      // a cut sequence would throw here
  }
  EXPECT_EQ(utf8_prefix("short", 500), "short");
  EXPECT_EQ(utf8_prefix("\xC3\xA9t\xC3\xA9", 4), "\xC3\xA9t");  // "été" to 4 bytes: "ét"
}

}  // namespace
}  // namespace apartment
