#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "svckit/config.hpp"

namespace svckit::http::detail {
namespace {

namespace ssl = boost::asio::ssl;

// Loads one file into the context, turning OpenSSL's failure into a ConfigError that names the
// setting and the file.
template <class Load>
void load(const char* setting, const std::string& file, Load load_file) {
  boost::system::error_code ec;
  load_file(ec);
  if (ec) throw ConfigError(setting, "cannot use '" + file + "': " + ec.message());
}

// A name is kept only when it is printable ASCII: certificates are client input, and a name
// with a NUL or a newline would forge log lines or compare equal to something it is not.
bool printable(const unsigned char* data, int length) {
  if (length <= 0 || length > 1024) return false;
  for (int i = 0; i < length; ++i)
    if (data[i] < 0x20 || data[i] > 0x7e) return false;
  return true;
}

std::string text_of(const ASN1_STRING* value) {
  const unsigned char* data = ASN1_STRING_get0_data(value);
  int length = ASN1_STRING_length(value);
  if (!printable(data, length)) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
}

std::string rfc2253_subject(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string out = length > 0 ? std::string(data, static_cast<std::size_t>(length)) : "";
  BIO_free(bio);
  if (!printable(reinterpret_cast<const unsigned char*>(out.data()), static_cast<int>(out.size())))
    return {};
  return out;
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, index);
  ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
  // UTF8String and PrintableString both hold ASCII here; anything else is not a name we use.
  int type = ASN1_STRING_type(value);
  if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING && type != V_ASN1_IA5STRING)
    return {};
  return text_of(value);
}

void add_alternative_names(X509* cert, ClientCertificate& out) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    std::vector<std::string>* into = nullptr;
    if (name->type == GEN_URI) into = &out.uris;
    if (name->type == GEN_DNS) into = &out.dns_names;
    if (name->type == GEN_EMAIL) into = &out.emails;
    if (!into) continue;
    if (auto text = text_of(name->d.ia5); !text.empty()) into->push_back(std::move(text));
  }
  GENERAL_NAMES_free(names);
}

}  // namespace

std::unique_ptr<ssl::context> server_tls_context(const TlsOptions& options) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  load("TLS_CERT_FILE", options.certificate_file,
       [&](auto& ec) { context->use_certificate_chain_file(options.certificate_file, ec); });
  if (options.key_file.empty())
    throw ConfigError("TLS_KEY_FILE", "TLS_CERT_FILE is set: its private key is needed too");
  load("TLS_KEY_FILE", options.key_file,
       [&](auto& ec) { context->use_private_key_file(options.key_file, ssl::context::pem, ec); });
  if (!options.client_ca_file.empty()) {
    load("TLS_CLIENT_CA_FILE", options.client_ca_file,
         [&](auto& ec) { context->load_verify_file(options.client_ca_file, ec); });
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Tell clients which CAs are accepted, so they pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(context->native_handle(), names);
    // Session resumption with client verification needs a session id context.
    static constexpr unsigned char kContext[] = "svckit";
    SSL_CTX_set_session_id_context(context->native_handle(), kContext, sizeof kContext - 1);
  }
  return context;
}

std::shared_ptr<const ClientCertificate> verified_client_certificate(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
  auto out = std::make_shared<ClientCertificate>();
  out->subject = rfc2253_subject(cert);
  out->common_name = common_name(cert);
  add_alternative_names(cert, *out);
  if (out->identity().empty()) return nullptr;  // names nothing we can use
  return out;
}

std::string certificate_problem(SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
}

}  // namespace svckit::http::detail
