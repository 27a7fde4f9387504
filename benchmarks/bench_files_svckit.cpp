// The svckit side of benchmarks/file_transfer.py, configured as its nginx is: GET /files/{name}
// answers with the file in DIR (file_response: sendfile, ranges, validators), PUT /up/{name}
// writes the body to a file in DIR as it arrives (save_body, no digest) and renames it into
// place, as nginx's DAV module does.
//   FILES_DIR=/tmp/x PORT=8080 bench_files_svckit
#include <svckit/http/body_file.hpp>
#include <svckit/http/file_response.hpp>
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

struct Files : svckit::Module {
  std::filesystem::path dir;

  static void declare(svckit::Settings& settings) {
    settings.declare("bench", {.name = "FILES_DIR", .required = true, .help = "the files"});
  }

  void install(svckit::App& app) override {
    dir = app.settings().text("FILES_DIR");
    auto name = [](const Request& req) {
      auto n = req.param("name");
      if (n.empty() || n.find('/') != std::string::npos || n[0] == '.')
        throw svckit::ValidationError("name", "a plain file name");
      return n;
    };
    app.http().group("/files").get("/{name}", [this, name](Request& req) -> svckit::Task<Response> {
      co_return svckit::http::file_response(req, dir / name(req));
    });
    app.http()
        .group("/up")
        .put("/{name}",
             [this, name](Request& req) -> svckit::Task<Response> {
               auto target = dir / name(req);
               auto saved =
                   co_await svckit::http::save_body(req, dir, svckit::http::BodyDigest::none);
               std::filesystem::rename(saved.path, target);
               co_return Response::empty(201);
             })
        .streams_body(1ull << 40);
  }
};

int main(int argc, char** argv) {
  return svckit::run<Files>("bench-files", argc, argv);
}
