#pragma once
// TLS for the HTTP server: the listener's context from TlsOptions, and the verified client
// certificate of a finished handshake. Asio's SSL headers stay here and in server.cpp.
#include <memory>

#include <boost/asio/ssl/context.hpp>

#include "svckit/http/client_certificate.hpp"
#include "svckit/http/server.hpp"

namespace svckit::http::detail {

// TLS 1.2 and 1.3 only. Throws ConfigError naming TLS_CERT_FILE, TLS_KEY_FILE or
// TLS_CLIENT_CA_FILE when a file cannot be used (missing, not PEM, key not the certificate's).
std::unique_ptr<boost::asio::ssl::context> server_tls_context(const TlsOptions& options);

// The client certificate the handshake verified, nullptr when there is none.
std::shared_ptr<const ClientCertificate> verified_client_certificate(SSL* ssl);

// Why the client certificate of a failed handshake was refused ("certificate has expired"),
// empty when verification did not fail.
std::string certificate_problem(SSL* ssl);

}  // namespace svckit::http::detail
