#include "svckit/blocking_pool.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit {

namespace asio = boost::asio;

struct BlockingPool::Impl {
  explicit Impl(std::size_t n) : threads(n), pool(n) {}
  std::size_t threads;
  asio::thread_pool pool;
};

BlockingPool::BlockingPool(std::size_t threads)
    : impl_(std::make_unique<Impl>(threads == 0 ? 1 : threads)) {}

BlockingPool::~BlockingPool() { join(); }

void BlockingPool::join() { impl_->pool.join(); }

std::size_t BlockingPool::size() const { return impl_->threads; }

Task<void> BlockingPool::run_erased(std::function<void()> fn) {
  auto home = co_await asio::this_coro::executor;
  // Hop onto a pool thread, do the work, hop back: the caller resumes on its own executor.
  co_await asio::post(impl_->pool.get_executor(), asio::use_awaitable);
  fn();
  co_await asio::post(home, asio::use_awaitable);
}

}  // namespace svckit
