#pragma once
// What save_body() and save_form() share: a body fed in pieces as it arrives, a file being
// written that is removed unless kept, and SHA-256 on the way.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "svckit/error.hpp"
#include "svckit/hex.hpp"
#include "svckit/http/body_stream.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/http/router.hpp"
#include "svckit/task.hpp"

namespace svckit::http::detail {

constexpr std::size_t kChunk = 64 * 1024;

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("SHA-256 is not available");
  }
  void update(const char* data, std::size_t size) { EVP_DigestUpdate(context_.get(), data, size); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_.get(), digest.data(), &size);
    return to_hex(digest.data(), size);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

// A file being written, removed unless kept.
class PartialFile {
 public:
  explicit PartialFile(const std::filesystem::path& directory) {
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    std::string name = (directory / ".upload-XXXXXX").string();
    std::vector<char> buffer(name.begin(), name.end());
    buffer.push_back('\0');
    fd_ = ::mkostemp(buffer.data(), O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("cannot create a file in " + directory.string() + ": " +
                               std::strerror(errno));
    path_ = buffer.data();
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
    }
  }

  void write(const char* data, std::size_t size) {
    while (size > 0) {
      auto n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        throw std::runtime_error(std::string("cannot write an upload: ") + std::strerror(errno));
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  std::filesystem::path keep() {
    if (::close(std::exchange(fd_, -1)) != 0)
      throw std::runtime_error(std::string("cannot write an upload: ") + std::strerror(errno));
    kept_ = true;
    return path_;
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
  bool kept_ = false;
};

// The route's limit for a body that arrived whole (it was read as any body is).
inline void check_limit(const Request& req, std::uint64_t size) {
  const Route* route = req.matched_route();
  if (route && route->doc->streamed_body_limit && size > *route->doc->streamed_body_limit)
    throw PayloadTooLarge("the request body is larger than this route takes");
}

// Feeds the body, as it arrives, to `take(data, size)`.
template <class Take>
Task<std::uint64_t> each_chunk(Request& req, Take take) {
  BodyStream* stream = req.body_stream();
  if (!stream) {
    check_limit(req, req.body().size());
    take(req.body().data(), req.body().size());
    co_return req.body().size();
  }
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  std::uint64_t total = 0;
  for (;;) {
    auto n = co_await stream->read_some(std::span<char>(buffer.get(), kChunk));
    if (n == 0) break;
    take(buffer.get(), n);
    total += n;
  }
  co_return total;
}

}  // namespace svckit::http::detail
