#pragma once
// The XML of the S3 API: answers written with escaping, and the few request documents S3
// clients send (CompleteMultipartUpload, Delete) read without a general parser: only the
// elements named, their text unescaped.
#include <string>
#include <string_view>
#include <vector>

namespace raptorflow::files {

std::string xml_escape(std::string_view text);

// Appends elements to an S3 answer: `xml.leaf("Key", key)`.
class XmlWriter {
 public:
  XmlWriter() { out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"; }
  XmlWriter& open(std::string_view tag, std::string_view attributes = {});
  XmlWriter& close(std::string_view tag);
  XmlWriter& leaf(std::string_view tag, std::string_view text);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// The contents of each <tag>...</tag> in `document`, in order (nested in whatever).
std::vector<std::string_view> xml_elements(std::string_view document, std::string_view tag);
// The unescaped text of the first <tag> in `element`; empty when there is none.
std::string xml_text(std::string_view element, std::string_view tag);

}  // namespace raptorflow::files
