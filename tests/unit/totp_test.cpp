// The Authentication service's TOTP (services/raptorflow/auth/totp.hpp) against RFC 6238's
// appendix B vectors (SHA-1, the last six of its eight digits) and RFC 4648's base32 vectors.
#include "totp.hpp"

#include <gtest/gtest.h>

namespace raptorflow::auth {
namespace {

const std::string kSecret = "12345678901234567890";  // RFC 6238's SHA-1 seed

TEST(Totp, Rfc6238Vectors) {
  struct Case {
    std::int64_t unix_time;
    const char* code;
  };
  for (auto [t, code] :
       {Case{59, "287082"}, Case{1111111109, "081804"}, Case{1111111111, "050471"},
        Case{1234567890, "005924"}, Case{2000000000, "279037"}, Case{20000000000, "353130"}}) {
    EXPECT_EQ(totp_code(kSecret, t / 30), code) << t;
  }
  // (The year-2603 vector does not fit system_clock's nanoseconds: steps are checked directly.)
  EXPECT_EQ(totp_step(std::chrono::system_clock::time_point(std::chrono::seconds(1111111109))),
            37037036);
}

TEST(Totp, MatchesOneStepEitherSideAndNothingElse) {
  std::int64_t now = 37037036;  // 1111111080 / 30
  EXPECT_EQ(totp_match(kSecret, totp_code(kSecret, now), now), now);
  EXPECT_EQ(totp_match(kSecret, totp_code(kSecret, now - 1), now), now - 1);
  EXPECT_EQ(totp_match(kSecret, totp_code(kSecret, now + 1), now), now + 1);
  EXPECT_FALSE(totp_match(kSecret, totp_code(kSecret, now - 2), now));
  EXPECT_FALSE(totp_match(kSecret, totp_code(kSecret, now + 2), now));
  for (const char* bad : {"", "12345", "1234567", "12345a", " 12345", "-12345"})
    EXPECT_FALSE(totp_match(kSecret, bad, now)) << bad;
}

TEST(Totp, Base32RoundTripsAndRefusesOtherCharacters) {
  EXPECT_EQ(base32_encode("foobar"), "MZXW6YTBOI");  // RFC 4648 §10, unpadded
  EXPECT_EQ(base32_encode("f"), "MY");
  EXPECT_EQ(base32_decode("MZXW6YTBOI======"), "foobar");
  EXPECT_EQ(base32_decode("mzxw 6ytb oi"), "foobar");
  EXPECT_FALSE(base32_decode("MZXW1"));  // 1 is not in the alphabet
  EXPECT_FALSE(base32_decode("MZ\xffW"));
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  EXPECT_EQ(base32_decode(base32_encode(bytes)), bytes);
}

TEST(Totp, TheUriEscapesTheLabel) {
  EXPECT_EQ(otpauth_uri("Raptor Flow", "ana+x@example.com", "foobar"),
            "otpauth://totp/Raptor%20Flow:ana%2Bx%40example.com?secret=MZXW6YTBOI&issuer=Raptor%"
            "20Flow&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace raptorflow::auth
