#pragma once
// A request body read as it arrives, for routes that take large bodies (uploads) without
// holding them in memory. A route says so when it is added:
//
//   files.put("/{path}", handler).streams_body(5ull << 30);   // up to 5 GiB
//
// Its handler then reads req.body_stream() (or hands the request to save_body(), body_file.hpp),
// while the client is still sending; memory per transfer is what each read takes. A declared
// Content-Length over the route's limit is refused with 413 before the handler runs, and a
// chunked body that grows past it fails the read with 413. Bodies small enough to arrive whole
// with their head (up to MAX_BODY) are read as any body is, into Request::body(), and
// body_stream() is null: read through save_body() or hash_body() to handle both.
#include <cstdint>
#include <optional>
#include <span>

#include "svckit/task.hpp"

namespace svckit::http {

class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // The next bytes of the body, at least one unless it has ended (0). Throws PayloadTooLarge
  // past the route's limit and BadRequest when the client stops sending or breaks the framing
  // (the connection is closed after the answer).
  virtual Task<std::size_t> read_some(std::span<char> into) = 0;
  // The declared Content-Length; nullopt for a chunked body.
  virtual std::optional<std::uint64_t> length() const = 0;
  // Whether the whole body has been read.
  virtual bool finished() const = 0;
};

}  // namespace svckit::http
