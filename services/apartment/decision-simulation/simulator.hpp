#pragma once
// The discrete-event simulation behind POST /api/v1/simulate (seed 004 runs SimPy; this is its
// C++ counterpart). For each resolution option that fits the category, each replication runs the
// crew that would do the work — in-house technicians, contracted vendors, the planned-maintenance
// round, office staff, the duty manager, the property manager, automated notices — from 72 hours
// before the request with its own background work arriving at random, working its shifts, then
// puts the request in its queue and runs until it is resolved (a visit fixes it, or another
// visit is booked). Deterministic: the same input and seed give the same numbers on any machine
// (own generator and distributions, no std:: distribution whose algorithm the library chooses).
#include <cstdint>
#include <string>
#include <vector>

#include "apartment/simulation.hpp"

namespace apartment::decision {

inline constexpr const char* kSimulationModel = "des-2026.12.1";

struct SimulationInput {
  std::string category;
  std::string urgency;
  double risk_score = 0;
  std::int64_t start = 0;  // Unix seconds: when the request arrives
  std::int64_t replications = 100;
  std::uint64_t seed = 1;
};

// The options that fit the category, in kOptions' order, each summarised over the replications.
std::vector<ResolutionOption> simulate(const SimulationInput& input);

// splitmix64: small, fast, and the same everywhere; uniform() has 53 random bits.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  double uniform();                          // [0, 1)
  double exponential(double mean);           // by inversion
  double lognormal(double mean, double sd);  // with this mean and standard deviation
 private:
  std::uint64_t state_;
};

}  // namespace apartment::decision
