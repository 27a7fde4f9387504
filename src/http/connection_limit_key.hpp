#pragma once
// What MAX_CONNECTIONS_PER_IP counts connections by. An IPv6 client is handed a /64 (RFC 6177)
// and may pick any address in it for each connection, so IPv6 peers are counted by their /64;
// an IPv4 peer, also one reaching an IPv6 socket as ::ffff:a.b.c.d, by its address.
#include <string>

#include <boost/asio/ip/address.hpp>

namespace svckit::http::detail {

inline std::string connection_limit_key(const boost::asio::ip::address& peer) {
  if (peer.is_v4()) return peer.to_string();
  auto v6 = peer.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace svckit::http::detail
