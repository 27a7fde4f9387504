#pragma once
// Whether a message Beast's parser read leaves its connection open, as the fast parser
// (message_head.hpp) decides it, so that both paths agree: the parser's answer (the version,
// Connection and Proxy-Connection, a body read to the end of the stream), and no `close` in any
// Connection field. Beast's message looks at the first field only, and its parser lets an
// HTTP/1.0 `keep-alive` outweigh a `close`; RFC 9112 §9.6 says close wins.
#include <boost/beast/http/parser.hpp>

#include "message_head.hpp"

namespace svckit::http::detail {

template <bool isRequest, class Body, class Allocator>
bool keeps_alive(const boost::beast::http::parser<isRequest, Body, Allocator>& parser) {
  if (!parser.keep_alive()) return false;
  auto [it, end] = parser.get().equal_range(boost::beast::http::field::connection);
  for (; it != end; ++it)
    if (says_close(it->value())) return false;
  return true;
}

}  // namespace svckit::http::detail
