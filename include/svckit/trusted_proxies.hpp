#pragma once
// Which peers may say who the client is. Behind a gateway or a load balancer every request
// comes from the proxy's address; the client's is in X-Forwarded-For. That header is the
// client's own to write, so it is believed only from the proxies listed (TRUSTED_PROXIES, empty
// by default): the client is the right-most address of the chain that is not a trusted proxy.
// An untrusted peer is the client whatever it sends.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace svckit {

class TrustedProxies {
 public:
  TrustedProxies() = default;  // none: every peer is the client

  // "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8": addresses and CIDR networks, comma-separated.
  // Throws std::invalid_argument naming the entry that is neither.
  static TrustedProxies parse(std::string_view list);

  bool empty() const { return networks_.empty(); }
  // Whether `address` (text, IPv4, IPv6 or IPv4-mapped IPv6) is in a listed network.
  bool contains(std::string_view address) const;

  // The client's address for a request from `peer` carrying `forwarded_for`: `peer` itself
  // unless it is trusted; else, walking X-Forwarded-For from the right, the first address not
  // trusted (the left-most when all are). An entry that is not an address ends the walk there:
  // what is left of it was written by someone no trusted proxy vouches for.
  std::string client_of(std::string_view peer, std::optional<std::string_view> forwarded_for) const;

 private:
  struct Network {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 0;                        // bits of `bytes` that must match
  };
  std::vector<Network> networks_;
};

}  // namespace svckit
