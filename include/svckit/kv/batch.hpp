#pragma once
// Several key-value commands sent together and answered together: one wait for all of them
// instead of one per command, for a caller with many keys at hand (a page of cached entries, a
// set of counters). On Redis the commands go out in one write and come back in one read, which
// is what redis-benchmark's -P does; the in-process store runs them under one lock.
//
//   svckit::kv::Batch batch;
//   batch.get("a").set("b", "1", 30s).increment("hits").erase("c");
//   auto replies = co_await kv.run(batch);  // std::vector<Reply>, one per command, in order
//
// A batch is a pipeline, not a transaction: each command is atomic, others' commands may come in
// between (a Script is what runs atomically). A command refused (an increment of a key that does
// not hold an integer) throws std::invalid_argument naming its key once the whole batch has run;
// the other commands' effects stand.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace svckit::kv {

class Batch {
 public:
  enum class Kind : std::uint8_t { get, set, increment, erase };
  struct Command {
    Kind kind;
    std::string key;
    std::string value;                // set
    std::chrono::milliseconds ttl{};  // set; 0: no expiry
    std::int64_t by = 0;              // increment
  };

  // Reply: the value, or nil when the key is absent.
  Batch& get(std::string key) {
    commands_.push_back({Kind::get, std::move(key)});
    return *this;
  }
  // Reply: nil.
  Batch& set(std::string key, std::string value, std::chrono::milliseconds ttl = {}) {
    commands_.push_back({Kind::set, std::move(key), std::move(value), ttl});
    return *this;
  }
  // Reply: the sum (an absent key counts as 0; a key it creates has no expiry).
  Batch& increment(std::string key, std::int64_t by = 1) {
    commands_.push_back({Kind::increment, std::move(key), {}, {}, by});
    return *this;
  }
  // Reply: 1 when there was something to erase, else 0.
  Batch& erase(std::string key) {
    commands_.push_back({Kind::erase, std::move(key)});
    return *this;
  }

  const std::vector<Command>& commands() const { return commands_; }
  std::size_t size() const { return commands_.size(); }
  bool empty() const { return commands_.empty(); }
  void clear() { commands_.clear(); }

 private:
  std::vector<Command> commands_;
};

}  // namespace svckit::kv
