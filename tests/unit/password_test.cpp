#include <gtest/gtest.h>

#include "svckit/auth/api_key.hpp"
#include "svckit/auth/password.hpp"

using namespace svckit::auth;

TEST(Password, HashesAndVerifiesBcrypt) {
  auto hash = hash_password("correct horse", 4);
  EXPECT_TRUE(hash.starts_with("$2b$04$"));
  EXPECT_TRUE(is_bcrypt_hash(hash));
  EXPECT_TRUE(verify_password("correct horse", hash));
  EXPECT_FALSE(verify_password("correct horsE", hash));
  EXPECT_NE(hash_password("correct horse", 4), hash);  // a new salt each time
}

// A hash made by the monolith (Python bcrypt.hashpw) logs in unchanged.
TEST(Password, AcceptsThePythonMonolithsHashes) {
  EXPECT_TRUE(verify_password("monolith-pass",
                              "$2b$04$ZWluMKxOBkmOOEPZIyccb.9af3CR58rjL9b.Owo.EYU7qPl5M5XhO"));
  EXPECT_FALSE(verify_password("monolith-pas",
                               "$2b$04$ZWluMKxOBkmOOEPZIyccb.9af3CR58rjL9b.Owo.EYU7qPl5M5XhO"));
}

TEST(Password, RefusesWhatBcryptWouldMangle) {
  EXPECT_THROW(hash_password(std::string(73, 'p'), 4), std::invalid_argument);  // not truncated
  EXPECT_THROW(hash_password("", 4), std::invalid_argument);
  EXPECT_THROW(hash_password(std::string("a\0b", 3), 4), std::invalid_argument);
  EXPECT_THROW(hash_password("pw", 3), std::invalid_argument);
  for (const char* bad : {"", "$1$abc", "plain", "$2b$04$short",
                          "$2x$04$ZWluMKxOBkmOOEPZIyccb.9af3CR58rjL9b.Owo.EYU7qPl5M5XhO"})
    EXPECT_FALSE(verify_password("monolith-pass", bad)) << bad;
}

TEST(ApiKey, PrefixedRandomAndStoredAsAHash) {
  auto a = generate_api_key(), b = generate_api_key();
  EXPECT_NE(a.key, b.key);
  EXPECT_TRUE(a.key.starts_with("sk_" + a.prefix + "_"));
  EXPECT_EQ(a.key.size(), 3u + 12 + 1 + 43);  // 256 random bits
  EXPECT_EQ(api_key_prefix(a.key), a.prefix);
  EXPECT_EQ(api_key_hash(a.key), a.hash);
  EXPECT_EQ(a.hash.size(), 64u);
  EXPECT_TRUE(same_hash(a.hash, api_key_hash(a.key)));
  EXPECT_FALSE(same_hash(a.hash, b.hash));
  for (const char* bad : {"", "sk_", "sk_123",
                          "sk_zzzzzzzzzzzz_"
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          "sk_0123456789ab-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    EXPECT_FALSE(api_key_prefix(bad)) << bad;
}
