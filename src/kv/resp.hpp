#pragma once
// RESP, Redis's wire protocol: commands written here (no allocation beyond the buffer they go
// into), replies parsed by hiredis's reader (the part of hiredis svckit uses; the socket is
// Asio's, on the caller's I/O loop).
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "svckit/kv/store.hpp"

struct redisReader;

namespace svckit::kv::resp {

// An error reply ("-ERR ...", "-NOSCRIPT ...", "-WRONGPASS ..."): the text after the dash.
struct ErrorReply : std::runtime_error {
  using std::runtime_error::runtime_error;
  bool starts_with(std::string_view code) const {
    return std::string_view(what()).starts_with(code);
  }
};

// An error reply to the command at `index` of a batch.
struct CommandError : ErrorReply {
  CommandError(const ErrorReply& e, std::size_t at) : ErrorReply(e), index(at) {}
  std::size_t index;
};

// Appends one command to `out`.
void append_command(std::string& out, std::initializer_list<std::string_view> argv);
// The same in steps, for a command whose arguments are counted at run time: the count, then
// each argument.
void begin_command(std::string& out, std::size_t arguments);
void append_argument(std::string& out, std::string_view argument);

// An error reply arrives as a Reply holding this.
struct Parsed {
  Reply reply;
  std::optional<ErrorReply> error;
};

// Replies parsed from the bytes fed in, in order.
class Reader {
 public:
  Reader();
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  // std::runtime_error when the bytes are not RESP.
  void feed(const char* data, std::size_t size);
  // The next whole reply, if one has arrived.
  std::optional<Parsed> next();

 private:
  redisReader* reader_;
};

}  // namespace svckit::kv::resp
