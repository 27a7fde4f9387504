#pragma once
// Request Management (seed 004, port 8001) as a svckit module: residents' requests from
// submission to resolution. It owns the request data and runs the seed's flow — classify and
// predict-risk at AI Processing, simulate and decide at Decision & Simulation — keeping a request
// whose step could not run as `pending` and finishing it in the background; a selected option
// goes to Execution as an event, whose answers come back as events.
#include <memory>
#include <optional>
#include <string>

#include <svckit/app/module.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "request_store.hpp"
#include "service_token.hpp"
#include "steps.hpp"

namespace apartment::requests {

class RequestManagement : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> create(Request& req);
  svckit::Task<Response> get(Request& req);
  svckit::Task<Response> list(Request& req);
  svckit::Task<Response> of_resident(Request& req);
  svckit::Task<Response> update_status(Request& req);
  svckit::Task<Response> select_option(Request& req);
  svckit::Task<Response> resolve(Request& req);
  svckit::Task<Response> execution(Request& req);
  svckit::Task<svckit::bus::Outcome> on_execution(const svckit::bus::Event& event);

  // Runs the steps the request has not been through; the request as it then is.
  svckit::Task<std::optional<ServiceRequest>> advance(std::string id,
                                                      const svckit::Context& context);
  // Finishes requests whose steps are due (pending ones, and those a process left half-done).
  svckit::Task<void> retry_due();
  // The request if the caller may see it (their own, or any for staff); 404 otherwise.
  svckit::Task<ServiceRequest> visible(Request& req, std::string id);

  svckit::App* app_ = nullptr;
  std::unique_ptr<RequestStore> store_;
  std::unique_ptr<ServiceToken> token_;
  std::unique_ptr<Steps> steps_;
  svckit::http::Client* execution_ = nullptr;
  std::int64_t replications_ = 100;
  std::chrono::milliseconds retry_interval_{5000};
  std::chrono::milliseconds step_lease_{120000};  // a claim on a request's steps
};

}  // namespace apartment::requests
