#include "svckit/http/form_data.hpp"

#include <algorithm>
#include <list>

#include "body_chunks.hpp"
#include "svckit/http/ascii.hpp"

namespace svckit::http {
namespace {

// A header's parameter value: a token, or a quoted string with \-escapes.
std::optional<std::string> parameter(std::string_view header, std::string_view name) {
  std::size_t at = 0;
  while ((at = header.find(';', at)) != std::string_view::npos) {
    ++at;
    while (at < header.size() && (header[at] == ' ' || header[at] == '\t')) ++at;
    auto eq = header.find('=', at);
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = header.substr(at, eq - at);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    std::string value;
    std::size_t i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      // No backslash escapes: browsers send a quote in a name as %22 and a backslash as it is
      // (a Windows path's), as the HTML standard has them encode form data.
      for (++i; i < header.size() && header[i] != '"'; ++i) value.push_back(header[i]);
      if (i >= header.size()) return std::nullopt;  // unterminated
    } else {
      while (i < header.size() && header[i] != ';' && header[i] != ' ')
        value.push_back(header[i++]);
    }
    if (iequals(key, name)) return value;
    at = i;
  }
  return std::nullopt;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "C:\\Users\\me\\a.pdf" or "../a.pdf": what a client may send as a filename; the name is the
// last part.
std::string base_name(std::string_view filename) {
  auto slash = filename.find_last_of("/\\");
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  return std::string(filename);
}

}  // namespace

const std::string* Form::field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f.value;
  return nullptr;
}

std::optional<std::string> form_boundary(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  if (!iequals(trimmed(content_type.substr(0, semicolon)), "multipart/form-data"))
    return std::nullopt;
  auto boundary = parameter(content_type, "boundary");
  // RFC 2046 §5.1.1: 1-70 characters, not ending in a space.
  if (!boundary || boundary->empty() || boundary->size() > 70 || boundary->back() == ' ')
    return std::nullopt;
  return boundary;
}

struct FormParser::State {
  enum class Step { preamble, after_delimiter, headers, body, done, failed };
  std::string delimiter;  // "\r\n--" + boundary
  FormLimits limits;
  Sink sink;
  Step step = Step::preamble;
  std::string pending;  // bytes not yet taken
  std::size_t parts = 0, files = 0;

  void parse_headers(std::string_view block) {
    Part part;
    bool disposition = false;
    part.content_type = "application/octet-stream";
    std::size_t start = 0;
    while (start < block.size()) {
      auto end = block.find("\r\n", start);
      if (end == std::string_view::npos) end = block.size();
      auto line = block.substr(start, end - start);
      start = end + 2;
      // A bare CR or LF, or another control character, would travel on into whatever keeps
      // the value (a stored Content-Type served back as a header).
      if (std::any_of(line.begin(), line.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }))
        throw BadRequest("a form part's header holds a control character");
      auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0)
        throw BadRequest("a form part has a malformed header");
      auto name = line.substr(0, colon);
      auto value = trimmed(line.substr(colon + 1));
      if (iequals(name, "Content-Disposition")) {
        auto kind = trimmed(value.substr(0, value.find(';')));
        if (!iequals(kind, "form-data")) throw BadRequest("a form part is not form-data");
        auto field = parameter(value, "name");
        if (!field) throw BadRequest("a form part has no name");
        part.name = *field;
        if (auto filename = parameter(value, "filename")) {
          part.is_file = true;
          part.filename = base_name(*filename);
        }
        disposition = true;
      } else if (iequals(name, "Content-Type")) {
        part.content_type = std::string(value);
      }
    }
    if (!disposition) throw BadRequest("a form part has no Content-Disposition");
    if (++parts > limits.max_parts)
      throw PayloadTooLarge("the form has more than " + std::to_string(limits.max_parts) +
                            " parts");
    if (part.is_file && ++files > limits.max_files)
      throw PayloadTooLarge("the form has more than " + std::to_string(limits.max_files) +
                            " files");
    sink.begin(part);
  }

  // Takes what it can of `pending`; false when it needs more bytes.
  bool step_once() {
    switch (step) {
      case Step::preamble:
      case Step::body: {
        auto at = pending.find(delimiter);
        if (at == std::string::npos) {
          // All but what could be the start of a delimiter is the part's.
          std::size_t safe =
              pending.size() >= delimiter.size() ? pending.size() - delimiter.size() + 1 : 0;
          if (step == Step::body && safe) sink.data(pending.data(), safe);
          pending.erase(0, safe);
          return false;
        }
        if (step == Step::body) {
          if (at) sink.data(pending.data(), at);
          sink.end();
        }
        pending.erase(0, at + delimiter.size());
        step = Step::after_delimiter;
        return true;
      }
      case Step::after_delimiter: {
        // Transport padding (RFC 2046 §5.1.1): spaces and tabs before the CRLF.
        auto padding = pending.find_first_not_of(" \t");
        if (padding == std::string::npos) padding = pending.size();
        if (padding > 64) throw BadRequest("a form boundary is followed by too much padding");
        if (pending.compare(0, 2, "--") == 0) {
          step = Step::done;
          pending.clear();
          return false;
        }
        if (pending.size() < padding + 2) return false;
        if (pending.compare(padding, 2, "\r\n") != 0)
          throw BadRequest("a form boundary is followed by neither CRLF nor --");
        pending.erase(0, padding + 2);
        step = Step::headers;
        return true;
      }
      case Step::headers: {
        if (pending.compare(0, 2, "\r\n") == 0) throw BadRequest("a form part has no headers");
        auto end = pending.find("\r\n\r\n");
        if (end == std::string::npos) {
          // Past the limit even if the next byte ended the block (its last three bytes may be
          // the start of the CRLF CRLF): the same verdict however the body was cut (fuzzed).
          if (pending.size() > limits.max_headers + 3)
            throw PayloadTooLarge("a form part's headers are too large");
          return false;
        }
        if (end > limits.max_headers) throw PayloadTooLarge("a form part's headers are too large");
        parse_headers(std::string_view(pending).substr(0, end));
        pending.erase(0, end + 4);
        step = Step::body;
        return true;
      }
      case Step::done:
        pending.clear();  // the epilogue is ignored
        return false;
      case Step::failed:
        return false;
    }
    return false;
  }
};

FormParser::FormParser(std::string boundary, FormLimits limits, Sink sink)
    : state_(std::make_unique<State>()) {
  state_->delimiter = "\r\n--" + boundary;
  state_->limits = limits;
  state_->sink = std::move(sink);
  // The first boundary has no CRLF before it (unless there is a preamble): look for it as if
  // there were one.
  state_->pending = "\r\n";
}

FormParser::~FormParser() = default;

void FormParser::feed(const char* data, std::size_t size) {
  auto& s = *state_;
  if (s.step == State::Step::done) return;
  if (s.step == State::Step::failed) throw BadRequest("the form was refused already");
  try {
    s.pending.append(data, size);
    while (s.step_once()) {
    }
  } catch (...) {
    s.step = State::Step::failed;  // what it handed on is not handed on again
    s.pending.clear();
    throw;
  }
}

void FormParser::finish() {
  if (state_->step != State::Step::done)
    throw BadRequest("the form ends before its closing boundary");
}

Task<Form> save_form(Request& req, const std::filesystem::path& directory, FormLimits limits) {
  auto boundary = form_boundary(req.header("Content-Type").value_or(""));
  if (!boundary) throw UnsupportedMediaType("the body is not multipart/form-data with a boundary");
  Form form;
  // Files being written: removed unless the whole form was read (PartialFile's destructor).
  std::list<detail::PartialFile> open;
  std::optional<detail::Sha256> hash;
  FormFile* file = nullptr;
  FormField* field = nullptr;
  FormParser::Sink sink;
  sink.begin = [&](const FormParser::Part& part) {
    if (part.is_file) {
      open.emplace_back(directory);
      hash.emplace();
      form.files.push_back({part.name, part.filename, part.content_type, {}});
      file = &form.files.back();
    } else {
      form.fields.push_back({part.name, {}});
      field = &form.fields.back();
    }
  };
  sink.data = [&](const char* data, std::size_t size) {
    if (file) {
      hash->update(data, size);
      open.back().write(data, size);
      file->saved.size += size;
    } else if (field) {
      if (field->value.size() + size > limits.max_field)
        throw PayloadTooLarge("the form field '" + field->name + "' is longer than " +
                              std::to_string(limits.max_field) + " bytes");
      field->value.append(data, size);
    }
  };
  sink.end = [&] {
    if (file) file->saved.sha256 = hash->hex();
    file = nullptr;
    field = nullptr;
  };
  FormParser parser(std::move(*boundary), limits, std::move(sink));
  auto take = [&](const char* data, std::size_t size) { parser.feed(data, size); };
  co_await detail::each_chunk(req, take);
  parser.finish();
  // An empty file input: a browser sends it as a part with filename="" and no bytes.
  std::vector<FormFile> files;
  std::vector<std::filesystem::path> kept;
  try {
    auto each = open.begin();
    for (auto& f : form.files) {
      auto& file = *each++;
      if (f.filename.empty() && f.saved.size == 0) continue;  // removed with `open`
      f.saved.path = file.keep();
      kept.push_back(f.saved.path);
      files.push_back(std::move(f));
    }
  } catch (...) {
    std::error_code ignored;
    for (const auto& path : kept) std::filesystem::remove(path, ignored);
    throw;
  }
  form.files = std::move(files);
  co_return form;
}

}  // namespace svckit::http
