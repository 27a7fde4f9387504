#pragma once
// The keep-alive connections http::Client pools per I/O loop (client.hpp), closed at shutdown.
namespace boost::asio {
class io_context;
}

namespace svckit::http {

// Closes every idle connection any Client keeps for `loop`, and cancels its timer: a loop being
// shut down then has no pooled socket or pending timer keeping it running (a connection's timer
// waits for the deadline of the call it last served: seconds). Call on the loop's own thread. The
// App does it for each of its loops once its modules have stopped.
void close_pooled_connections(boost::asio::io_context& loop);

}  // namespace svckit::http
