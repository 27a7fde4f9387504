#pragma once
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds — the names Python's
// prometheus_client exports, read from /proc at scrape time.
#include <memory>

#include <prometheus/collectable.h>

namespace svckit::metrics {

std::shared_ptr<prometheus::Collectable> process_metrics();

}  // namespace svckit::metrics
