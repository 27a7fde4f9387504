#pragma once
// The Configuration service's secrets: values other services need (API keys, passwords), sealed
// at rest (secret_box.hpp), readable only by the service they belong to (a token whose subject
// is that service) or a principal granted secrets:read:<service>; set and removed with
// secrets:write, which does not read; re-sealed under a new key-encryption key with
// secrets:admin. A value is never logged, never in an error, never in the audit trail.
#include <memory>
#include <optional>

#include <svckit/app/module.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include <sealing/secret_box.hpp>
#include "secret_store.hpp"

namespace raptorflow::configuration {

using sealing::Sealed;
using sealing::SealError;
using sealing::SecretBox;

class SecretsApi {
 public:
  // Settings: CONFIG_KEK_FILE or CONFIG_KEK (keys, 64 hex digits each, the first current).
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app);

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  using Task = svckit::Task<Response>;

  Task put(Request& req);
  Task get(Request& req);
  Task list(Request& req);
  Task remove(Request& req);
  Task events(Request& req);
  Task rotate(Request& req);

  const SecretBox& box() const;  // 503 when no key-encryption key is configured

  std::unique_ptr<SecretStore> store_;
  std::optional<SecretBox> box_;
};

}  // namespace raptorflow::configuration
