#pragma once
// Strict, allocation-free parsers for the common HTTP/1.1 message heads: a request or status
// line and plain header lines, framed by Content-Length or without a body. Each either accepts
// a head that is valid by RFC 9112 or declines; the server (for requests) and the client (for
// answers) then give the bytes to Beast's full parser, which handles everything else (chunked
// bodies, Expect, obs-fold, interim answers, read-to-close bodies, limits) and reports errors.
// Declining is always safe; accepting what Beast would reject is the bug to avoid.
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace svckit::http::detail {

struct RequestHead {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::size_t size = 0;            // bytes of the head, the blank line included
  std::size_t content_length = 0;  // 0 when absent
  bool keep_alive = true;
};

// An answer's head. Its body is the next content_length bytes.
struct ResponseHead {
  int status = 0;
  int minor_version = 1;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::size_t size = 0;
  std::size_t content_length = 0;  // 0 for HEAD, 204 and 304 whatever the field says
  bool keep_alive = true;
};

enum class HeadParse {
  complete,    // `head` describes the request; its body is the next content_length bytes
  incomplete,  // no blank line yet: read more, then try again
  declined,    // valid or not, not the common case: use the full parser
};

// Parses the head at the start of `bytes`. Views in `head` point into `bytes`. A head longer
// than `max_head` is declined (the full parser answers 431).
HeadParse parse_request_head(std::string_view bytes, std::size_t max_head, RequestHead& head);

// Parses the head of an answer to a request that was a HEAD (`to_head`) or not. Declines
// interim (1xx) answers and answers framed by anything but Content-Length (chunked, or read
// to the close), except those that never have a body.
HeadParse parse_response_head(std::string_view bytes, std::size_t max_head, bool to_head,
                              ResponseHead& head);

// Whether a Connection field's value holds the option `close` (comma-separated, any case).
bool says_close(std::string_view connection_value);

}  // namespace svckit::http::detail
