#pragma once
// A request body written to a file, or only hashed, as it arrives (body_stream.hpp), whether it
// was streamed or arrived whole:
//
//   auto saved = co_await http::save_body(req, uploads_dir);   // .upload-XXXXXX in uploads_dir
//   std::filesystem::rename(saved.path, blobs / saved.sha256);
//
// Memory per transfer is one 64 KiB buffer. Past the route's limit the read fails with 413, a
// client that stops sending with 400; either way the partial file is removed before the error
// reaches the handler.
#include <cstdint>
#include <filesystem>
#include <string>

#include "svckit/http/request.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

struct SavedBody {
  std::filesystem::path path;  // empty for hash_body()
  std::uint64_t size = 0;
  std::string sha256;  // lower-case hex; empty when not asked for
};

// What save_body() computes on the way: SHA-256 costs about as much CPU as the rest of an upload
// (2 GB/s per core with SHA-NI, against the kernel's copies), so a caller that needs no digest
// says so.
enum class BodyDigest { sha256, none };

// Writes the body to a new file in `directory` (created if missing), its SHA-256 computed on the
// way unless `digest` is none. The caller owns the file: rename it into place, or remove it.
Task<SavedBody> save_body(Request& req, const std::filesystem::path& directory,
                          BodyDigest digest = BodyDigest::sha256);
// The body's size and SHA-256, nothing kept.
Task<SavedBody> hash_body(Request& req);

}  // namespace svckit::http
