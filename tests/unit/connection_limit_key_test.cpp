#include <gtest/gtest.h>

#include "connection_limit_key.hpp"

namespace {

std::string key(const char* address) {
  return svckit::http::detail::connection_limit_key(boost::asio::ip::make_address(address));
}

TEST(ConnectionLimitKey, AnIpv4PeerIsCountedByItsAddress) {
  EXPECT_EQ(key("192.0.2.7"), "192.0.2.7");
  EXPECT_NE(key("192.0.2.7"), key("192.0.2.8"));
}

TEST(ConnectionLimitKey, AnIpv4PeerOnAnIpv6SocketIsTheSamePeer) {
  EXPECT_EQ(key("::ffff:192.0.2.7"), "192.0.2.7");
}

TEST(ConnectionLimitKey, Ipv6PeersAreCountedByTheir64) {
  // A client may take a new address of its /64 for every connection.
  EXPECT_EQ(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), key("2001:db8:1:2::1"));
  EXPECT_NE(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
  EXPECT_EQ(key("::1"), "::/64");
}

TEST(ConnectionLimitKey, Nat64AndLinkLocalPeersAreNotOne64) {
  // Behind a NAT64 gateway every IPv4 client shares 64:ff9b::/96: each is its IPv4 address.
  EXPECT_EQ(key("64:ff9b::192.0.2.7"), "192.0.2.7");
  EXPECT_NE(key("64:ff9b::192.0.2.7"), key("64:ff9b::192.0.2.8"));
  // Every host on a link is in fe80::/64.
  EXPECT_EQ(key("fe80::1"), "fe80::1");
  EXPECT_NE(key("fe80::1"), key("fe80::2"));
}

}  // namespace
