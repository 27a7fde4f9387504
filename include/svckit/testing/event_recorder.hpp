#pragma once
// The events a service under test published, kept in arrival order, with a wait that wakes on
// their arrival (a condition variable) rather than polling on a timer.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "svckit/bus/event.hpp"

namespace svckit::testing {

class EventRecorder {
 public:
  explicit EventRecorder(std::string pattern) : pattern_(std::move(pattern)) {}
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  const std::string& pattern() const { return pattern_; }
  // What has arrived so far.
  std::vector<bus::Event> events() const;
  // Waits until at least `count` events have arrived and returns them all. Throws
  // std::runtime_error naming the pattern and the types that did arrive after `timeout`.
  std::vector<bus::Event> wait_for(std::size_t count,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The first event of type `type` (exactly) to arrive, waiting for it as wait_for() does.
  bus::Event wait_for_type(const std::string& type,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // What the bus subscription calls (TestApp wires it).
  void add(const bus::Event& event);

 private:
  std::string pattern_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<bus::Event> events_;
  [[noreturn]] void timed_out(const std::string& wanted) const;
};

}  // namespace svckit::testing
