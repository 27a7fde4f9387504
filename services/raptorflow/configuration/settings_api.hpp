#pragma once
// The Configuration service's settings: per service and environment, each service's JSON Schema
// first, then settings only the schema accepts (422 naming each problem's place), every change a
// version, config.settings.changed on the bus. A service reads its own (a token whose subject is
// the service); config:read reads any; config:write changes.
#include <memory>
#include <string>

#include <svckit/app/module.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "settings_store.hpp"

namespace raptorflow::configuration {

class SettingsApi {
 public:
  void install(svckit::App& app, const std::string& environment);

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  using Task = svckit::Task<Response>;

  Task put_schema(Request& req);
  Task get_schema(Request& req);
  Task put_settings(Request& req);
  Task get_settings(Request& req);
  Task history(Request& req);

  std::unique_ptr<SettingsStore> store_;
  std::string environment_;
};

}  // namespace raptorflow::configuration
