// The registry's rendering: families from several collectables become one, and series with the
// same labels are summed (what lets a component count into shards of its own).
#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "svckit/metrics/registry.hpp"

namespace {

// A collectable that exports one counter series and one histogram series, as one shard would.
struct Shard : prometheus::Collectable {
  double count;
  explicit Shard(double c) : count(c) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily counter{"jobs_total", "Jobs.", prometheus::MetricType::Counter, {}};
    prometheus::ClientMetric m;
    m.label = {{"queue", "mail"}, {"kind", "send"}};  // out of order on purpose
    m.counter.value = count;
    counter.metric.push_back(m);
    prometheus::MetricFamily histogram{
        "job_seconds", "Job time.", prometheus::MetricType::Histogram, {}};
    prometheus::ClientMetric h;
    h.label = {{"queue", "mail"}};
    h.histogram.bucket = {{1, 0.1}, {2, std::numeric_limits<double>::infinity()}};
    h.histogram.sample_count = 2;
    h.histogram.sample_sum = count;
    histogram.metric.push_back(h);
    return {counter, histogram};
  }
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Registry, MergesFamiliesOfOneNameAndSumsSeriesWithTheSameLabels) {
  svckit::metrics::Registry registry;
  registry.add_collectable(std::make_shared<Shard>(2));
  registry.add_collectable(std::make_shared<Shard>(3));
  auto text = registry.render();
  EXPECT_EQ(occurrences(text, "# TYPE jobs_total counter"), 1u) << text;
  EXPECT_NE(text.find(R"(jobs_total{kind="send",queue="mail"} 5)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(job_seconds_bucket{queue="mail",le="0.1"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(job_seconds_bucket{queue="mail",le="+Inf"} 4)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(job_seconds_count{queue="mail"} 4)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(job_seconds_sum{queue="mail"} 5)"), std::string::npos) << text;
}

TEST(Registry, LeavesOutFamiliesWithoutSeriesWhereverTheyComeFrom) {
  svckit::metrics::Registry registry;
  registry.counter("widgets_total", "Widgets.").Add({{"color", "red"}}).Increment(4);
  registry.gauge("widgets_waiting", "Waiting.");  // no series yet
  registry.add_collectable(std::make_shared<Shard>(1));
  struct Empty : prometheus::Collectable {
    std::vector<prometheus::MetricFamily> Collect() const override {
      return {{"nothing_yet_total", "Nothing.", prometheus::MetricType::Counter, {}}};
    }
  };
  registry.add_collectable(std::make_shared<Empty>());
  auto text = registry.render();
  EXPECT_NE(text.find(R"(widgets_total{color="red"} 4)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(jobs_total{kind="send",queue="mail"} 1)"), std::string::npos) << text;
  EXPECT_EQ(text.find("widgets_waiting"), std::string::npos) << text;
  EXPECT_EQ(text.find("nothing_yet_total"), std::string::npos) << text;
}

// Sharded series: every thread's counts are in the total, each shard counted once.
TEST(MeterCells, SumWhatEveryThreadCountedIntoOneSeriesPerLabelSet) {
  svckit::metrics::Registry registry;
  auto& calls = registry.counters("calls_total", "Calls.");
  auto& seconds = registry.histograms("call_seconds", "Call time.");
  auto& mine = calls.add({{"upstream", "a"}});
  EXPECT_EQ(&mine, &calls.add({{"upstream", "a"}}));               // one series per label set
  EXPECT_EQ(&calls, &registry.counters("calls_total", "Calls."));  // and per name
  auto& time = seconds.add({{"upstream", "a"}}, std::vector<double>{0.1, 1.0});
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)  // more threads than shards: some share one
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        mine.increment();
        time.observe(i % 2 ? 0.0625 : 4.0);  // exact in binary: an exact sum
      }
    });
  for (auto& t : threads) t.join();
  calls.add({{"upstream", "b"}}).increment(7);
  EXPECT_EQ(mine.value(), 12000u);
  auto text = registry.render();
  EXPECT_EQ(occurrences(text, "# TYPE calls_total counter"), 1u) << text;
  EXPECT_NE(text.find(R"(calls_total{upstream="a"} 12000)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(calls_total{upstream="b"} 7)"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE call_seconds histogram"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(call_seconds_bucket{upstream="a",le="0.1"} 6000)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(call_seconds_bucket{upstream="a",le="1"} 6000)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(call_seconds_bucket{upstream="a",le="+Inf"} 12000)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(call_seconds_count{upstream="a"} 12000)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(call_seconds_sum{upstream="a"} 24375)"), std::string::npos) << text;
}

TEST(MeterCells, RefuseANameTakenByAnotherTypeAndBoundsThatDoNotAscend) {
  svckit::metrics::Registry registry;
  registry.counters("things", "Things.");
  EXPECT_THROW(registry.histograms("things", "Things."), std::invalid_argument);
  EXPECT_THROW(svckit::meter::Histogram({1.0, 0.5}), std::invalid_argument);
}

// A gauge added to from many threads (requests in progress) sums every shard; a summary exports
// its count and sum.
TEST(MeterCells, GaugesAddedToFromEveryThreadAndSummariesAddUp) {
  svckit::metrics::Registry registry;
  auto& busy = registry.gauges("busy", "Busy.").add({});
  auto& sizes = registry.summaries("sizes_bytes", "Sizes.").add({{"handler", "/x"}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        busy.add(1);
        sizes.observe(3);
        if (i % 2) busy.add(-1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(busy.value(), 6000);
  auto text = registry.render();
  EXPECT_NE(text.find("# TYPE busy gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("busy 6000"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE sizes_bytes summary"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(sizes_bytes_count{handler="/x"} 12000)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(sizes_bytes_sum{handler="/x"} 36000)"), std::string::npos) << text;
}

// A gauge cell is exported as a gauge, with its value as last set.
TEST(MeterCells, GaugesExportTheirLastValue) {
  svckit::metrics::Registry registry;
  auto& depth = registry.gauges("queue_depth", "Depth.").add({{"group", "g"}});
  depth.set(5);
  depth.add(-2);
  auto text = registry.render();
  EXPECT_NE(text.find("# TYPE queue_depth gauge"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(queue_depth{group="g"} 3)"), std::string::npos) << text;
}

}  // namespace
