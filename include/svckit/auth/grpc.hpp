#pragma once
// Authentication for a gRPC service's calls: the same auth::Authenticator as HTTP's bearer(),
// reading `authorization: Bearer <jwt>` or the API key metadata, then the method's permission
// (MethodOptions::permission). The principal lands in the call's context, as on HTTP:
//
//   auto ai = svckit::grpc::server(app).service(
//       "AIGateway", svckit::auth::grpc_authentication(svckit::bearer_options_from_settings(app)));
//   ... auth::principal(call.context())->id ...
//
// Header-only: it joins two modules (auth, grpc) that are linked one way each, so only a service
// that includes it links both.
#include <cctype>
#include <memory>
#include <string>

#include "svckit/auth/authenticator.hpp"
#include "svckit/grpc/interceptor.hpp"

namespace svckit::auth {

class GrpcAuthentication : public grpc::Interceptor {
 public:
  explicit GrpcAuthentication(BearerOptions options)
      : authenticator_(std::make_shared<const Authenticator>(std::move(options))),
        api_key_metadata_(lower(authenticator_->options().api_key_header)) {}

  std::optional<Task<void>> before(grpc::Call& call) override {
    const Authenticator& a = *authenticator_;
    if (auto authorization = call.metadata("authorization")) {
      admit(call, a.from_authorization(*authorization));
    } else if (auto key = a.accepts_api_keys() ? call.metadata(api_key_metadata_) : std::nullopt) {
      return with_api_key(call, std::string(*key));  // a lookup: waits on an I/O loop
    } else if (!a.options().allow_anonymous) {
      a.no_credentials();
    }
    permit(call);
    return std::nullopt;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static void admit(grpc::Call& call, SharedPrincipal who) {
    call.context().set_user_id(who->id);
    call.context().attach(std::move(who));
  }
  static void permit(const grpc::Call& call) {
    if (!call.method().permission.empty())
      check_permission(principal(call.context()), call.method().permission);
  }
  Task<void> with_api_key(grpc::Call& call, std::string key) {
    SharedPrincipal who = co_await authenticator_->from_api_key(std::move(key));
    admit(call, std::move(who));
    permit(call);
  }

  std::shared_ptr<const Authenticator> authenticator_;
  std::string api_key_metadata_;
};

// A service's calls must be authenticated (options.allow_anonymous lets calls without
// credentials through): pass to grpc::Server::service().
inline std::shared_ptr<grpc::Interceptor> grpc_authentication(BearerOptions options) {
  return std::make_shared<GrpcAuthentication>(std::move(options));
}

}  // namespace svckit::auth
