#pragma once
// Handlers, middleware and SDK calls that wait are C++20 coroutines on Boost.Asio.
#include <boost/asio/awaitable.hpp>

namespace svckit {

template <class T = void>
using Task = boost::asio::awaitable<T>;

}  // namespace svckit
