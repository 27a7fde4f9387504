#pragma once
// Hands one shared text to many connections' sessions, each on its own loop, posting once per
// loop rather than once per connection: a broadcast to 10,000 connections on two loops is two
// posts. `send(session)` runs on the session's loop.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace svckit::http::detail {

template <class Session, class Send>
void on_each_loop(std::vector<std::shared_ptr<Session>> sessions, Send send) {
  using Executor = boost::asio::io_context::executor_type;
  std::vector<std::pair<Executor, std::vector<std::shared_ptr<Session>>>> per_loop;  // a few
  for (auto& session : sessions) {
    const Executor& loop = session->executor();
    if (loop.running_in_this_thread()) {
      send(*session);
      continue;
    }
    auto it = std::find_if(per_loop.begin(), per_loop.end(),
                           [&](const auto& group) { return group.first == loop; });
    if (it == per_loop.end()) it = per_loop.insert(per_loop.end(), {loop, {}});
    it->second.push_back(std::move(session));
  }
  for (auto& [loop, group] : per_loop)
    boost::asio::post(loop, [group = std::move(group), send] {
      for (const auto& session : group) send(*session);
    });
}

}  // namespace svckit::http::detail
