#include <gtest/gtest.h>

#include <string>

#include "svckit/entity_cache.hpp"

using svckit::EntityCache;

TEST(EntityCache, FillsAndFinds) {
  EntityCache<std::string> cache(10);
  EXPECT_EQ(cache.find("a"), nullptr);
  cache.fill("a", "alpha", cache.version());
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(*cache.find("a"), "alpha");
  cache.invalidate("a");
  EXPECT_EQ(cache.find("a"), nullptr);
}

// A reader that saw the version before a write must not put back what it read.
TEST(EntityCache, DropsAFillThatRacedAWrite) {
  EntityCache<std::string> cache(10);
  auto seen = cache.version();  // a reader starts its database read
  cache.invalidate("a");        // a writer commits meanwhile
  cache.fill("a", "stale", seen);
  EXPECT_EQ(cache.find("a"), nullptr);
  cache.fill("a", "fresh", cache.version());  // the next read fills it
  EXPECT_EQ(*cache.find("a"), "fresh");
}

TEST(EntityCache, StaysWithinItsCapacity) {
  EntityCache<int> cache(3);
  for (int i = 0; i < 10; ++i) cache.fill(std::to_string(i), i, cache.version());
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.find("9"), nullptr);   // the newest entry is always kept
  cache.fill("9", 99, cache.version());  // replacing does not evict
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(*cache.find("9"), 99);
}

TEST(EntityCache, CapacityZeroCachesNothing) {
  EntityCache<int> cache(0);
  cache.fill("a", 1, cache.version());
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}
