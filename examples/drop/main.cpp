// A file drop: uploads streamed to disk as they arrive, downloads served from disk. PUT
// /api/v1/drop/{name} takes a body of up to DROP_MAX_BYTES (default 4 GiB; chunked or with a
// Content-Length, Expect: 100-continue honoured) without holding it in memory, stores it under
// its SHA-256 (equal content is kept once) and answers with that digest. GET answers with the
// file: Range, ETag (the digest), If-None-Match, If-Range and Content-Disposition, by
// sendfile(2). An upload that fails halfway (the client goes away, the body is too large) leaves
// nothing behind.
//
//   build/bin/drop &
//   curl -T big.iso localhost:8000/api/v1/drop/big.iso
//   curl -r 0-1023 -o head.bin localhost:8000/api/v1/drop/big.iso
#include <mutex>
#include <svckit/http/body_file.hpp>
#include <svckit/http/file_response.hpp>
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

namespace {

std::string name_of(const Request& req) {
  auto name = req.param("name");
  bool ok = !name.empty() && name.size() <= 255 && name != "." && name != "..";
  for (char c : name) ok = ok && c != '/' && static_cast<unsigned char>(c) >= 0x20;
  if (!ok) throw svckit::ValidationError("name", "1 to 255 characters, no '/'");
  return name;
}

struct Stored {
  std::string sha256;
  std::uint64_t size = 0;
  std::string content_type;
};

}  // namespace

struct Drop : svckit::Module {
  std::filesystem::path blobs;
  std::mutex mutex;
  std::map<std::string, Stored> names;  // name -> what it holds (in memory: an example)

  static void declare(svckit::Settings& settings) {
    settings.declare("drop", {.name = "DROP_MAX_BYTES",
                              .type = svckit::SettingType::size,
                              .default_value = "4GiB",
                              .min = 1,
                              .help = "largest upload (larger: 413)"});
  }

  void install(svckit::App& app) override {
    blobs = std::filesystem::path(app.config().data_dir) / "drop";
    std::filesystem::create_directories(blobs);
    auto api = app.http().group("/api/v1/drop");
    api.put("/{name}",
            [this](Request& req) -> svckit::Task<Response> {
              auto name = name_of(req);  // before the body is read: a bad name costs no upload
              auto saved = co_await svckit::http::save_body(req, blobs / "incoming");
              std::filesystem::rename(saved.path, blobs / saved.sha256);  // one copy per content
              std::lock_guard lock(mutex);
              names[name] = {
                  saved.sha256, saved.size,
                  std::string(req.header("Content-Type").value_or("application/octet-stream"))};
              co_return Response::json(
                  201, {{"name", name}, {"sha256", saved.sha256}, {"size", saved.size}});
            })
        .streams_body(app.settings().size("DROP_MAX_BYTES"))
        .summary("Upload a file, streamed to disk");
    api.get("/{name}",
            [this](Request& req) -> svckit::Task<Response> {
              auto name = name_of(req);
              Stored stored;
              {
                std::lock_guard lock(mutex);
                auto it = names.find(name);
                if (it == names.end()) throw svckit::NotFound("no file named " + name);
                stored = it->second;
              }
              co_return svckit::http::file_response(req, blobs / stored.sha256,
                                                    {.content_type = stored.content_type,
                                                     .etag = "\"" + stored.sha256 + "\"",
                                                     .download_name = name});
            })
        .summary("Download a file (Range, ETag)");
  }
};

int main(int argc, char** argv) {
  return svckit::run<Drop>("drop", argc, argv);
}
