// Load for a gRPC server's AIGateway.Chat: `calls` requests in flight at once over `channels`
// HTTP/2 connections (gRPC's callback API: each completion sends the next), for `seconds` after
// a warm-up of a fifth of that. Prints a RESULT line in JSON: calls/s, p50/p99 latency, errors.
//
//   build/bin/bench_grpc_client TARGET CHANNELS CALLS SECONDS [TOKEN] [DISTINCT]
// TOKEN goes out as `authorization: Bearer TOKEN`; DISTINCT different messages are asked in turn
// (1: always the same question, a cache's best case; 0: every one different).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "ai_gateway.grpc.pb.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Load {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::atomic<long> errors{0};
  std::atomic<long> next_message{0};
  std::atomic<int> finished_callers{0};
  std::mutex mutex;
  std::vector<double> latencies_us;  // a sample: every 16th call
  std::string token;
  long distinct = 1;
};

class Caller {
 public:
  Caller(AIGateway::Stub* stub, Load& load) : stub_(stub), load_(load) {}

  void next() {
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!load_.token.empty()) context_->AddMetadata("authorization", "Bearer " + load_.token);
    long n = load_.next_message++;
    request_.set_message("What is the status of task " +
                         std::to_string(load_.distinct > 0 ? n % load_.distinct : n) + "?");
    response_.Clear();
    started_ = Clock::now();
    stub_->async()->Chat(context_.get(), &request_, &response_, [this](grpc::Status s) {
      if (load_.measuring) {
        if (s.ok())
          ++load_.done;
        else
          ++load_.errors;
        if ((++sampled_ & 15) == 0) {
          double us = std::chrono::duration<double, std::micro>(Clock::now() - started_).count();
          std::lock_guard lock(load_.mutex);
          load_.latencies_us.push_back(us);
        }
      }
      if (load_.stop)
        ++load_.finished_callers;
      else
        next();
    });
  }

 private:
  AIGateway::Stub* stub_;
  Load& load_;
  std::unique_ptr<grpc::ClientContext> context_;
  ChatRequest request_;
  ChatResponse response_;
  Clock::time_point started_;
  unsigned sampled_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: bench_grpc_client TARGET CHANNELS CALLS SECONDS [TOKEN] [DISTINCT]\n");
    return 2;
  }
  std::string target = argv[1];
  int channels = std::max(1, std::atoi(argv[2]));
  int calls = std::max(1, std::atoi(argv[3]));
  double seconds = std::atof(argv[4]);
  Load load;
  if (argc > 5) load.token = argv[5];
  if (argc > 6) load.distinct = std::atol(argv[6]);

  std::vector<std::unique_ptr<AIGateway::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("svckit.bench.channel", i);  // distinct arguments: a connection each
    stubs.push_back(AIGateway::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < calls; ++i)
    callers.push_back(std::make_unique<Caller>(stubs[i % channels].get(), load));
  for (auto& c : callers) c->next();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 5));
  load.measuring = true;
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  load.measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  long done = load.done, errors = load.errors;
  load.stop = true;
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (load.finished_callers < calls && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::vector<double> l;
  {
    std::lock_guard lock(load.mutex);
    l = load.latencies_us;
  }
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    return l.empty() ? 0.0 : l[static_cast<std::size_t>(p * (l.size() - 1))];
  };
  std::printf("RESULT {\"qps\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"errors\": %ld}\n",
              done / elapsed, pct(0.5) / 1000, pct(0.99) / 1000, errors);
  std::fflush(stdout);
  std::_Exit(0);  // skip tearing down gRPC with calls finishing on its threads
}
