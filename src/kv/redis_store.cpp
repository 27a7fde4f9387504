// The Redis store: a connection per I/O loop (redis_connection.hpp) for commands, and one more,
// on the first loop, subscribed to the channels handlers listen on.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>

#include "redis_connection.hpp"
#include "stores.hpp"
#include "svckit/log/logger.hpp"

namespace svckit::kv {
namespace {

using asio::ip::tcp;

// Sets only when the key holds ARGV[2] (ARGV[1] == "1": only when it is absent).
const char* const kCompareAndSet = R"lua(
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
)lua";

// INCRBY that sets the TTL when it created the key.
const char* const kIncrementWithTtl = R"lua(
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
)lua";

// Redis's answer to INCRBY on something else than an integer, as the in-process store says it.
[[noreturn]] void rethrow_as_argument_error(const resp::ErrorReply& e, const std::string& key) {
  if (std::string_view(e.what()).find("not an integer") != std::string_view::npos)
    throw std::invalid_argument("kv: " + key + " does not hold an integer in range");
  throw e;
}

// SET, with a TTL when it is not 0.
void append_set(std::string& out, const std::string& key, const std::string& value,
                milliseconds ttl) {
  if (ttl.count() > 0)
    resp::append_command(out, {"SET", key, value, "PX", std::to_string(ttl.count())});
  else
    resp::append_command(out, {"SET", key, value});
}

// One command of a Batch in RESP.
void append_command(std::string& out, const Batch::Command& c) {
  switch (c.kind) {
    case Batch::Kind::get:
      resp::append_command(out, {"GET", c.key});
      break;
    case Batch::Kind::set:
      append_set(out, c.key, c.value, c.ttl);
      break;
    case Batch::Kind::increment:
      resp::append_command(out, {"INCRBY", c.key, std::to_string(c.by)});
      break;
    case Batch::Kind::erase:
      resp::append_command(out, {"DEL", c.key});
      break;
  }
}

// The subscribed connection: (re)connects in the background and subscribes again; each time
// Redis confirms a subscription, the channel's handlers hear that they may have missed messages
// published before it.
class RedisSubscriber : public std::enable_shared_from_this<RedisSubscriber> {
 public:
  RedisSubscriber(asio::io_context& loop, std::shared_ptr<const RedisEndpoint> endpoint,
                  milliseconds timeout, const log::Logger* logger)
      : loop_(loop),
        endpoint_(std::move(endpoint)),
        timeout_(timeout),
        logger_(logger),
        backoff_timer_(loop) {}

  void add(std::string channel, Store::MessageHandler on_message, std::function<void()> on_gap) {
    bool start = false;
    {
      std::lock_guard lock(mutex_);
      channels_[channel].push_back({std::move(on_message), std::move(on_gap)});
      start = !started_;
      started_ = true;
    }
    if (start) {
      asio::co_spawn(loop_, run(shared_from_this()), asio::detached);
      return;
    }
    asio::post(loop_, [self = shared_from_this(), channel] { self->send_subscribe(channel); });
  }

  // After it returns no handler runs. Any thread.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      channels_.clear();
    }
    asio::post(loop_, [self = shared_from_this()] {
      boost::system::error_code ignored;
      if (self->socket_) self->socket_->close(ignored);
      self->backoff_timer_.cancel();
    });
  }

 private:
  struct Handlers {
    Store::MessageHandler on_message;
    std::function<void()> on_gap;
  };

  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  static Task<void> run(std::shared_ptr<RedisSubscriber> self) {
    milliseconds backoff{0};
    while (!self->closed()) {
      try {
        co_await self->serve();
      } catch (const std::exception& e) {
        if (self->logger_ && !self->closed())
          self->logger_->warning("redis subscription lost; subscribing again",
                                 {{"redis", self->endpoint_->shown}, {"error", e.what()}});
      }
      self->socket_.reset();
      backoff =
          backoff.count() == 0 ? milliseconds(100) : std::min(backoff * 2, milliseconds(5000));
      self->backoff_timer_.expires_after(backoff);
      boost::system::error_code ec;
      co_await self->backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // One connection's life: subscribe to every channel, then hand out messages until it ends.
  Task<void> serve() {
    auto connected = co_await connect_to(*endpoint_, Deadline::after(timeout_));
    socket_ = std::make_shared<tcp::socket>(std::move(connected));
    if (closed()) co_return;  // close() ran while connecting: its socket was not there to close
    // A half-open connection would stop messages silently: the kernel probes an idle one.
    socket_->set_option(asio::socket_base::keep_alive(true));
    std::vector<std::string> names;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [name, handlers] : channels_) names.push_back(name);
    }
    for (const auto& name : names) send_subscribe(name);
    resp::Reader reader;
    char buffer[16384];
    auto socket = socket_;
    for (;;) {
      boost::system::error_code ec;
      auto n = co_await socket->async_read_some(asio::buffer(buffer),
                                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) throw std::runtime_error(ec.message());
      reader.feed(buffer, n);
      while (auto parsed = reader.next()) dispatch(*parsed);
    }
  }

  void dispatch(const resp::Parsed& parsed) {
    if (parsed.error) throw std::runtime_error(parsed.error->what());
    const auto* list = std::get_if<Reply::List>(&parsed.reply.value);
    if (!list || list->size() != 3 || (*list)[0].is_nil() || (*list)[1].is_nil()) return;
    const auto& kind = (*list)[0].text();
    std::lock_guard lock(mutex_);
    auto it = channels_.find((*list)[1].text());
    if (it == channels_.end()) return;
    // Under the lock, so that none runs once close() has returned; a handler must not call
    // subscribe() or close(), and what it throws is dropped.
    try {
      if (kind == "message") {
        for (const auto& h : it->second) h.on_message((*list)[2].text());
      } else if (kind == "subscribe") {
        // Subscribed (again): what was published before is not coming.
        for (const auto& h : it->second)
          if (h.on_gap) h.on_gap();
      }
    } catch (const std::exception&) {
    }
  }

  // Queued behind whatever is being written on this connection (on the loop).
  void send_subscribe(const std::string& channel) {
    if (!socket_) return;  // the next connection subscribes to it
    resp::append_command(out_, {"SUBSCRIBE", channel});
    write();
  }
  void write() {
    if (writing_now_ || out_.empty() || !socket_) return;
    writing_now_ = true;
    writing_.swap(out_);
    out_.clear();
    asio::async_write(
        *socket_, asio::buffer(writing_),
        [self = shared_from_this(), socket = socket_](boost::system::error_code ec, std::size_t) {
          self->writing_now_ = false;
          self->writing_.clear();
          if (ec) {
            boost::system::error_code ignored;
            socket->close(ignored);  // the reader sees it and reconnects
            return;
          }
          self->write();
        });
  }

  asio::io_context& loop_;
  std::shared_ptr<const RedisEndpoint> endpoint_;
  milliseconds timeout_;
  const log::Logger* logger_;
  std::mutex mutex_;  // channels_, closed_, started_; handlers run under it
  std::map<std::string, std::vector<Handlers>, std::less<>> channels_;
  bool closed_ = false;
  bool started_ = false;
  // On the loop only:
  std::shared_ptr<tcp::socket> socket_;
  std::string out_, writing_;
  bool writing_now_ = false;
  asio::steady_timer backoff_timer_;
};

class RedisStore final : public Store {
 public:
  RedisStore(RedisEndpoint endpoint, StoreOptions options)
      : endpoint_(std::make_shared<const RedisEndpoint>(std::move(endpoint))),
        options_(std::move(options)) {
    if (options_.meter) {
      metrics_.up =
          &options_.meter
               ->gauges("kv_connections_up", "Connections to the key-value store that are up.")
               .add({});
      metrics_.unavailable =
          &options_.meter
               ->counters("kv_unavailable_total",
                          "Key-value calls that failed: the store was away or did not answer "
                          "in time.")
               .add({});
    }
    for (auto* loop : options_.loops) {
      by_loop_.emplace_back();
      for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.connections_per_loop); ++i)
        by_loop_.back().connections.push_back(make_connection(*loop));
    }
  }

  ~RedisStore() override { close(); }

  void close() override {
    auto close_on_its_loop = [](const std::shared_ptr<RedisConnection>& c) {
      asio::post(c->loop(), [c] { c->close(); });
    };
    for (auto& loop : by_loop_)
      for (auto& c : loop.connections) close_on_its_loop(c);
    std::lock_guard lock(extra_mutex_);
    for (auto& c : extra_) close_on_its_loop(c);
    if (subscriber_) subscriber_->close();
  }

  std::string_view backend() const override { return "redis"; }
  std::string shown() const override { return endpoint_->shown; }

  Task<bool> ping(Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    try {
      auto command = [](std::string& out) { resp::append_command(out, {"PING"}); };
      auto reply = co_await c.call(command, deadline);
      co_return reply.text() == "PONG";
    } catch (const ServiceUnavailable&) {
      co_return false;
    }
  }

  Task<std::optional<std::string>> get(std::string key, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto command = [&](std::string& out) { resp::append_command(out, {"GET", key}); };
    auto reply = co_await c.call(command, deadline);
    if (reply.is_nil()) co_return std::nullopt;
    co_return std::move(std::get<std::string>(reply.value));
  }

  Task<void> set(std::string key, std::string value, milliseconds ttl, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto command = [&](std::string& out) { append_set(out, key, value, ttl); };
    co_await c.call(command, deadline);
  }

  Task<bool> add(std::string key, std::string value, milliseconds ttl, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto command = [&](std::string& out) {
      if (ttl.count() > 0)
        resp::append_command(out, {"SET", key, value, "NX", "PX", std::to_string(ttl.count())});
      else
        resp::append_command(out, {"SET", key, value, "NX"});
    };
    auto reply = co_await c.call(command, deadline);
    co_return !reply.is_nil();
  }

  Task<bool> compare_and_set(std::string key, std::optional<std::string> expected,
                             std::string value, milliseconds ttl, Deadline deadline) override {
    static const Script script{kCompareAndSet, {}};
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args{expected ? "0" : "1", expected.value_or(""), std::move(value),
                                  std::to_string(ttl.count())};
    auto reply = co_await c.evaluate(script, keys, args, deadline);
    co_return reply.integer() == 1;
  }

  Task<std::int64_t> increment(std::string key, std::int64_t by, milliseconds ttl,
                               Deadline deadline) override {
    static const Script with_ttl{kIncrementWithTtl, {}};
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    try {
      if (ttl.count() > 0) {
        std::vector<std::string> keys{key};
        std::vector<std::string> args{std::to_string(by), std::to_string(ttl.count())};
        auto reply = co_await c.evaluate(with_ttl, keys, args, deadline);
        co_return reply.integer();
      }
      auto command = [&](std::string& out) {
        resp::append_command(out, {"INCRBY", key, std::to_string(by)});
      };
      auto reply = co_await c.call(command, deadline);
      co_return reply.integer();
    } catch (const resp::ErrorReply& e) {
      rethrow_as_argument_error(e, key);
    }
  }

  Task<bool> erase(std::string key, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto command = [&](std::string& out) { resp::append_command(out, {"DEL", key}); };
    auto reply = co_await c.call(command, deadline);
    co_return reply.integer() > 0;
  }

  Task<Reply> run(const Script& script, std::vector<std::string> keys,
                  std::vector<std::string> args, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    co_return co_await c.evaluate(script, keys, args, deadline);
  }

  Task<std::vector<Reply>> run(const Batch& batch, Deadline deadline) override {
    if (batch.empty()) co_return std::vector<Reply>{};
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto commands = [&](std::string& out) {
      for (const auto& command : batch.commands()) append_command(out, command);
    };
    Reply reply;
    try {
      reply = co_await c.call(commands, deadline, batch.size());
    } catch (const resp::CommandError& e) {
      rethrow_as_argument_error(e, batch.commands().at(e.index).key);
    }
    auto replies = std::move(std::get<Reply::List>(reply.value));
    for (std::size_t i = 0; i < replies.size(); ++i)
      if (batch.commands()[i].kind == Batch::Kind::set) replies[i] = Reply{};  // not "OK"
    co_return replies;
  }

  Task<void> publish(std::string channel, std::string message, Deadline deadline) override {
    auto ex = co_await asio::this_coro::executor;
    auto& c = connection_on(ex);
    auto command = [&](std::string& out) {
      resp::append_command(out, {"PUBLISH", channel, message});
    };
    co_await c.call(command, deadline);
  }

  void subscribe(std::string channel, MessageHandler on_message,
                 std::function<void()> on_gap) override {
    {
      std::lock_guard lock(extra_mutex_);
      if (!subscriber_) {
        if (options_.loops.empty())
          throw std::logic_error("kv: subscribing needs the store to be given its loops");
        subscriber_ = std::make_shared<RedisSubscriber>(*options_.loops.front(), endpoint_,
                                                        options_.timeout, options_.logger);
      }
    }
    subscriber_->add(std::move(channel), std::move(on_message), std::move(on_gap));
  }

 private:
  std::shared_ptr<RedisConnection> make_connection(asio::io_context& loop) {
    return std::make_shared<RedisConnection>(loop, endpoint_, options_.timeout, metrics_,
                                             options_.logger);
  }

  // The connection of the loop the caller runs on.
  RedisConnection& connection_on(const asio::any_io_executor& ex) {
    auto& context = asio::query(ex, asio::execution::context);
    for (auto& loop : by_loop_)
      if (static_cast<asio::execution_context*>(&loop.connections[0]->loop()) == &context)
        return *loop.connections[loop.next++ % loop.connections.size()];
    std::lock_guard lock(extra_mutex_);
    for (auto& c : extra_)
      if (static_cast<asio::execution_context*>(&c->loop()) == &context) return *c;
    extra_.push_back(make_connection(static_cast<asio::io_context&>(context)));
    return *extra_.back();
  }

  std::shared_ptr<const RedisEndpoint> endpoint_;
  StoreOptions options_;
  ConnectionMetrics metrics_;
  // Each loop's connections, taken in turn by the calls made on that loop (on its thread only).
  struct LoopConnections {
    std::vector<std::shared_ptr<RedisConnection>> connections;
    std::size_t next = 0;
  };
  std::vector<LoopConnections> by_loop_;
  std::mutex extra_mutex_;
  std::vector<std::shared_ptr<RedisConnection>> extra_;  // loops not given at open
  std::shared_ptr<RedisSubscriber> subscriber_;
};

}  // namespace

std::unique_ptr<Store> redis_store(RedisEndpoint endpoint, StoreOptions options) {
  return std::make_unique<RedisStore>(std::move(endpoint), std::move(options));
}

}  // namespace svckit::kv
