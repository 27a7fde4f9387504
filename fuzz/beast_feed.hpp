#pragma once
// What the HTTP targets share: bytes into a Beast parser as the server and the client give
// them, and the fields Beast read beside the ones the fast parser read.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>

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

using FieldList = std::vector<std::pair<std::string, std::string_view>>;

// Name (lower case) and value of each field, grouped by name, each name's values in the order
// they came. Beast keeps a field after the others of its name; the fast parser keeps the order
// of arrival: the same fields either way, and what a reader of one name sees is the same.
template <class Fields>
FieldList grouped(const Fields& fields) {
  FieldList out;
  for (const auto& [name, value] : fields) {
    std::string lower{std::string_view(name)};
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace_back(std::move(lower), std::string_view(value));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

template <class Message>
FieldList beast_fields(const Message& message) {
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  for (const auto& field : message) fields.emplace_back(field.name_string(), field.value());
  return grouped(fields);
}

}  // namespace svckit::fuzz
