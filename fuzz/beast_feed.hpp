#pragma once
// Bytes into a Beast parser as the server and the client give them: until it is done, stops
// taking them, or fails. The error, if any.
#include <boost/beast/http.hpp>
#include <string_view>

namespace svckit::fuzz {

template <class Parser>
boost::beast::error_code feed(Parser& parser, std::string_view bytes) {
  boost::beast::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec || used == 0) break;
    bytes.remove_prefix(used);
  }
  return ec;
}

}  // namespace svckit::fuzz
