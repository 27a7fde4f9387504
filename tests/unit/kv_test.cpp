// svckit::kv: the contract both stores keep (in-process and Redis, the Redis ctest starts), and
// what the Redis store does when Redis is away, silent, or refuses the password.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "run_sync.hpp"
#include "svckit/error.hpp"
#include "svckit/ids.hpp"
#include "svckit/kv/store.hpp"
#include "test_databases.hpp"

using namespace std::chrono_literals;
using svckit::Deadline;
using svckit::Task;
using svckit::kv::Reply;
using svckit::kv::Store;

namespace {

Task<void> sleep_for(std::chrono::milliseconds how_long) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, how_long);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

// Takes one of ARGV[1] places: {1, taken} or {0, taken} when all are taken.
const svckit::kv::Script kTakeOne{
    R"lua(
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
if taken >= tonumber(ARGV[1]) then return {0, taken} end
redis.call('SET', KEYS[1], taken + 1)
return {1, taken + 1}
)lua",
    [](svckit::kv::Entries& e, std::span<const std::string> keys,
       std::span<const std::string> args) {
      auto taken = std::stoll(e.get(keys[0]).value_or("0"));
      if (taken >= std::stoll(args[0])) return Reply{Reply::List{Reply{0}, Reply{taken}}};
      e.set(keys[0], std::to_string(taken + 1), {});
      return Reply{Reply::List{Reply{1}, Reply{taken + 1}}};
    }};

class KvContract : public testing::TestWithParam<std::string> {
 protected:
  KvContract()
      : store(svckit::kv::open_store(GetParam() == "redis" ? test_redis_url() : "memory://",
                                     {.loops = {&loop.context(), &other.context()}})),
        prefix("test:" + svckit::uuid_v4() + ":") {}
  LoopThread loop, other;
  std::unique_ptr<Store> store;
  std::string prefix;  // keys of this test alone: the Redis is shared
};

TEST_P(KvContract, SetGetAndExpiry) {
  auto& kv = *store;
  EXPECT_EQ(loop.run(kv.get(prefix + "missing")), std::nullopt);
  loop.run(kv.set(prefix + "kept", "a value\r\nwith CRLF and \0 bytes"));
  loop.run(kv.set(prefix + "brief", "soon gone", 100ms));
  EXPECT_EQ(loop.run(kv.get(prefix + "kept")), "a value\r\nwith CRLF and \0 bytes");
  EXPECT_EQ(loop.run(kv.get(prefix + "brief")), "soon gone");
  std::string big(1 << 20, 'x');
  loop.run(kv.set(prefix + "big", big));
  EXPECT_EQ(loop.run(kv.get(prefix + "big")), big);
  loop.run(sleep_for(250ms));
  EXPECT_EQ(loop.run(kv.get(prefix + "brief")), std::nullopt);
  EXPECT_EQ(loop.run(kv.get(prefix + "kept")), "a value\r\nwith CRLF and \0 bytes");
  EXPECT_TRUE(loop.run(kv.erase(prefix + "kept")));
  EXPECT_FALSE(loop.run(kv.erase(prefix + "kept")));
  EXPECT_EQ(loop.run(kv.get(prefix + "kept")), std::nullopt);
}

TEST_P(KvContract, AddOnlyWhenAbsent) {
  auto& kv = *store;
  EXPECT_TRUE(loop.run(kv.add(prefix + "lock", "first", 150ms)));
  EXPECT_FALSE(loop.run(kv.add(prefix + "lock", "second", 150ms)));
  EXPECT_EQ(loop.run(kv.get(prefix + "lock")), "first");
  loop.run(sleep_for(300ms));
  EXPECT_TRUE(loop.run(kv.add(prefix + "lock", "third")));
  EXPECT_EQ(loop.run(kv.get(prefix + "lock")), "third");
}

TEST_P(KvContract, CompareAndSetChangesOnlyWhatItExpects) {
  auto& kv = *store;
  auto key = prefix + "config";
  EXPECT_FALSE(loop.run(kv.compare_and_set(key, std::string("v1"), "v2")));
  EXPECT_EQ(loop.run(kv.get(key)), std::nullopt) << "a failed compare changes nothing";
  EXPECT_TRUE(loop.run(kv.compare_and_set(key, std::nullopt, "v1")));
  EXPECT_FALSE(loop.run(kv.compare_and_set(key, std::nullopt, "other")));
  EXPECT_FALSE(loop.run(kv.compare_and_set(key, std::string("v0"), "v2")));
  EXPECT_EQ(loop.run(kv.get(key)), "v1");
  EXPECT_TRUE(loop.run(kv.compare_and_set(key, std::string("v1"), "v2", 100ms)));
  EXPECT_EQ(loop.run(kv.get(key)), "v2");
  loop.run(sleep_for(250ms));
  EXPECT_EQ(loop.run(kv.get(key)), std::nullopt) << "the ttl given with the new value holds";
}

Task<void> increments(Store& kv, std::string key, int times) {
  for (int i = 0; i < times; ++i) co_await kv.increment(key);
}

TEST_P(KvContract, IncrementsFromTwoLoopsAddUp) {
  auto& kv = *store;
  auto key = prefix + "counter";
  auto a = loop.spawn(increments(kv, key, 500));
  auto b = other.spawn(increments(kv, key, 500));
  a.get();
  b.get();
  EXPECT_EQ(loop.run(kv.get(key)), "1000");
  EXPECT_EQ(loop.run(kv.increment(key, -1000)), 0);
  EXPECT_EQ(loop.run(kv.increment(prefix + "windowed", 5, 100ms)), 5);
  EXPECT_EQ(loop.run(kv.increment(prefix + "windowed", 5, 10s)), 10) << "the ttl is the creator's";
  loop.run(sleep_for(250ms));
  EXPECT_EQ(loop.run(kv.get(prefix + "windowed")), std::nullopt);
  loop.run(kv.set(prefix + "text", "not a number"));
  EXPECT_THROW(loop.run(kv.increment(prefix + "text")), std::invalid_argument);
  EXPECT_EQ(loop.run(kv.get(prefix + "text")), "not a number");
}

TEST_P(KvContract, ConcurrentCallsOnOneLoopGetTheirOwnReplies) {
  // A Redis connection pipelines these: each caller must get its own key's value back.
  auto& kv = *store;
  for (int i = 0; i < 200; ++i) loop.run(kv.set(prefix + std::to_string(i), std::to_string(i)));
  std::vector<std::future<std::optional<std::string>>> got;
  for (int i = 0; i < 200; ++i) got.push_back(loop.spawn(kv.get(prefix + std::to_string(i))));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i].get(), std::to_string(i));
}

TEST_P(KvContract, ScriptsRunAtomically) {
  auto& kv = *store;
  auto key = prefix + "places";
  auto take = [&](LoopThread& on) { return on.spawn(kv.run(kTakeOne, {key}, {"300"})); };
  std::vector<std::future<Reply>> replies;
  for (int i = 0; i < 200; ++i) {
    replies.push_back(take(loop));
    replies.push_back(take(other));
  }
  int granted = 0;
  for (auto& r : replies) granted += static_cast<int>(r.get().list().at(0).integer());
  EXPECT_EQ(granted, 300) << "never more places than there are";
  EXPECT_EQ(loop.run(kv.get(key)), "300");
}

TEST_P(KvContract, PublishedMessagesReachSubscribers) {
  auto& kv = *store;
  std::mutex mutex;
  std::vector<std::string> heard;
  kv.subscribe(prefix + "news", [&](std::string_view m) {
    std::lock_guard lock(mutex);
    heard.emplace_back(m);
  });
  kv.subscribe(prefix + "other", [&](std::string_view) { ADD_FAILURE() << "not this channel"; });
  // Redis subscribes in the background: publish until the first one is heard.
  for (int i = 0; i < 200; ++i) {
    loop.run(kv.publish(prefix + "news", "hello"));
    {
      std::lock_guard lock(mutex);
      if (!heard.empty()) break;
    }
    loop.run(sleep_for(10ms));
  }
  loop.run(kv.publish(prefix + "news", "last"));
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mutex);
      if (!heard.empty() && heard.back() == "last") break;
    }
    loop.run(sleep_for(10ms));
  }
  std::lock_guard lock(mutex);
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(heard.back(), "last");
}

TEST_P(KvContract, ABatchAnswersEachCommandInOrder) {
  auto& kv = *store;
  loop.run(kv.set(prefix + "one", "1"));
  svckit::kv::Batch batch;
  batch.get(prefix + "one")
      .get(prefix + "missing")
      .set(prefix + "two", "two", 100ms)
      .increment(prefix + "n", 5)
      .increment(prefix + "n", -2)
      .erase(prefix + "one")
      .erase(prefix + "one")
      .get(prefix + "two");
  auto replies = loop.run(kv.run(batch));
  ASSERT_EQ(replies.size(), 8u);
  EXPECT_EQ(replies[0].text(), "1");
  EXPECT_TRUE(replies[1].is_nil());
  EXPECT_TRUE(replies[2].is_nil()) << "a set answers nothing";
  EXPECT_EQ(replies[3].integer(), 5);
  EXPECT_EQ(replies[4].integer(), 3);
  EXPECT_EQ(replies[5].integer(), 1);
  EXPECT_EQ(replies[6].integer(), 0) << "nothing left to erase";
  EXPECT_EQ(replies[7].text(), "two");
  EXPECT_EQ(loop.run(kv.get(prefix + "one")), std::nullopt);
  EXPECT_TRUE(loop.run(kv.run(svckit::kv::Batch())).empty());
  loop.run(sleep_for(250ms));
  EXPECT_EQ(loop.run(kv.get(prefix + "two")), std::nullopt) << "the set's ttl holds";
}

TEST_P(KvContract, ABatchWithARefusedCommandRunsTheRestAndNamesIt) {
  auto& kv = *store;
  loop.run(kv.set(prefix + "text", "not a number"));
  svckit::kv::Batch batch;
  batch.set(prefix + "before", "b").increment(prefix + "text").set(prefix + "after", "a");
  try {
    loop.run(kv.run(batch));
    FAIL() << "an increment of text was answered";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(prefix + "text"), std::string::npos) << e.what();
  }
  EXPECT_EQ(loop.run(kv.get(prefix + "text")), "not a number");
  EXPECT_EQ(loop.run(kv.get(prefix + "before")), "b");
  EXPECT_EQ(loop.run(kv.get(prefix + "after")), "a") << "a batch is a pipeline, not a transaction";
  EXPECT_EQ(loop.run(kv.increment(prefix + "n")), 1) << "the connection goes on serving";
}

Task<std::vector<Reply>> batch_of_gets(Store& kv, std::string prefix, int from) {
  svckit::kv::Batch batch;
  for (int i = from; i < from + 10; ++i) batch.get(prefix + std::to_string(i));
  co_return co_await kv.run(batch);
}

TEST_P(KvContract, BatchesAndCallsOnOneLoopGetTheirOwnReplies) {
  // Interleaved on one pipelined connection: each batch must get its own keys' values back.
  auto& kv = *store;
  for (int i = 0; i < 200; ++i) loop.run(kv.set(prefix + std::to_string(i), std::to_string(i)));
  std::vector<std::future<std::vector<Reply>>> batches;
  std::vector<std::future<std::optional<std::string>>> singles;
  for (int from = 0; from < 200; from += 10) {
    batches.push_back(loop.spawn(batch_of_gets(kv, prefix, from)));
    singles.push_back(loop.spawn(kv.get(prefix + std::to_string(from))));
  }
  for (int b = 0; b < 20; ++b) {
    auto replies = batches[b].get();
    ASSERT_EQ(replies.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(replies[i].text(), std::to_string(b * 10 + i));
    EXPECT_EQ(singles[b].get(), std::to_string(b * 10));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, KvContract, testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// A listener that accepts and never answers: a server that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_;
  int port_;
};

int unused_port() {
  SilentServer probe;  // bound, then closed: nothing listens there afterwards
  return probe.port();
}

TEST(KvRedis, AnUnreachableServerFailsFastAndTheNextCallsFailAtOnce) {
  LoopThread loop;
  auto kv = svckit::kv::open_store("redis://127.0.0.1:" + std::to_string(unused_port()),
                                   {.loops = {&loop.context()}});
  auto started = std::chrono::steady_clock::now();
  try {
    loop.run(kv->get("k"));
    FAIL() << "no server, yet an answer";
  } catch (const svckit::ServiceUnavailable& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_NE(std::string(e.what()).find("unavailable"), std::string::npos) << e.what();
  }
  // Within the backoff the store does not try again: no wait at all.
  auto again = std::chrono::steady_clock::now();
  EXPECT_THROW(loop.run(kv->set("k", "v")), svckit::ServiceUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - again, 50ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(loop.run(kv->ping()));
}

TEST(KvRedis, ASilentServerCostsACallItsDeadlineNotMore) {
  SilentServer silent;
  LoopThread loop;
  auto kv = svckit::kv::open_store("redis://127.0.0.1:" + std::to_string(silent.port()),
                                   {.timeout = 2000ms, .loops = {&loop.context()}});
  auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(loop.run(kv->get("k", Deadline::after(150ms))), svckit::ServiceUnavailable);
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 1500ms) << "the deadline, not the store's timeout";
  started = std::chrono::steady_clock::now();
  svckit::kv::Batch batch;
  batch.get("a").set("b", "c");
  EXPECT_THROW(loop.run(kv->run(batch, Deadline::after(150ms))), svckit::ServiceUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms) << "a batch too";
}

TEST(KvRedis, AWrongPasswordIsRefusedAndSaysSo) {
  LoopThread loop;
  auto url = test_redis_url();
  auto kv = svckit::kv::open_store("redis://:not-the-password@" + url.substr(url.find('@') + 1),
                                   {.loops = {&loop.context()}});
  try {
    loop.run(kv->get("k"));
    FAIL() << "a wrong password was accepted";
  } catch (const svckit::ServiceUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("not-the-password"), std::string::npos) << e.what();
  }
}

TEST(KvRedis, UrlsAreCheckedAndPasswordsMasked) {
  auto refused = [](const std::string& url) {
    try {
      svckit::kv::open_store(url);
      return std::string("accepted");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(refused("rediss://h:6380").find("TLS"), std::string::npos);
  EXPECT_NE(refused("redis://h:0").find("port"), std::string::npos);
  EXPECT_NE(refused("redis://h:70000").find("port"), std::string::npos);
  EXPECT_NE(refused("redis://h/16").find("database"), std::string::npos);
  EXPECT_NE(refused("redis://h/x").find("database"), std::string::npos);
  EXPECT_NE(refused("redis://user@h").find("password"), std::string::npos);
  EXPECT_NE(refused("redis://h?timeout=1").find("query"), std::string::npos);
  EXPECT_NE(refused("redis://:%zz@h").find("escape"), std::string::npos);
  EXPECT_NE(refused("http://h").find("memory:// or redis://"), std::string::npos);
  EXPECT_NE(refused("redis://").find("host"), std::string::npos);
  auto kv = svckit::kv::open_store("redis://app:s%40cret@cache.internal:6380/3");
  EXPECT_EQ(kv->shown(), "redis://app:***@cache.internal:6380/3");
  EXPECT_EQ(kv->backend(), "redis");
  EXPECT_EQ(svckit::kv::open_store("")->backend(), "memory");
}

}  // namespace

namespace {

// Accepts one connection and answers the first bytes it is sent with `answer`.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::string answer)
      : answer_(std::move(answer)), thread_([this] { serve(); }) {}
  ~ScriptedServer() {
    ::shutdown(listener_.fd(), SHUT_RDWR);
    thread_.join();
  }
  int port() const { return listener_.port(); }

 private:
  void serve() {
    int fd = ::accept(listener_.fd(), nullptr, nullptr);
    if (fd < 0) return;
    char buffer[256];
    if (::recv(fd, buffer, sizeof buffer, 0) > 0)
      ::send(fd, answer_.data(), answer_.size(), MSG_NOSIGNAL);
    ::recv(fd, buffer, sizeof buffer, 0);  // until the client closes
    ::close(fd);
  }
  std::string answer_;
  SilentServer listener_;  // before thread_: listening before it accepts
  std::thread thread_;
};

}  // namespace

TEST(KvRedis, AServerThatAnswersGarbageIsUnavailableNotACrash) {
  ScriptedServer garbage("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  LoopThread loop;
  auto kv = svckit::kv::open_store("redis://127.0.0.1:" + std::to_string(garbage.port()),
                                   {.loops = {&loop.context()}});
  try {
    loop.run(kv->get("k"));
    FAIL() << "garbage taken for a reply";
  } catch (const svckit::ServiceUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("unreadable reply"), std::string::npos) << e.what();
  }
}

TEST(KvRedis, AServerStateErrorInABatchMakesTheBatchUnavailable) {
  // The second of three replies says the server cannot write now (a replica being promoted).
  ScriptedServer readonly(
      "$1\r\nx\r\n-READONLY You can't write against a read only replica.\r\n"
      ":5\r\n");
  LoopThread loop;
  auto kv = svckit::kv::open_store("redis://127.0.0.1:" + std::to_string(readonly.port()),
                                   {.loops = {&loop.context()}});
  svckit::kv::Batch batch;
  batch.get("a").set("b", "c").increment("n");
  try {
    loop.run(kv->run(batch));
    FAIL() << "a batch the server could not serve was answered";
  } catch (const svckit::ServiceUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("READONLY"), std::string::npos) << e.what();
  }
}
