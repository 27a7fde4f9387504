#include "resp.hpp"

#include <hiredis/hiredis.h>

namespace svckit::kv::resp {
namespace {

void append_bulk_of(std::string& out, std::string_view arg) {
  out += '$';
  out += std::to_string(arg.size());
  out += "\r\n";
  out += arg;
  out += "\r\n";
}

Reply converted(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return Reply{static_cast<std::int64_t>(r->integer)};
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return Reply{std::string(r->str, r->len)};
    case REDIS_REPLY_ARRAY: {
      Reply::List list;
      list.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) list.push_back(converted(r->element[i]));
      return Reply{std::move(list)};
    }
    default:
      return Reply{};
  }
}

}  // namespace

void append_command(std::string& out, std::initializer_list<std::string_view> argv) {
  begin_command(out, argv.size());
  for (auto arg : argv) append_bulk_of(out, arg);
}

void begin_command(std::string& out, std::size_t arguments) {
  out += '*';
  out += std::to_string(arguments);
  out += "\r\n";
}

void append_argument(std::string& out, std::string_view argument) {
  append_bulk_of(out, argument);
}

Reader::Reader() : reader_(redisReaderCreate()) {
  if (!reader_) throw std::bad_alloc();
}

Reader::~Reader() {
  redisReaderFree(reader_);
}

void Reader::feed(const char* data, std::size_t size) {
  if (redisReaderFeed(reader_, data, size) != REDIS_OK)
    throw std::runtime_error(std::string("unreadable reply: ") + reader_->errstr);
}

std::optional<Parsed> Reader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK)
    throw std::runtime_error(std::string("unreadable reply: ") + reader_->errstr);
  if (!raw) return std::nullopt;
  std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                     freeReplyObject);
  Parsed out;
  if (reply->type == REDIS_REPLY_ERROR)
    out.error.emplace(std::string(reply->str, reply->len));
  else
    out.reply = converted(reply.get());
  return out;
}

}  // namespace svckit::kv::resp
