#include "svckit/trace/trace_context.hpp"

#include "svckit/trace/span.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <random>

namespace svckit::trace {
namespace {

// One table lookup per character and no branch until the end: a traceparent comes with every
// request a svckit service calls, and the byte-by-byte range tests were 3% of an upstream's
// CPU behind the gateway.
constexpr auto kLowerHex = [] {
  std::array<unsigned char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = 1;
  for (int c = 'a'; c <= 'f'; ++c) t[c] = 1;
  return t;
}();

bool is_lower_hex(std::string_view s) {
  unsigned char ok = 1;
  for (char c : s) ok &= kLowerHex[static_cast<unsigned char>(c)];
  return ok;
}

bool all_zero(std::string_view s) {
  static constexpr std::string_view kZeros = "00000000000000000000000000000000";
  return s.size() <= kZeros.size() && s == kZeros.substr(0, s.size());
}

int hex_value(char c) {
  return c <= '9' ? c - '0' : c - 'a' + 10;
}

// xoshiro256** (Blackman and Vigna): ids must not repeat, not be secret, and three words are
// drawn for every request; a Mersenne Twister's state is 2.5 KB and its draws cost more.
class IdGenerator {
 public:
  IdGenerator() {
    std::random_device rd;
    for (auto& word : state_) word = static_cast<std::uint64_t>(rd()) << 32 ^ rd();
  }
  std::uint64_t operator()() {
    const std::uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = std::rotl(state_[3], 45);
    return result;
  }

 private:
  std::array<std::uint64_t, 4> state_;
};

IdGenerator& generator() {
  thread_local IdGenerator gen;
  return gen;
}

constexpr std::size_t kMaxTracestate = 512;

}  // namespace

namespace {

// `bytes` random bytes as 2 * bytes lowercase hex digits at `out`.
void write_random_hex(char* out, std::size_t bytes) {
  // Two digits per byte from one table: ids are made for every request.
  static constexpr auto kDigitPairs = [] {
    std::array<char, 512> t{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      t[2 * b] = kHex[b >> 4];
      t[2 * b + 1] = kHex[b & 15];
    }
    return t;
  }();
  auto& gen = generator();
  for (std::size_t i = 0; i < bytes; i += 8) {
    std::uint64_t word = gen();
    for (std::size_t j = 0; j < 8 && i + j < bytes; ++j, word >>= 8, out += 2)
      std::memcpy(out, &kDigitPairs[2 * (word & 0xff)], 2);
  }
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  std::string out(bytes * 2, '\0');
  write_random_hex(out.data(), bytes);
  return out;
}

std::optional<ParsedTraceparent> parse_traceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
  if (v.size() < 55) return std::nullopt;
  auto version = v.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") return std::nullopt;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  auto trace_id = v.substr(3, 32);
  auto parent_id = v.substr(36, 16);
  auto flags = v.substr(53, 2);
  if (!is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags))
    return std::nullopt;
  if (all_zero(trace_id) || all_zero(parent_id)) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields after a '-'.
  if (version == "00" ? v.size() != 55 : (v.size() > 55 && v[55] != '-')) return std::nullopt;
  return ParsedTraceparent{
      std::string(trace_id), std::string(parent_id),
      static_cast<std::uint8_t>(hex_value(flags[0]) * 16 + hex_value(flags[1]))};
}

namespace {

std::string format_traceparent(std::string_view trace_id, std::string_view span_id,
                               std::uint8_t flags) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(55);
  out.append("00-").append(trace_id).append("-").append(span_id).append("-");
  out += kHex[flags >> 4];
  out += kHex[flags & 15];
  return out;
}

}  // namespace

std::string TraceContext::traceparent() const {
  return format_traceparent(trace_id, span_id, flags);
}

// The new span id is written in place: one string per outgoing call, not two.
std::string TraceContext::child_traceparent() const {
  std::string out = format_traceparent(trace_id, "0000000000000000", flags);
  write_random_hex(out.data() + 4 + trace_id.size(), 8);
  return out;
}

TraceContext TraceContext::start() {
  TraceContext t;
  t.trace_id = random_hex(16);
  t.span_id = random_hex(8);
  t.flags = sampler().samples_root(t.trace_id) ? 1 : 0;
  return t;
}

TraceContext TraceContext::continue_from(std::optional<std::string_view> traceparent,
                                         std::optional<std::string_view> tracestate) {
  if (!traceparent) return start();
  auto parsed = parse_traceparent(*traceparent);
  if (!parsed) return start();
  TraceContext t;
  t.trace_id = std::move(parsed->trace_id);
  t.parent_span_id = std::move(parsed->parent_id);
  t.span_id = random_hex(8);
  // Only the sampled bit is defined; others are not passed on.
  t.flags = sampler().samples_child(t.trace_id, parsed->flags & 1) ? 1 : 0;
  if (tracestate && tracestate->size() <= kMaxTracestate) t.tracestate = std::string(*tracestate);
  return t;
}

}  // namespace svckit::trace
