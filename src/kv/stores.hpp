#pragma once
// The stores open_store() makes.
#include "svckit/kv/store.hpp"

namespace svckit::kv {

struct RedisEndpoint;

std::unique_ptr<Store> memory_store();
std::unique_ptr<Store> redis_store(RedisEndpoint endpoint, StoreOptions options);

}  // namespace svckit::kv
