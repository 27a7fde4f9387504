#include "svckit/trusted_proxies.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using svckit::TrustedProxies;

TEST(TrustedProxies, NoneByDefaultSoThePeerIsTheClient) {
  TrustedProxies none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.contains("127.0.0.1"));
  EXPECT_EQ(none.client_of("127.0.0.1", "203.0.113.9"), "127.0.0.1");
  EXPECT_EQ(TrustedProxies::parse(" , ").client_of("10.0.0.1", "1.2.3.4"), "10.0.0.1");
}

TEST(TrustedProxies, MatchesAddressesAndNetworksOfBothFamilies) {
  auto t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8,192.168.1.128/25, fd00::/8, ::1");
  EXPECT_TRUE(t.contains("127.0.0.1"));
  EXPECT_FALSE(t.contains("127.0.0.2"));
  EXPECT_TRUE(t.contains("10.255.0.1"));
  EXPECT_FALSE(t.contains("11.0.0.1"));
  EXPECT_TRUE(t.contains("192.168.1.200"));
  EXPECT_FALSE(t.contains("192.168.1.127"));  // the /25 boundary, inside a byte
  EXPECT_TRUE(t.contains("fd12::5"));
  EXPECT_FALSE(t.contains("fe80::1"));
  EXPECT_TRUE(t.contains("::1"));
  EXPECT_TRUE(t.contains("::ffff:10.1.2.3"));  // a dual-stack socket's IPv4 peer
  EXPECT_FALSE(t.contains("not an address"));
  EXPECT_FALSE(t.contains(""));
  EXPECT_TRUE(TrustedProxies::parse("0.0.0.0/0").contains("8.8.8.8"));
  EXPECT_FALSE(TrustedProxies::parse("0.0.0.0/0").contains("2001:db8::1"));
}

TEST(TrustedProxies, RefusesWhatIsNotAnAddressOrNetworkNamingIt) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "::1/129",
                          "1.2.3", "10.0.0.0/-1", "1.2.3.4/8/8"}) {
    try {
      TrustedProxies::parse(std::string("127.0.0.1, ") + bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(bad).substr(0, 5)), std::string::npos)
          << e.what();
    }
  }
}

TEST(TrustedProxies, TheClientIsTheRightMostUntrustedHop) {
  auto t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8");
  // An untrusted peer is the client whatever it claims.
  EXPECT_EQ(t.client_of("203.0.113.7", "1.1.1.1"), "203.0.113.7");
  // From a trusted proxy: the address it appended.
  EXPECT_EQ(t.client_of("127.0.0.1", "203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(t.client_of("127.0.0.1", std::nullopt), "127.0.0.1");
  // A client that sends its own X-Forwarded-For gets it prepended to: the forgery is left of
  // the address the proxy saw, and never reached.
  EXPECT_EQ(t.client_of("127.0.0.1", "6.6.6.6, 203.0.113.7"), "203.0.113.7");
  // A chain of trusted proxies is walked through.
  EXPECT_EQ(t.client_of("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2"), "203.0.113.7");
  // All trusted: the left-most.
  EXPECT_EQ(t.client_of("127.0.0.1", "10.1.1.1, 10.2.2.2"), "10.1.1.1");
  // Garbage ends the walk at the last address a trusted proxy vouched for.
  EXPECT_EQ(t.client_of("127.0.0.1", "203.0.113.7, <script>, 10.2.2.2"), "10.2.2.2");
  EXPECT_EQ(t.client_of("127.0.0.1", "  "), "127.0.0.1");
  EXPECT_EQ(t.client_of("127.0.0.1", " 2001:db8::7 "), "2001:db8::7");
}
