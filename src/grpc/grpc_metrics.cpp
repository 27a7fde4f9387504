#include "grpc_metrics.hpp"

#include <algorithm>

#include <grpcpp/server_context.h>

#include "svckit/grpc/status.hpp"
#include "svckit/meter.hpp"

namespace svckit::grpc::detail {
namespace {

constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// One method's cells. grpc_server_handled_total has a cell per code, made when a call first
// ends with it: a scrape shows the codes that happened, not seventeen zeros per method.
struct GrpcMetrics::Series {
  meter::Labels labels;
  meter::Family<meter::Counter>* handled_family;
  meter::Counter* started;
  meter::Counter* received;
  meter::Counter* sent;
  meter::Histogram* handling;
  std::array<std::atomic<meter::Counter*>, kCodes> handled{};

  meter::Counter& handled_with(int code) {
    if (auto* c = handled[code].load(std::memory_order_acquire)) return *c;
    auto with_code = labels;
    with_code["grpc_code"] = std::string(code_name(static_cast<::grpc::StatusCode>(code)));
    auto* c = &handled_family->add(with_code);
    handled[code].store(c, std::memory_order_release);  // a race stores the same cell
    return *c;
  }
};

GrpcMetrics::GrpcMetrics(meter::Meter& meter) : meter_(meter) {}

GrpcMetrics::~GrpcMetrics() = default;

void GrpcMetrics::add(const MethodInfo& method) {
  auto& slot = series_[&method];
  if (slot) return;
  slot = std::make_unique<Series>();
  slot->labels = {
      {"grpc_method", method.name}, {"grpc_service", method.service}, {"grpc_type", method.type}};
  slot->handled_family =
      &meter_.counters("grpc_server_handled_total",
                       "RPCs completed on the server, regardless of success or failure.");
  slot->started = &meter_.counters("grpc_server_started_total", "RPCs started on the server.")
                       .add(slot->labels);
  slot->received = &meter_
                        .counters("grpc_server_msg_received_total",
                                  "RPC stream messages received on the server.")
                        .add(slot->labels);
  slot->sent =
      &meter_.counters("grpc_server_msg_sent_total", "gRPC stream messages sent on the server.")
           .add(slot->labels);
  slot->handling = &meter_
                        .histograms("grpc_server_handling_seconds",
                                    "Response latency of gRPC calls handled by the server.")
                        .add(slot->labels, meter::latency_buckets());
}

GrpcMetrics::Series* GrpcMetrics::series(const MethodInfo& method) const {
  auto it = series_.find(&method);
  return it == series_.end() ? nullptr : it->second.get();
}

std::optional<Task<void>> GrpcMetrics::before(Call& call) {
  if (auto* s = series(call.method())) {
    s->started->increment();
    s->received->increment();  // unary and server-streaming calls bring one message
  }
  return std::nullopt;
}

void GrpcMetrics::after(Call& call, const ::grpc::Status& status) noexcept {
  auto* s = series(call.method());
  if (!s) return;
  s->handled_with(std::clamp(static_cast<int>(status.error_code()), 0, kCodes - 1)).increment();
  if (status.ok() && call.method().type == "unary") s->sent->increment();
  s->handling->observe(seconds_since(call.received_at()));
}

void GrpcMetrics::sent(const MethodInfo& method) noexcept {
  if (auto* s = series(method)) s->sent->increment();
}

}  // namespace svckit::grpc::detail
