#pragma once
// grpc_server_* metrics with go-grpc-prometheus's names and labels, which Grafana's gRPC
// dashboards expect: grpc_server_started_total, grpc_server_handled_total{grpc_code},
// grpc_server_handling_seconds, grpc_server_msg_received_total, grpc_server_msg_sent_total, all
// labelled grpc_service, grpc_method and grpc_type. Counted into the meter's cells, looked up
// once per method (no label lookup, no lock per call).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "svckit/grpc/interceptor.hpp"

namespace svckit::meter {
class Meter;
}

namespace svckit::grpc::detail {

struct MethodEntry;

class GrpcMetrics : public Interceptor {
 public:
  explicit GrpcMetrics(meter::Meter& meter);
  ~GrpcMetrics() override;

  // Every method, once all are registered (before the first call; read without a lock after).
  void add(const MethodInfo& method);

  std::optional<Task<void>> before(Call& call) override;
  void after(Call& call, const ::grpc::Status& status) noexcept override;
  void sent(const MethodInfo& method) noexcept;

 private:
  struct Series;
  Series* series(const MethodInfo& method) const;
  meter::Meter& meter_;
  std::unordered_map<const MethodInfo*, std::unique_ptr<Series>> series_;
};

}  // namespace svckit::grpc::detail
