#pragma once
// What svckit::grpc::Server shares with its calls: the registered services and methods, the
// interceptor pipeline, the I/O loops handlers wait on, metrics, logging. Internal.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "svckit/grpc/server.hpp"

namespace boost::asio {
class io_context;
}
namespace svckit {
class BlockingPool;
}
namespace svckit::log {
class Logger;
}

namespace svckit::grpc::detail {

class GrpcMetrics;

struct ServiceEntry {
  std::string name;
  std::unique_ptr<ServiceImpl> impl;
  std::shared_ptr<Interceptor> authentication;  // null: anonymous calls
};

struct MethodEntry {
  MethodInfo info;
  ServiceEntry* service = nullptr;
  int index = 0;                       // in the service's ServiceImpl
  std::vector<Interceptor*> pipeline;  // svckit's, the service's auth, the app's: set at start
};

class ServerCore {
 public:
  using Clock = std::chrono::steady_clock;

  ServerCore(ServerParts parts, ServerOptions options);
  ~ServerCore();

  ServerOptions options;
  std::vector<boost::asio::io_context*> loops;
  const log::Logger& logger;
  std::function<Task<bool>()> ready;
  BlockingPool& blocking;
  std::unique_ptr<GrpcMetrics> metrics;                    // null without a meter
  std::vector<std::shared_ptr<Interceptor>> interceptors;  // the app's
  std::deque<ServiceEntry> services;                       // stable addresses
  std::deque<MethodEntry> methods;
  std::unique_ptr<::grpc::Server> server;
  int bound_port = 0;
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};

  // Where the next call that must wait runs: round-robin over the loops.
  boost::asio::io_context& next_loop();
  // After a call: the interceptors' after() in reverse, then its log line.
  void finished(Call& call, const MethodEntry& method, const ::grpc::Status& status,
                Clock::time_point started) noexcept;
  // The call's SERVER span, when its trace is recorded.
  static void record_span(Call& call, const MethodEntry& method, const ::grpc::Status& status,
                          Clock::time_point started) noexcept;
  // A sent stream message, for grpc_server_msg_sent_total.
  void sent(const MethodEntry& method) noexcept;

 private:
  std::atomic<std::size_t> next_loop_{0};
};

// Adds grpc.health.v1.Health to `core`: answered from its readiness.
void add_health_service(Server& server, ServerCore& core);

}  // namespace svckit::grpc::detail
