#include "svckit/metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace svckit::metrics {
namespace {

prometheus::MetricFamily gauge_family(std::string name, std::string help, double value,
                                      prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter)
    metric.counter.value = value;
  else
    metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
  return family;
}

double boot_time_seconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> value;
      return value;
    }
    stat.ignore(4096, '\n');
  }
  return 0;
}

class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector()
      : ticks_(static_cast<double>(sysconf(_SC_CLK_TCK))),
        page_size_(static_cast<double>(sysconf(_SC_PAGESIZE))),
        boot_time_(boot_time_seconds()) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    std::ifstream file("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may hold spaces.
    auto close = content.rfind(')');
    if (close == std::string::npos) return out;
    std::istringstream fields(content.substr(close + 2));
    std::vector<std::string> f;
    for (std::string s; fields >> s;) f.push_back(s);
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    if (f.size() < 22) return out;
    double utime = std::stod(f[11]), stime = std::stod(f[12]);
    double start = std::stod(f[19]), vsize = std::stod(f[20]), rss = std::stod(f[21]);
    out.push_back(gauge_family("process_cpu_seconds_total",
                               "Total user and system CPU time spent in seconds.",
                               (utime + stime) / ticks_, prometheus::MetricType::Counter));
    out.push_back(gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.",
                               rss * page_size_));
    out.push_back(
        gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize));
    out.push_back(gauge_family("process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.",
                               boot_time_ + start / ticks_));
    out.push_back(gauge_family("process_open_fds", "Number of open file descriptors.",
                               static_cast<double>(open_fds())));
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    out.push_back(gauge_family("process_max_fds", "Maximum number of open file descriptors.",
                               static_cast<double>(limit.rlim_cur)));
    return out;
  }

 private:
  static std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* dir = opendir("/proc/self/fd")) {
      while (dirent* e = readdir(dir))
        if (e->d_name[0] != '.') ++n;
      closedir(dir);
      if (n > 0) --n;  // the descriptor opendir itself holds
    }
    return n;
  }

  double ticks_;
  double page_size_;
  double boot_time_;
};

}  // namespace

std::shared_ptr<prometheus::Collectable> process_metrics() {
  return std::make_shared<ProcessCollector>();
}

}  // namespace svckit::metrics
