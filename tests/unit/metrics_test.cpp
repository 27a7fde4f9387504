// The registry's rendering: families from several collectables become one, and series with the
// same labels are summed (what lets a component count into shards of its own).
#include <gtest/gtest.h>

#include <limits>

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

}  // namespace
