#pragma once
// What MAX_CONNECTIONS_PER_IP counts connections by. An IPv6 client is handed a /64 (RFC 6177)
// and may pick any address in it for each connection, so IPv6 peers are counted by their /64.
// An IPv4 peer is counted by its address, also when it reaches an IPv6 socket as
// ::ffff:a.b.c.d or through a NAT64 gateway as 64:ff9b::a.b.c.d (RFC 6052: one /64 for all of
// IPv4). A link-local peer is counted by its whole address: the link is the /64.
#include <algorithm>
#include <array>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace svckit::http::detail {

inline std::string connection_limit_key(const boost::asio::ip::address& peer) {
  if (peer.is_v4()) return peer.to_string();
  auto v6 = peer.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  constexpr std::array<unsigned char, 12> kNat64 = {0x00, 0x64, 0xff, 0x9b};
  if (std::equal(kNat64.begin(), kNat64.end(), bytes.begin()))
    return boost::asio::ip::address_v4({bytes[12], bytes[13], bytes[14], bytes[15]}).to_string();
  if (v6.is_link_local()) return v6.to_string();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace svckit::http::detail
