// In-process feature-flag evaluation against a plain map lookup, in one run:
//   build/bin/bench_flags [ROUNDS [MILLISECONDS_PER_CASE]]
// Each round times every case for the given time on one thread, cases interleaved; the figure of
// a case is its median round. Prints a table and one JSON line per case ({"case", "ns"}).
//
// The figure: a flag with one targeting rule (FlagClient::boolean with a context) in
// ≤ 200 ns. The map lookup is what a service without flags would do: look the answer up by name.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <svckit/flags/flag_client.hpp>

using nlohmann::json;

namespace {

volatile std::size_t sink;

double time_ns(const std::function<std::size_t()>& once, int ms) {
  using clock = std::chrono::steady_clock;
  std::size_t n = 0, acc = 0;
  const auto start = clock::now(), end = start + std::chrono::milliseconds(ms);
  auto now = start;
  while (now < end) {
    for (int i = 0; i < 1000; ++i) acc += once();
    n += 1000;
    now = clock::now();
  }
  sink = acc;
  return std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(n);
}

json flag(json variants, std::string fallback, json targeting) {
  json f = {{"state", "ENABLED"},
            {"variants", std::move(variants)},
            {"defaultVariant", std::move(fallback)}};
  if (!targeting.is_null()) f["targeting"] = std::move(targeting);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::stoi(argv[1]) : 5;
  const int ms = argc > 2 ? std::stoi(argv[2]) : 300;
  const json on_off = {{"on", true}, {"off", false}};
  json flags = {
      {"static", flag(on_off, "on", nullptr)},
      {"one-rule",
       flag(on_off, "off", {{"if", {{{"==", {{{"var", "plan"}}, "gold"}}}, "on", "off"}}})},
      {"rollout",
       flag(on_off, "off",
            {{"fractional", json::array({json::array({"on", 10}), json::array({"off", 90})})}})},
      {"email-and-version", flag(on_off, "off",
                                 {{"if",
                                   {{{"and",
                                      {{{"ends_with", {{{"var", "email"}}, "@acme.com"}}},
                                       {{"sem_ver", {{{"var", "app"}}, ">=", "2.0.0"}}}}}},
                                    "on",
                                    "off"}}})},
  };
  // A realistic set: the flags measured among 200 others.
  for (int i = 0; i < 200; ++i) flags["other-" + std::to_string(i)] = flag(on_off, "off", nullptr);
  svckit::flags::FlagClient client;
  client.replace(svckit::flags::FlagSet::parse({{"flags", flags}}), 1);
  const json context = {
      {"targetingKey", "user-4711"}, {"plan", "gold"}, {"email", "ann@acme.com"}, {"app", "2.3.1"}};
  std::unordered_map<std::string, bool> plain;
  for (const auto& [key, value] : flags.items()) plain[key] = true;
  const std::string key = "one-rule";

  struct Case {
    const char* name;
    std::function<std::size_t()> once;
    std::vector<double> ns;
  };
  std::vector<Case> cases = {
      {"map lookup (std::unordered_map<string, bool>)",
       [&] { return static_cast<std::size_t>(plain.find(key)->second); },
       {}},
      {"FlagClient::boolean, no targeting",
       [&] { return static_cast<std::size_t>(client.boolean("static", false, context)); },
       {}},
      {"FlagClient::boolean, one targeting rule",
       [&] { return static_cast<std::size_t>(client.boolean("one-rule", false, context)); },
       {}},
      {"FlagClient::boolean, fractional rollout",
       [&] { return static_cast<std::size_t>(client.boolean("rollout", false, context)); },
       {}},
      {"FlagClient::boolean, ends_with and sem_ver",
       [&] {
         return static_cast<std::size_t>(client.boolean("email-and-version", false, context));
       },
       {}},
  };
  for (int r = 0; r < rounds; ++r)
    for (std::size_t i = 0; i < cases.size(); ++i) {
      auto& c =
          cases[(i + static_cast<std::size_t>(r)) % cases.size()];  // a different order each round
      c.ns.push_back(time_ns(c.once, ms));
    }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double base = median(cases[0].ns);
  std::printf("%d rounds of %d ms per case, one thread; medians\n\n", rounds, ms);
  std::printf("%-48s %10s %12s\n", "case", "ns/call", "vs map");
  for (const auto& c : cases) {
    const double ns = median(c.ns);
    std::printf("%-48s %10.1f %11.1fx\n", c.name, ns, ns / base);
  }
  std::printf("\n");
  for (const auto& c : cases)
    std::printf("{\"case\": \"%s\", \"ns\": %.1f}\n", c.name, median(c.ns));
}
