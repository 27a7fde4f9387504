#include "simulator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>

namespace apartment::decision {
namespace {

constexpr double kWarmUpHours = 72;
constexpr int kMaxVisits = 3;

// When a crew takes new work: every hour, or from `from` to `to` on some days (0 Monday).
struct Shift {
  bool always = true;
  int from = 0, to = 24;
  unsigned days = 0x7f;  // bit d: day d
};
constexpr Shift kAllHours{};
constexpr Shift kOfficeHours{false, 9, 17, 0x1f};
constexpr Shift kTechnicianHours{false, 8, 18, 0x1f};
constexpr Shift kPlannedRounds{false, 9, 17, (1u << 1) | (1u << 4)};  // Tuesday, Friday

struct Crew {
  int servers = 1;
  double arrivals_per_hour = 0;  // other work
  double other_work_hours = 1;   // its mean length
  Shift shift;
};

// One option as the simulation sees it.
struct OptionModel {
  std::string_view id;
  const char* title;
  Crew crew;
  bool ahead_of_queue = false;  // before the crew's other work
  bool after_hours = false;     // may start outside the shift (on call, overtime)
  double travel_hours = 0;      // before the work, per visit
  double fix_probability = 0.8;
  double revisit_after_hours = 24;
  double hourly_rate = 0;
  double per_visit_fee = 0;
  double overtime = 1.5;  // rate multiplier outside the shift
  double work_scale = 1;  // of the category's work time
};

struct CategoryModel {
  std::string_view category;
  bool repair;
  double work_hours;  // mean time the work itself takes
  double materials;   // mean material cost of a repair
  double notice_fix;  // a notice settles it this often
  std::string_view action;
};
constexpr CategoryModel kCategoryModels[] = {
    {"plumbing", true, 2.0, 80, 0, "maintenance"},
    {"electrical", true, 1.5, 60, 0, "maintenance"},
    {"hvac", true, 2.5, 150, 0, "maintenance"},
    {"appliance", true, 1.5, 200, 0, "maintenance"},
    {"structural", true, 4.0, 400, 0, "maintenance"},
    {"pest", true, 1.5, 120, 0, "maintenance"},
    {"cleaning", true, 1.0, 30, 0, "maintenance"},
    {"noise", false, 0.5, 0, 0.55, "notify"},
    {"security", false, 0.75, 0, 0, "notify"},
    {"billing", false, 0.75, 0, 0.3, "billing"},
    {"lease", false, 1.0, 0, 0.5, "notify"},
    {"amenity", false, 0.5, 0, 0.6, "notify"},
    {"package", false, 0.5, 0, 0.5, "delivery"},
    {"other", false, 0.5, 0, 0.4, "notify"},
};

const CategoryModel& category_model(std::string_view category) {
  for (const auto& c : kCategoryModels)
    if (c.category == category) return c;
  return kCategoryModels[std::size(kCategoryModels) - 1];
}

std::vector<OptionModel> options_for(const CategoryModel& c) {
  const Crew technicians{3, 0.45, 2.0, kTechnicianHours};
  const Crew vendors{2, 0.30, 2.0, kAllHours};  // crews shared with the vendor's other clients
  const Crew rounds{2, 0.10, 1.5, kPlannedRounds};
  const Crew office{2, 0.80, 0.5, kOfficeHours};
  const Crew duty_manager{1, 0.10, 0.75, kAllHours};
  const Crew property_manager{1, 0.15, 1.5, kOfficeHours};
  const Crew automated{64, 0, 0.05, kAllHours};
  std::vector<OptionModel> out;
  if (c.repair) {
    out.push_back({.id = "in_house_standard",
                   .title = "In-house technician, next in the queue",
                   .crew = technicians,
                   .travel_hours = 0.25,
                   .fix_probability = 0.8,
                   .hourly_rate = 55});
    out.push_back({.id = "in_house_priority",
                   .title = "In-house technician ahead of the queue (on call after hours)",
                   .crew = technicians,
                   .ahead_of_queue = true,
                   .after_hours = true,
                   .travel_hours = 0.5,
                   .fix_probability = 0.8,
                   .hourly_rate = 55});
    out.push_back({.id = "vendor_emergency",
                   .title = "Contracted vendor, emergency call-out",
                   .crew = vendors,
                   .ahead_of_queue = true,
                   .travel_hours = 1.0,
                   .fix_probability = 0.92,
                   .hourly_rate = 95,
                   .per_visit_fee = 350,
                   .overtime = 1.0,
                   .work_scale = 0.85});
    out.push_back({.id = "scheduled_visit",
                   .title = "Next planned maintenance round",
                   .crew = rounds,
                   .fix_probability = 0.75,
                   .revisit_after_hours = 72,
                   .hourly_rate = 45});
    return out;
  }
  if (c.notice_fix > 0)
    out.push_back({.id = "notice",
                   .title = "Automated written notice",
                   .crew = automated,
                   .fix_probability = c.notice_fix,
                   .revisit_after_hours = 48,
                   .per_visit_fee = 2,
                   .overtime = 1.0,
                   .work_scale = 0});
  out.push_back({.id = "staff_standard",
                 .title = "Office staff, in their queue",
                 .crew = office,
                 .fix_probability = 0.85,
                 .revisit_after_hours = 24,
                 .hourly_rate = 40});
  out.push_back({.id = "staff_priority",
                 .title = "Duty manager, now",
                 .crew = duty_manager,
                 .ahead_of_queue = true,
                 .fix_probability = 0.85,
                 .revisit_after_hours = 12,
                 .hourly_rate = 70,
                 .overtime = 1.0});
  if (c.category == "security")
    out.push_back({.id = "vendor_emergency",
                   .title = "Security contractor or locksmith call-out",
                   .crew = vendors,
                   .ahead_of_queue = true,
                   .travel_hours = 1.0,
                   .fix_probability = 0.9,
                   .hourly_rate = 95,
                   .per_visit_fee = 350,
                   .overtime = 1.0});
  if (c.category != "amenity" && c.category != "package" && c.category != "other")
    out.push_back({.id = "escalate_manager",
                   .title = "Escalated to the property manager",
                   .crew = property_manager,
                   .ahead_of_queue = true,
                   .fix_probability = 0.95,
                   .revisit_after_hours = 24,
                   .hourly_rate = 120,
                   .work_scale = 1.5});
  return out;
}

// The hour of the week an absolute hour falls in: day (0 Monday) and hour of day.
void week_position(double t, int& day, double& hour) {
  double days = std::floor(t / 24);
  hour = t - days * 24;
  auto d = static_cast<std::int64_t>(days);
  day = static_cast<int>(((d % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday
}

bool on_shift(const Shift& s, double t) {
  if (s.always) return true;
  int day;
  double hour;
  week_position(t, day, hour);
  return (s.days >> day & 1u) && hour >= s.from && hour < s.to;
}

// The first moment at or after `t` inside the shift.
double next_shift_start(const Shift& s, double t) {
  if (on_shift(s, t)) return t;
  double day_start = std::floor(t / 24) * 24;
  for (int k = 0; k < 8; ++k) {
    double start = day_start + 24 * k + s.from;
    if (start >= t && on_shift(s, start)) return start;
  }
  return t;  // unreachable for a shift with a day in it
}

struct Job {
  int priority;  // higher first
  std::uint64_t seq;
  double work;  // hours of work once started (travel included)
  bool ours;
  bool operator<(const Job& o) const {  // for std::priority_queue: "less urgent"
    return priority != o.priority ? priority < o.priority : seq > o.seq;
  }
};

enum class EventType { other_arrival, our_arrival, server_free, shift_start };
struct Event {
  double at;
  std::uint64_t seq;
  EventType type;
  int server;
  bool operator<(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

struct Replication {
  double respond = -1;  // until the first visit's work starts (travel done)
  double hours = 0;
  double cost = 0;
  int visits = 0;
};

// One replication of one option: the request arrives at `t0` (hours since the epoch).
Replication run_once(const OptionModel& o, const CategoryModel& c, double t0, Random& rng) {
  const Crew& crew = o.crew;
  std::priority_queue<Event> events;
  std::priority_queue<Job> queue;
  std::vector<bool> busy(crew.servers, false);
  std::vector<bool> serving_ours(crew.servers, false);
  std::uint64_t seq = 0;
  bool wake_pending = false;
  Replication r;
  double materials = c.repair ? rng.lognormal(c.materials, c.materials * 0.5) : 0;

  auto schedule = [&](double at, EventType type, int server = -1) {
    events.push({at, seq++, type, server});
  };
  if (crew.arrivals_per_hour > 0)
    schedule(t0 - kWarmUpHours + rng.exponential(1 / crew.arrivals_per_hour),
             EventType::other_arrival);
  schedule(t0, EventType::our_arrival);

  auto start_work = [&](double now) {
    for (int s = 0; s < crew.servers && !queue.empty(); ++s) {
      if (busy[s]) continue;
      const Job& next = queue.top();
      bool in_shift = on_shift(crew.shift, now);
      if (!in_shift && !(next.ours && o.after_hours)) {
        if (!wake_pending) {
          schedule(next_shift_start(crew.shift, now), EventType::shift_start);
          wake_pending = true;
        }
        return;
      }
      Job job = next;
      queue.pop();
      busy[s] = true;
      serving_ours[s] = job.ours;
      if (job.ours) {
        if (r.respond < 0) r.respond = now - t0 + o.travel_hours;
        double rate = o.hourly_rate * (in_shift ? 1.0 : o.overtime);
        r.cost += o.per_visit_fee + rate * job.work;
        ++r.visits;
      }
      schedule(now + job.work, EventType::server_free, s);
    }
  };

  while (!events.empty()) {
    Event e = events.top();
    events.pop();
    switch (e.type) {
      case EventType::other_arrival: {
        double work = rng.lognormal(crew.other_work_hours, crew.other_work_hours * 0.5);
        queue.push({0, seq++, work, false});
        schedule(e.at + rng.exponential(1 / crew.arrivals_per_hour), EventType::other_arrival);
        break;
      }
      case EventType::our_arrival: {
        double work = o.travel_hours;
        if (o.work_scale > 0)
          work += rng.lognormal(c.work_hours * o.work_scale, c.work_hours * o.work_scale * 0.5);
        else
          work += crew.other_work_hours;
        queue.push({o.ahead_of_queue ? 1 : 0, seq++, work, true});
        break;
      }
      case EventType::server_free: {
        busy[e.server] = false;
        if (serving_ours[e.server]) {
          serving_ours[e.server] = false;
          if (rng.uniform() < o.fix_probability || r.visits >= kMaxVisits) {
            r.hours = e.at - t0;
            r.cost += materials;
            return r;
          }
          schedule(e.at + o.revisit_after_hours, EventType::our_arrival);
        }
        break;
      }
      case EventType::shift_start:
        wake_pending = false;
        break;
    }
    start_work(e.at);
  }
  return r;  // unreachable: our request is always served
}

double percentile90(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t rank = static_cast<std::size_t>(std::ceil(0.9 * values.size()));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

double round_to(double x, double per_unit) {
  return std::round(x * per_unit) / per_unit;
}

// How long a resident expects it to take, and how fast harm comes, by urgency (hours).
double expected_hours(std::string_view urgency) {
  if (urgency == "emergency") return 2;
  if (urgency == "high") return 12;
  if (urgency == "medium") return 48;
  return 120;
}
double harm_hours(std::string_view urgency) {
  if (urgency == "emergency") return 2;
  if (urgency == "high") return 24;
  if (urgency == "medium") return 96;
  return 240;
}

// A different stream for every option and replication of one seed.
std::uint64_t stream(std::uint64_t seed, std::size_t option, std::int64_t replication) {
  Random mix(seed ^ (0x9e3779b97f4a7c15ull * (option + 1)) ^
             (0xbf58476d1ce4e5b9ull * static_cast<std::uint64_t>(replication + 1)));
  return mix.next();
}

}  // namespace

std::uint64_t Random::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Random::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double Random::exponential(double mean) {
  return -std::log(1 - uniform()) * mean;
}

double Random::lognormal(double mean, double sd) {
  // Box-Muller for one standard normal; the log-space parameters that give this mean and sd.
  double u1 = 1 - uniform(), u2 = uniform();
  double normal = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  double sigma2 = std::log(1 + (sd * sd) / (mean * mean));
  double mu = std::log(mean) - sigma2 / 2;
  return std::exp(mu + std::sqrt(sigma2) * normal);
}

std::vector<ResolutionOption> simulate(const SimulationInput& in) {
  const auto& category = category_model(in.category);
  double t0 = static_cast<double>(in.start) / 3600;
  double expect = expected_hours(in.urgency);
  double harm = harm_hours(in.urgency);
  auto models = options_for(category);
  std::vector<ResolutionOption> out;
  for (std::size_t i = 0; i < models.size(); ++i) {
    const auto& model = models[i];
    std::vector<double> responds, hours, costs;
    double satisfaction = 0, risk = 0, first_fix = 0;
    for (std::int64_t k = 0; k < in.replications; ++k) {
      Random rng(stream(in.seed, i, k));
      auto r = run_once(model, category, t0, rng);
      responds.push_back(r.respond);
      hours.push_back(r.hours);
      costs.push_back(r.cost);
      double late = std::pow(r.hours / expect, 1.5);
      satisfaction += std::clamp(1 / (1 + late) - 0.1 * (r.visits - 1), 0.0, 1.0);
      risk += in.risk_score * (1 - std::exp(-r.hours / harm));
      first_fix += r.visits == 1;
    }
    double n = static_cast<double>(in.replications);
    ResolutionOption option;
    option.id = std::string(model.id);
    option.title = model.title;
    option.action = model.id == "vendor_emergency" && !category.repair
                        ? "notify"
                        : std::string(category.action);
    auto mean = [n](const std::vector<double>& v) {
      double sum = 0;
      for (double x : v) sum += x;
      return sum / n;
    };
    option.cost = round_to(mean(costs), 100);
    option.cost_p90 = round_to(percentile90(costs), 100);
    option.hours_to_respond = round_to(mean(responds), 100);
    option.respond_p90 = round_to(percentile90(responds), 100);
    option.hours_to_resolve = round_to(mean(hours), 100);
    option.hours_p90 = round_to(percentile90(hours), 100);
    option.satisfaction = round_to(satisfaction / n, 1000);
    option.risk = round_to(risk / n, 1000);
    option.first_visit_fix = round_to(first_fix / n, 1000);
    out.push_back(std::move(option));
  }
  return out;
}

}  // namespace apartment::decision
