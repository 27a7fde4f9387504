#include "svckit/trace/otlp.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "svckit/hex.hpp"
#include "svckit/log/logger.hpp"

namespace svckit::trace {
namespace {

// --- protobuf's wire format --------------------------------------------------------------
//
// Every message's length is computed before it is written (*_size), so a span is written
// straight into room made for it: no temporary string per nested message.

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2 };

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes into room made for it beforehand (every size is computed first): a pointer moved along,
// no call per field.
struct Writer {
  char* p;
  void append(std::string_view bytes) {
    std::memcpy(p, bytes.data(), bytes.size());
    p += bytes.size();
  }
};

void varint(Writer& out, std::uint64_t v) {
  while (v >= 0x80) {
    *out.p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *out.p++ = static_cast<char>(v);
}

void tag(Writer& out, std::uint32_t field, WireType type) {
  varint(out, (field << 3) | type);
}

// A length-delimited field of `length` bytes: its tag and length (the caller writes the bytes).
void open_field(Writer& out, std::uint32_t field, std::size_t length) {
  tag(out, field, kLength);
  varint(out, length);
}

std::size_t field_size(std::uint32_t field, std::size_t length) {  // tag (fields < 16), length
  (void)field;
  return 1 + varint_size(length) + length;
}

void bytes_field(Writer& out, std::uint32_t field, std::string_view bytes) {
  open_field(out, field, bytes.size());
  out.append(bytes);
}

void fixed64_field(Writer& out, std::uint32_t field, std::uint64_t v) {
  tag(out, field, kFixed64);
  for (int i = 0; i < 8; ++i) *out.p++ = static_cast<char>(v >> (8 * i));
}

void varint_field(Writer& out, std::uint32_t field, std::uint64_t v) {
  tag(out, field, kVarint);
  varint(out, v);
}

constexpr auto kHexValue = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<std::uint8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<std::uint8_t>(c - 'A' + 10);
  return t;
}();

// The bytes a hex id stands for (trace ids 16, span ids 8; never more than 32).
std::size_t id_size(std::string_view hex) {
  return std::min<std::size_t>(hex.size() / 2, 32);
}

// Eight hex digits as the four bytes they stand for: three ids a span.
void hex8_to_bytes(const char* digits, char* bytes) {
  const std::uint32_t big_endian = __builtin_bswap32(hex8_value(digits));
  std::memcpy(bytes, &big_endian, 4);
}

// A hex id as the bytes it stands for, written as a bytes field.
void id_field(Writer& out, std::uint32_t field, std::string_view hex) {
  const std::size_t n = id_size(hex);
  open_field(out, field, n);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4, out.p += 4) hex8_to_bytes(hex.data() + 2 * i, out.p);
  for (; i < n; ++i)
    *out.p++ = static_cast<char>(kHexValue[static_cast<unsigned char>(hex[2 * i])] << 4 |
                                 kHexValue[static_cast<unsigned char>(hex[2 * i + 1])]);
}

// AnyValue { string_value = 1; bool_value = 2; int_value = 3; double_value = 4; }
std::size_t any_value_size(const AttributeView& a) {
  return std::visit(
      [](const auto& v) -> std::size_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) return field_size(1, v.size());
        if constexpr (std::is_same_v<T, bool>) return 2;
        if constexpr (std::is_same_v<T, std::int64_t>)
          return 1 + varint_size(static_cast<std::uint64_t>(v));
        return 9;
      },
      a.value);
}

void any_value(Writer& out, const AttributeView& a) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          bytes_field(out, 1, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          varint_field(out, 2, v ? 1 : 0);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          varint_field(out, 3, static_cast<std::uint64_t>(v));
        } else {
          fixed64_field(out, 4, std::bit_cast<std::uint64_t>(v));
        }
      },
      a.value);
}

// KeyValue { key = 1; value = 2; }
std::size_t key_value_size(const AttributeView& a) {
  return field_size(1, a.key.size()) + field_size(2, any_value_size(a));
}

void key_value(Writer& out, std::uint32_t field, const AttributeView& a) {
  const std::size_t value_size = any_value_size(a);
  open_field(out, field, field_size(1, a.key.size()) + field_size(2, value_size));
  bytes_field(out, 1, a.key);
  open_field(out, 2, value_size);
  any_value(out, a);
}

// Status { message = 2; code = 3 }
std::size_t status_size(const SpanView& s) {
  return (s.status_message.empty() ? 0 : field_size(2, s.status_message.size())) + 2;
}

// Span { trace_id = 1; span_id = 2; trace_state = 3; parent_span_id = 4; name = 5; kind = 6;
//        start_time_unix_nano = 7 (fixed64); end_time_unix_nano = 8 (fixed64);
//        attributes = 9; status = 15 }
std::size_t span_size(const SpanView& s) {
  std::size_t n = field_size(1, id_size(s.trace_id)) + field_size(2, id_size(s.span_id));
  if (!s.tracestate.empty()) n += field_size(3, s.tracestate.size());
  if (!s.parent_span_id.empty()) n += field_size(4, id_size(s.parent_span_id));
  n += field_size(5, s.name.size()) + 2 + 9 + 9;
  for (const auto& a : s.attributes) n += field_size(9, key_value_size(a));
  if (s.error) n += field_size(15, status_size(s));
  return n;
}

void span_message(Writer& out, const SpanView& s) {
  id_field(out, 1, s.trace_id);
  id_field(out, 2, s.span_id);
  if (!s.tracestate.empty()) bytes_field(out, 3, s.tracestate);
  if (!s.parent_span_id.empty()) id_field(out, 4, s.parent_span_id);
  bytes_field(out, 5, s.name);
  varint_field(out, 6, static_cast<std::uint64_t>(s.kind));
  fixed64_field(out, 7, s.start_unix_nano);
  fixed64_field(out, 8, s.end_unix_nano);
  for (const auto& a : s.attributes) key_value(out, 9, a);
  if (s.error) {
    open_field(out, 15, status_size(s));
    if (!s.status_message.empty()) bytes_field(out, 2, s.status_message);
    varint_field(out, 3, 2);  // STATUS_CODE_ERROR
  }
}

constexpr std::string_view kScopeName = "svckit";
constexpr std::string_view kScopeVersion = "0.1";

// --- OTLP/JSON -----------------------------------------------------------------------------

void json_string(std::string& out, std::string_view text) {
  log::append_json_string(out, text);
}

void json_attribute(std::string& out, const AttributeView& a) {
  out += "{\"key\":";
  json_string(out, a.key);
  out += ",\"value\":{";
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          out += "\"stringValue\":";
          json_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "\"boolValue\":true" : "\"boolValue\":false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += "\"intValue\":\"";
          out += std::to_string(v);
          out += '"';
        } else if (!std::isfinite(v)) {  // proto3's JSON: these three as strings
          out += std::isnan(v) ? "\"doubleValue\":\"NaN\""
                 : v > 0       ? "\"doubleValue\":\"Infinity\""
                               : "\"doubleValue\":\"-Infinity\"";
        } else {
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
          out += "\"doubleValue\":";
          out.append(buf, end);
        }
      },
      a.value);
  out += "}}";
}

template <class Attributes>
void json_attributes(std::string& out, const Attributes& attributes) {
  out += '[';
  bool first = true;
  for (const auto& a : attributes) {
    if (!first) out += ',';
    first = false;
    if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Attribute>)
      json_attribute(out, view_of(a));
    else
      json_attribute(out, a);
  }
  out += ']';
}

void hex_member(std::string& out, std::string_view name, std::string_view hex) {
  out += name;
  json_string(out, hex);
}

void time_member(std::string& out, std::string_view name, std::uint64_t nanos) {
  out += name;
  out += '"';
  out += std::to_string(nanos);
  out += '"';
}

}  // namespace

// More than a span's encoding can take (every tag and length at its widest for a span this
// small): whether it fits the stack, without computing every nested size twice.
std::size_t span_size_bound(const SpanView& s) {
  std::size_t n = 8 + 6 + id_size(s.trace_id) + id_size(s.span_id) + id_size(s.parent_span_id) +
                  20 + 4 + s.name.size() + 4 + s.tracestate.size() + 16 + s.status_message.size();
  for (const auto& a : s.attributes) {
    n += 32 + a.key.size();
    if (const auto* text = std::get_if<std::string_view>(&a.value)) n += text->size();
  }
  return n;
}

void append_protobuf_span(std::string& out, const SpanView& span) {
  char stack[768];
  if (span_size_bound(span) <= sizeof stack) {
    // The message first, four bytes in (its tag and length take at most three here), then its
    // tag and length written just before it: one pass, one copy.
    Writer w{stack + 4};
    span_message(w, span);
    const auto size = static_cast<std::size_t>(w.p - (stack + 4));
    char head[4];
    Writer h{head};
    open_field(h, 2, size);
    const auto head_size = static_cast<std::size_t>(h.p - head);
    std::memcpy(stack + 4 - head_size, head, head_size);
    out.append(stack + 4 - head_size, head_size + size);
    return;
  }
  const std::size_t size = span_size(span);
  std::string large(field_size(2, size), '\0');
  Writer w{large.data()};
  open_field(w, 2, size);
  span_message(w, span);
  // The sizes and the writing agree, or memory past the span was written: stop at once.
  if (w.p != large.data() + large.size()) std::terminate();
  out.append(large);
}

void append_json_span(std::string& out, const SpanView& s) {
  hex_member(out, "{\"traceId\":", s.trace_id);
  hex_member(out, ",\"spanId\":", s.span_id);
  if (!s.parent_span_id.empty()) hex_member(out, ",\"parentSpanId\":", s.parent_span_id);
  if (!s.tracestate.empty()) hex_member(out, ",\"traceState\":", s.tracestate);
  out += ",\"name\":";
  json_string(out, s.name);
  out += ",\"kind\":";
  out += static_cast<char>('0' + static_cast<int>(s.kind));
  time_member(out, ",\"startTimeUnixNano\":", s.start_unix_nano);
  time_member(out, ",\"endTimeUnixNano\":", s.end_unix_nano);
  out += ",\"attributes\":";
  json_attributes(out, s.attributes);
  if (s.error) {
    out += ",\"status\":{\"code\":2";
    if (!s.status_message.empty()) {
      out += ",\"message\":";
      json_string(out, s.status_message);
    }
    out += '}';
  }
  out += '}';
}

// ExportTraceServiceRequest { resource_spans = 1 }; ResourceSpans { resource = 1;
// scope_spans = 2 }; Resource { attributes = 1 }; ScopeSpans { scope = 1; spans = 2 };
// InstrumentationScope { name = 1; version = 2 }.
std::string otlp_protobuf_request(const Resource& resource,
                                  std::span<const std::string_view> spans) {
  std::size_t resource_size = 0;
  for (const auto& a : resource.attributes)
    resource_size += field_size(1, key_value_size(view_of(a)));
  const std::size_t scope_size =
      field_size(1, kScopeName.size()) + field_size(2, kScopeVersion.size());
  std::size_t scope_spans_size = field_size(1, scope_size);
  for (auto s : spans) scope_spans_size += s.size();  // each with its tag and length already
  const std::size_t resource_spans_size =
      field_size(1, resource_size) + field_size(2, scope_spans_size);

  // The head (the resource, the scope) through a Writer, then the spans appended: the body is
  // reserved, never zero-filled, and each span copied once.
  // Two tags and lengths (at most 11 bytes each), the resource, the scope.
  std::string head(22 + field_size(1, resource_size) + field_size(1, scope_size), '\0');
  Writer w{head.data()};
  open_field(w, 1, resource_spans_size);
  open_field(w, 1, resource_size);
  for (const auto& a : resource.attributes) key_value(w, 1, view_of(a));
  open_field(w, 2, scope_spans_size);
  open_field(w, 1, scope_size);
  bytes_field(w, 1, kScopeName);
  bytes_field(w, 2, kScopeVersion);
  head.resize(static_cast<std::size_t>(w.p - head.data()));
  std::string out;
  out.reserve(field_size(1, resource_spans_size));
  out.append(head);
  for (auto s : spans) out.append(s);
  if (out.size() != field_size(1, resource_spans_size)) std::terminate();  // as above
  return out;
}

std::string otlp_json_request(const Resource& resource, std::span<const std::string_view> spans) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":";
  json_attributes(out, resource.attributes);
  out += "},\"scopeSpans\":[{\"scope\":{\"name\":\"";
  out += kScopeName;
  out += "\",\"version\":\"";
  out += kScopeVersion;
  out += "\"},\"spans\":[";
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i) out += ',';
    out += spans[i];
  }
  out += "]}]}]}";
  return out;
}

namespace {

template <class Append, class Request>
std::string request_of(const Resource& resource, std::span<const Span> spans, Append append,
                       Request request) {
  std::vector<std::string> encoded(spans.size());
  std::vector<std::string_view> views;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    std::array<AttributeView, 32> room;
    append(encoded[i], view_of(spans[i], room));
    views.push_back(encoded[i]);
  }
  return request(resource, views);
}

}  // namespace

std::string otlp_protobuf(const Resource& resource, std::span<const Span> spans) {
  return request_of(resource, spans, append_protobuf_span, otlp_protobuf_request);
}

std::string otlp_json(const Resource& resource, std::span<const Span> spans) {
  return request_of(resource, spans, append_json_span, otlp_json_request);
}

std::vector<Attribute> parse_resource_attributes(std::string_view text) {
  auto decode = [](std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      unsigned v = 0;
      if (s[i] == '%' && i + 2 < s.size() &&
          std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  std::vector<Attribute> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto entry = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (entry.empty()) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || trim(entry.substr(0, eq)).empty())
      throw std::invalid_argument("resource attribute \"" + std::string(entry) +
                                  "\" is not key=value");
    out.push_back({decode(trim(entry.substr(0, eq))), decode(trim(entry.substr(eq + 1)))});
  }
  return out;
}

}  // namespace svckit::trace
