#include "svckit/blocking_pool.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
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

BlockingPool::~BlockingPool() {
  join();
}

void BlockingPool::join() {
  impl_->pool.join();
}

std::size_t BlockingPool::size() const {
  return impl_->threads;
}

Task<void> BlockingPool::run_erased(std::function<void()> fn) {
  // `fn` runs on a pool thread; the caller resumes on its own executor afterwards. (A plain
  // co_await post(pool) would not do: the awaitable resumes through the caller's executor, so the
  // work would run on the I/O thread.)
  auto initiate = [this](auto handler, std::function<void()> work) {
    // Tracked: the caller's event loop must not run out of work while we are away.
    auto home = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    asio::post(impl_->pool, [handler = std::move(handler), work = std::move(work),
                             home = std::move(home)]() mutable {
      work();
      asio::post(home, std::move(handler));
    });
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      std::move(initiate), asio::use_awaitable, std::move(fn));
}

}  // namespace svckit
