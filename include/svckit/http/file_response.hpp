#pragma once
// A file as the answer to a GET or HEAD, with what clients and caches expect of a file server
// (RFC 9110): Range (206; a range outside the file: 416; several ranges are answered with the
// whole file, which the RFC allows), ETag and Last-Modified with If-None-Match,
// If-Modified-Since (304), If-Match, If-Unmodified-Since (412) and If-Range, Accept-Ranges,
// Content-Disposition. The bytes go out by sendfile(2) on plain connections; memory per
// transfer stays the same whatever the file's size.
//
//   co_return http::file_response(req, blobs / sha256, {.content_type = "image/png",
//                                                       .etag = "\"" + sha256 + "\"",
//                                                       .download_name = "cat.png"});
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"

namespace svckit::http {

struct FileOptions {
  std::string content_type = "application/octet-stream";
  // A strong validator, quoted ("\"<sha256>\""); empty: made from the file's size and mtime.
  std::string etag;
  // Set: Content-Disposition names it (attachment, or inline when `inline_disposition`).
  std::string download_name;
  bool inline_disposition = false;
  std::string cache_control;  // empty: none sent
  // Last-Modified, in Unix seconds; unset: the file's mtime (which a content-addressed store
  // shares among every name of the same bytes).
  std::optional<std::int64_t> last_modified;
};

// The answer for `path`; NotFound when it is not a readable regular file.
Response file_response(const Request& req, const std::filesystem::path& path,
                       FileOptions options = {});

// Content-Disposition for `name`: an ASCII fallback and the UTF-8 name (RFC 6266, RFC 8187).
std::string content_disposition(std::string_view name, bool inline_disposition = false);

}  // namespace svckit::http
