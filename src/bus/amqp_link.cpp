#include "amqp_link.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <vector>

#include "svckit/log/logger.hpp"

namespace svckit::bus::detail {
namespace {

using namespace std::chrono_literals;
constexpr int kHeartbeatSeconds = 10;
constexpr int kFrameMax = 131072;
constexpr timeval kCallTimeout{5, 0};  // connect, handshake, each synchronous call
constexpr auto kMaxBackoff = 5s;

amqp_bytes_t bytes(std::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
std::string text(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

std::string field_text(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      return text(v.value.bytes);
    case AMQP_FIELD_KIND_BOOLEAN:
      return v.value.boolean ? "true" : "false";
    case AMQP_FIELD_KIND_I8:
      return std::to_string(v.value.i8);
    case AMQP_FIELD_KIND_U8:
      return std::to_string(v.value.u8);
    case AMQP_FIELD_KIND_I16:
      return std::to_string(v.value.i16);
    case AMQP_FIELD_KIND_U16:
      return std::to_string(v.value.u16);
    case AMQP_FIELD_KIND_I32:
      return std::to_string(v.value.i32);
    case AMQP_FIELD_KIND_U32:
      return std::to_string(v.value.u32);
    case AMQP_FIELD_KIND_I64:
      return std::to_string(v.value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
      return std::to_string(v.value.u64);
    case AMQP_FIELD_KIND_F32:
      return std::to_string(v.value.f32);
    case AMQP_FIELD_KIND_F64:
      return std::to_string(v.value.f64);
    default:
      return {};  // tables, arrays, decimals: not event attributes
  }
}

std::string reply_text(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
        return "connection closed by the broker: " +
               text(static_cast<amqp_connection_close_t*>(r.reply.decoded)->reply_text);
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
        return "channel closed by the broker: " +
               text(static_cast<amqp_channel_close_t*>(r.reply.decoded)->reply_text);
      return "unexpected method from the broker";
    default:
      return {};
  }
}

void check(const amqp_rpc_reply_t& r, const char* what) {
  if (r.reply_type != AMQP_RESPONSE_NORMAL)
    throw AmqpFailure(std::string(what) + ": " + reply_text(r));
}

}  // namespace

AmqpAddress parse_amqp_url(std::string_view url) {
  std::string buffer(url);
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK)
    // Not quoted back: whatever part of it is a password cannot be told from a malformed URL.
    throw BusError("BUS_URL: not a URL of the form amqp://user:password@host:port/vhost");
  if (info.port <= 0 || info.port > 65535) throw BusError("BUS_URL: the port must be 1-65535");
  AmqpAddress a;
  a.host = info.host;
  a.port = info.port;
  a.user = info.user;
  a.password = info.password;
  a.vhost = info.vhost && *info.vhost ? info.vhost : "/";
  a.tls = info.ssl != 0;
  a.display = std::string(a.tls ? "amqps://" : "amqp://") + a.user + "@" + a.host + ":" +
              std::to_string(a.port) + "/" + (a.vhost == "/" ? "" : a.vhost);
  return a;
}

void check_reply(amqp_connection_state_t conn, const char* what) {
  check(amqp_get_rpc_reply(conn), what);
}

void check_status(int status, const char* what) {
  if (status < 0) throw AmqpFailure(std::string(what) + ": " + amqp_error_string2(status));
}

void send_message(amqp_connection_state_t conn, amqp_channel_t channel, std::string_view exchange,
                  std::string_view routing_key, const AmqpMessage& m) {
  std::vector<amqp_table_entry_t> entries(m.headers.size());
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    entries[i].key = bytes(m.headers[i].first);
    entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[i].value.value.bytes = bytes(m.headers[i].second);
  }
  amqp_basic_properties_t p{};
  p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
  p.delivery_mode = m.persistent ? 2 : 1;
  p.headers.num_entries = static_cast<int>(entries.size());
  p.headers.entries = entries.data();
  auto set = [&p](const std::string& value, amqp_flags_t flag, amqp_bytes_t& field) {
    if (value.empty()) return;
    p._flags |= flag;
    field = bytes(value);
  };
  set(m.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type);
  set(m.message_id, AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id);
  set(m.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id);
  set(m.reply_to, AMQP_BASIC_REPLY_TO_FLAG, p.reply_to);
  set(m.type, AMQP_BASIC_TYPE_FLAG, p.type);
  set(m.app_id, AMQP_BASIC_APP_ID_FLAG, p.app_id);
  if (m.timestamp) {
    p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    p.timestamp = m.timestamp;
  }
  check_status(amqp_basic_publish(conn, channel, bytes(exchange), bytes(routing_key), 0, 0, &p,
                                  bytes(m.body)),
               "publishing");
}

AmqpMessage message_properties(const amqp_basic_properties_t& p) {
  AmqpMessage m;
  auto get = [&p](amqp_flags_t flag, const amqp_bytes_t& field, std::string& out) {
    if (p._flags & flag) out = text(field);
  };
  get(AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type, m.content_type);
  get(AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id, m.message_id);
  get(AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id, m.correlation_id);
  get(AMQP_BASIC_REPLY_TO_FLAG, p.reply_to, m.reply_to);
  get(AMQP_BASIC_TYPE_FLAG, p.type, m.type);
  get(AMQP_BASIC_APP_ID_FLAG, p.app_id, m.app_id);
  if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) m.timestamp = p.timestamp;
  m.persistent = (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && p.delivery_mode == 2;
  if (p._flags & AMQP_BASIC_HEADERS_FLAG)
    for (int i = 0; i < p.headers.num_entries; ++i)
      m.headers.emplace_back(text(p.headers.entries[i].key),
                             field_text(p.headers.entries[i].value));
  return m;
}

AmqpLink::AmqpLink(std::string name, AmqpAddress address, const log::Logger* logger)
    : name_(std::move(name)), address_(std::move(address)), logger_(logger) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw BusError("eventfd failed");
}

AmqpLink::~AmqpLink() {
  stop();
  ::close(wake_fd_);
}

void AmqpLink::start() {
  thread_ = std::thread([this] { run(); });
}

void AmqpLink::stop() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

void AmqpLink::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void AmqpLink::log_warning(std::string_view message, std::string_view error) const {
  if (logger_)
    logger_->warning(message, {{"link", name_}, {"broker", address_.display}, {"error", error}});
}

void AmqpLink::run() {
  std::mt19937 random(std::random_device{}());
  std::chrono::milliseconds backoff = 100ms;
  while (!stopping_) {
    amqp_connection_state_t conn = nullptr;
    try {
      conn = open_connection(address_);
      ++generation_;
      on_connected(conn);
      up_ = true;
      backoff = 100ms;
      if (logger_) logger_->info("bus connected", {{"link", name_}, {"broker", address_.display}});
      serve(conn);
    } catch (const std::exception& e) {
      if (!stopping_) log_warning("bus connection failed; reconnecting", e.what());
    }
    bool was_up = up_.exchange(false);
    on_lost();
    if (conn) {
      if (stopping_ && was_up) {  // a polite goodbye; after a failure there is no one to tell
        amqp_channel_close(conn, kChannel, AMQP_REPLY_SUCCESS);
        amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
      }
      amqp_destroy_connection(conn);
    }
    // Full jitter: after a broker restart the services do not all come back at once.
    std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
    if (!stopping_ && !sleep(std::chrono::milliseconds(jitter(random)))) break;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
}

amqp_connection_state_t open_connection(const AmqpAddress& address) {
  amqp_connection_state_t conn = amqp_new_connection();
  try {
    amqp_socket_t* socket = address.tls ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
    if (!socket) throw AmqpFailure("cannot create a socket");
    timeval timeout = kCallTimeout;
    check_status(amqp_socket_open_noblock(socket, address.host.c_str(), address.port, &timeout),
                 "connecting");
    amqp_set_handshake_timeout(conn, &timeout);
    amqp_set_rpc_timeout(conn, &timeout);
    check(amqp_login(conn, address.vhost.c_str(), 0, kFrameMax, kHeartbeatSeconds,
                     AMQP_SASL_METHOD_PLAIN, address.user.c_str(), address.password.c_str()),
          "logging in");
    amqp_channel_open(conn, kChannel);
    check_reply(conn, "opening a channel");
    return conn;
  } catch (...) {
    amqp_destroy_connection(conn);
    throw;
  }
}

void AmqpLink::serve(amqp_connection_state_t conn) {
  while (!stopping_) {
    bool more_to_send = pump(conn);
    wait_for_input(conn, more_to_send);
    read_frames(conn);
    on_frames_read();
  }
}

void AmqpLink::wait_for_input(amqp_connection_state_t conn, bool more_to_send) {
  if (more_to_send || amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn)) return;
  pollfd fds[2] = {{amqp_get_sockfd(conn), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  ::poll(fds, 2, poll_timeout_ms());
  if (fds[1].revents & POLLIN) {  // cleared before pump() looks: a later wake() is not lost
    std::uint64_t woken;
    [[maybe_unused]] auto n = ::read(wake_fd_, &woken, sizeof woken);
  }
}

void AmqpLink::read_frames(amqp_connection_state_t conn) {
  for (int i = 0; i < 1024; ++i) {  // then let pump() send what came in meanwhile
    amqp_frame_t frame;
    timeval now{0, 0};
    int status = amqp_simple_wait_frame_noblock(conn, &frame, &now);
    if (status == AMQP_STATUS_TIMEOUT) return;
    check_status(status, "reading");
    if (frame.frame_type == AMQP_FRAME_METHOD) {
      if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        throw AmqpFailure("the broker closed the connection: " + text(close->reply_text));
      }
      if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        throw AmqpFailure("the broker closed the channel: " + text(close->reply_text));
      }
    }
    on_frame(conn, frame);
    amqp_maybe_release_buffers_on_channel(conn, frame.channel);
  }
}

bool AmqpLink::sleep(std::chrono::milliseconds wait) {
  // Work handed over meanwhile waits for the connection; only stop() cuts the backoff short.
  auto until = std::chrono::steady_clock::now() + wait;
  while (!stopping_) {
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{wake_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) > 0) {
      std::uint64_t woken;
      [[maybe_unused]] auto n = ::read(wake_fd_, &woken, sizeof woken);
    }
  }
  return !stopping_;
}

}  // namespace svckit::bus::detail
