#pragma once
// The AETHER-AI Task Manager (seed 000 §4.2.3) as a svckit module: the routes of its REST
// contract, each a member function.
#include <memory>

#include <prometheus/family.h>
#include <svckit/app/module.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "task_store.hpp"

namespace prometheus {
class Counter;
}

namespace aether::task_manager {

class TaskManager : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> create(Request& req);
  svckit::Task<Response> list(Request& req);
  svckit::Task<Response> stats(Request& req);
  svckit::Task<Response> get(Request& req);
  svckit::Task<Response> update(Request& req);
  svckit::Task<Response> remove(Request& req);
  svckit::Task<Response> complete(Request& req);

  std::unique_ptr<TaskStore> store_;
  prometheus::Family<prometheus::Counter>* created_ = nullptr;
};

}  // namespace aether::task_manager
