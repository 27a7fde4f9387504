#include "svckit/http/method.hpp"

namespace svckit::http {

Method parse_method(std::string_view name) {
  if (name == "GET") return Method::get;
  if (name == "POST") return Method::post;
  if (name == "PUT") return Method::put;
  if (name == "DELETE") return Method::del;
  if (name == "PATCH") return Method::patch;
  if (name == "HEAD") return Method::head;
  if (name == "OPTIONS") return Method::options;
  return Method::other;
}

std::string_view method_name(Method method) {
  switch (method) {
    case Method::get:
      return "GET";
    case Method::head:
      return "HEAD";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::patch:
      return "PATCH";
    case Method::del:
      return "DELETE";
    case Method::options:
      return "OPTIONS";
    case Method::other:
      return "OTHER";
  }
  return "OTHER";
}

}  // namespace svckit::http
