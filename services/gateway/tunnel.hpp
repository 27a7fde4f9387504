#pragma once
// Upgrades through the gateway (WebSocket): the upgrade request goes to one target of the
// route's upstream with the headers a proxied request gets (identity, X-Forwarded-*, request id,
// traceparent); the upstream's answer decides. A 101 is relayed and, from then on, the bytes of
// both directions until either side closes; any other answer is passed on as a plain response.
// The route's middleware (edge auth, rate limits) has run before, as for any request.
#include <chrono>
#include <string_view>

#include "svckit/http/client.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"
#include "svckit/task.hpp"

namespace svckit::gateway {

// A request asks to switch to WebSocket (Connection lists "upgrade", Upgrade names
// "websocket"). Other upgrades (h2c, ...) are proxied as plain requests, their Upgrade header
// dropped: relayed, they would let a client speak past the route's rules.
bool asks_to_upgrade(const http::Request& req);

// Sends `upgrade` (its headers as a proxied request's) to `target_url` ("http://host:port")
// within `timeout`. Throws UpstreamError (502/504) when no answer comes.
Task<http::Response> tunnel(std::string_view target_url, const http::Request& req,
                            http::ClientRequest upgrade, std::chrono::milliseconds timeout);

}  // namespace svckit::gateway
