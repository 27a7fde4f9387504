#include "svckit/testing/event_recorder.hpp"

#include <stdexcept>

namespace svckit::testing {

std::vector<bus::Event> EventRecorder::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

void EventRecorder::add(const bus::Event& event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  arrived_.notify_all();
}

std::vector<bus::Event> EventRecorder::wait_for(std::size_t count,
                                                std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!arrived_.wait_for(lock, timeout, [&] { return events_.size() >= count; }))
    timed_out(std::to_string(count) + " event(s)");
  return events_;
}

bus::Event EventRecorder::wait_for_type(const std::string& type,
                                        std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const bus::Event* found = nullptr;
  auto seen = [&] {
    for (const auto& e : events_)
      if (e.type == type) return found = &e, true;
    return false;
  };
  if (!arrived_.wait_for(lock, timeout, seen)) timed_out("an event of type " + type);
  return *found;
}

void EventRecorder::timed_out(const std::string& wanted) const {
  std::string types;
  for (const auto& e : events_) types += (types.empty() ? "" : ", ") + e.type;
  throw std::runtime_error("waited for " + wanted + " matching '" + pattern_ +
                           "'; arrived: " + (types.empty() ? "none" : types));
}

}  // namespace svckit::testing
