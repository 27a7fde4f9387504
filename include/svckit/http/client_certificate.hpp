#pragma once
// The client certificate a TLS connection presented and the server verified against its client
// CA (mTLS). Only the handshake sets it: headers such as X-Client-Cert or
// X-Forwarded-Client-Cert are never read for it.
#include <string>
#include <vector>

namespace svckit::http {

struct ClientCertificate {
  std::string subject;      // RFC 2253 ("CN=orders,O=aether")
  std::string common_name;  // the subject's CN, empty without one
  // Subject alternative names by kind, in certificate order.
  std::vector<std::string> uris;  // spiffe://aether/orders
  std::vector<std::string> dns_names;
  std::vector<std::string> emails;

  // Who the certificate names: the first URI SAN (SPIFFE ids), else the first DNS SAN, else the
  // CN, else the whole subject.
  const std::string& identity() const {
    if (!uris.empty()) return uris.front();
    if (!dns_names.empty()) return dns_names.front();
    if (!common_name.empty()) return common_name;
    return subject;
  }
};

}  // namespace svckit::http
