#include "svckit/http/body_file.hpp"

#include "body_chunks.hpp"

namespace svckit::http {

using detail::each_chunk;
using detail::PartialFile;
using detail::Sha256;

Task<SavedBody> save_body(Request& req, const std::filesystem::path& directory, BodyDigest digest) {
  PartialFile file(directory);
  std::optional<Sha256> hash;
  if (digest == BodyDigest::sha256) hash.emplace();
  SavedBody saved;
  auto take = [&](const char* data, std::size_t size) {
    if (hash) hash->update(data, size);
    file.write(data, size);
  };
  saved.size = co_await each_chunk(req, take);
  if (hash) saved.sha256 = hash->hex();
  saved.path = file.keep();
  co_return saved;
}

Task<SavedBody> hash_body(Request& req) {
  Sha256 hash;
  SavedBody saved;
  auto take = [&](const char* data, std::size_t size) { hash.update(data, size); };
  saved.size = co_await each_chunk(req, take);
  saved.sha256 = hash.hex();
  co_return saved;
}

}  // namespace svckit::http
