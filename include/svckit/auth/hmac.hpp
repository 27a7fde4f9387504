#pragma once
// HMAC-SHA256 and a comparison that takes as long whatever the bytes: what signed links, signed
// webhooks and request signatures (SigV4) are made and checked with.
#include <string>
#include <string_view>

namespace svckit::auth {

// The 32 raw bytes of HMAC-SHA256(key, data).
std::string hmac_sha256(std::string_view key, std::string_view data);
// Whether `a` and `b` are equal, without an early exit on the first difference (a length
// difference shows; lengths of signatures are public).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace svckit::auth
