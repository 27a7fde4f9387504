#pragma once
// multipart/form-data (RFC 7578, what a browser's <form enctype="multipart/form-data"> sends)
// read as it arrives: small fields into memory, files straight to disk with their SHA-256, so an
// upload of any size takes one 64 KiB buffer.
//
//   files.post("/", upload).streams_body(5ull << 30);
//   auto form = co_await http::save_form(req, uploads_dir);
//   for (auto& f : form.files) std::filesystem::rename(f.saved.path, blobs / f.saved.sha256);
//
// A malformed form (no boundary, a part without Content-Disposition, a control character in a
// part's header, a body that ends before the closing boundary) is a 400; a field or a header block
// over its limit, or more parts than allowed, a 413. Either way every file written so far is
// removed before the error reaches the handler; on success the caller owns the files. An empty file
// input (a part with filename="" and no bytes, as browsers send one) is left out. Quoted parameters
// are read as the HTML standard has browsers write them: no backslash escapes (a quote in a name
// comes as %22).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/http/body_file.hpp"
#include "svckit/http/request.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

struct FormLimits {
  std::size_t max_field = 64 * 1024;   // bytes of a field that is not a file
  std::size_t max_headers = 8 * 1024;  // bytes of one part's header block
  std::size_t max_parts = 100;
  std::size_t max_files = 16;
};

struct FormField {
  std::string name;
  std::string value;
};

struct FormFile {
  std::string field;         // the form field's name
  std::string filename;      // as the client named it, without any directory part; may be empty
  std::string content_type;  // "application/octet-stream" when the part says none
  SavedBody saved;           // path, size, sha256
};

struct Form {
  std::vector<FormField> fields;
  std::vector<FormFile> files;
  // The first field called `name`; nullptr when there is none.
  const std::string* field(std::string_view name) const;
};

// The boundary of a multipart/form-data Content-Type; nullopt when it is not one or has none.
std::optional<std::string> form_boundary(std::string_view content_type);

// Reads the body as multipart/form-data: 415 when the Content-Type says otherwise.
Task<Form> save_form(Request& req, const std::filesystem::path& directory, FormLimits limits = {});

// The parser under save_form(), fed the body in pieces of any size; for tests and fuzzing.
class FormParser {
 public:
  struct Part {
    std::string name, filename, content_type;
    bool is_file = false;  // it had a filename parameter
  };
  struct Sink {
    std::function<void(const Part&)> begin;              // a part's headers are in
    std::function<void(const char*, std::size_t)> data;  // its bytes, in order
    std::function<void()> end;                           // it is whole
  };
  FormParser(std::string boundary, FormLimits limits, Sink sink);
  ~FormParser();
  // Throws BadRequest or PayloadTooLarge as save_form() answers (or whatever the sink throws);
  // after a throw the parser is spent, and every later feed() is a BadRequest.
  void feed(const char* data, std::size_t size);
  // The body has ended: BadRequest unless the closing boundary was seen.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace svckit::http
