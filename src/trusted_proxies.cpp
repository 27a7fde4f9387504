#include "svckit/trusted_proxies.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace svckit {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An address as 16 bytes (IPv4 mapped into IPv6), and whether it was written as IPv4.
std::optional<std::array<std::uint8_t, 16>> address_bytes(std::string_view text,
                                                          bool* v4 = nullptr) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, buffer, bytes.data() + 12) == 1) {
    bytes[10] = bytes[11] = 0xff;
    if (v4) *v4 = true;
    return bytes;
  }
  if (::inet_pton(AF_INET6, buffer, bytes.data()) == 1) {
    if (v4) *v4 = false;
    return bytes;
  }
  return std::nullopt;
}

}  // namespace

TrustedProxies TrustedProxies::parse(std::string_view list) {
  TrustedProxies out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (entry.empty()) continue;
    auto slash = entry.find('/');
    bool v4 = false;
    auto bytes = address_bytes(entry.substr(0, slash), &v4);
    int bits = v4 ? 32 : 128;
    int prefix = bits;
    if (bytes && slash != std::string_view::npos) {
      auto digits = entry.substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (ec != std::errc{} || end != digits.data() + digits.size() || prefix < 0 || prefix > bits)
        bytes.reset();
    }
    if (!bytes)
      throw std::invalid_argument("'" + std::string(entry.substr(0, 64)) +
                                  "' is neither an IP address nor a CIDR network");
    out.networks_.push_back({*bytes, prefix + (v4 ? 96 : 0)});
  }
  return out;
}

bool TrustedProxies::contains(std::string_view address) const {
  if (networks_.empty()) return false;
  auto bytes = address_bytes(address);
  if (!bytes) return false;
  for (const auto& n : networks_) {
    int whole = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(bytes->data(), n.bytes.data(), static_cast<std::size_t>(whole)) != 0) continue;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if (((*bytes)[whole] & mask) == (n.bytes[whole] & mask)) return true;
  }
  return false;
}

std::string TrustedProxies::client_of(std::string_view peer,
                                      std::optional<std::string_view> forwarded_for) const {
  if (!forwarded_for || !contains(peer)) return std::string(peer);
  std::string_view chain = *forwarded_for;
  std::string_view client = peer;
  while (!chain.empty()) {
    auto comma = chain.rfind(',');
    auto hop = trim(comma == std::string_view::npos ? chain : chain.substr(comma + 1));
    chain = comma == std::string_view::npos ? std::string_view{} : chain.substr(0, comma);
    if (!address_bytes(hop)) break;  // garbage: the hop after it (already `client`) stands
    client = hop;
    if (!contains(hop)) break;
  }
  return std::string(client);
}

}  // namespace svckit
