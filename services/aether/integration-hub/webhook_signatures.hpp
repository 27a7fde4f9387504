#pragma once
// The signature schemes external services put on their webhooks, checked in constant time
// against the exact bytes received:
//   GitHub   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(webhook secret, body)>
//   Slack    X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp + ":" +
//   body)>
//            with X-Slack-Request-Timestamp within the window of now (replays are refused)
//   Discord  X-Signature-Ed25519: <hex Ed25519(timestamp + body)> by the application's public key,
//            X-Signature-Timestamp within the window
#include <cstdint>
#include <string>
#include <string_view>

namespace aether::integration_hub {

// Empty when the signature holds; otherwise why not (for the log, never for the caller).
using Refusal = std::string;

Refusal check_github(std::string_view secret, std::string_view signature_header,
                     std::string_view body);
Refusal check_slack(std::string_view signing_secret, std::string_view timestamp,
                    std::string_view signature_header, std::string_view body,
                    std::int64_t now_seconds, std::int64_t window_seconds);
Refusal check_discord(std::string_view public_key_hex, std::string_view timestamp,
                      std::string_view signature_hex, std::string_view body,
                      std::int64_t now_seconds, std::int64_t window_seconds);

// Whether `hex` is an Ed25519 public key (64 hex digits): checked when an integration connects.
bool is_ed25519_public_key(std::string_view hex);

}  // namespace aether::integration_hub
