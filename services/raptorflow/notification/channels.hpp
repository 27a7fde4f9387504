#pragma once
// The channels a notification leaves by, besides the WebSocket: email over SMTP (libcurl, with
// STARTTLS and authentication), and the HTTP APIs of an SMS provider, a push provider and a
// webhook. Each send answers what became of it: sent, worth another try later, or refused for
// good (a 4xx from a provider, a 5xx SMTP reply), which dead-letters at once.
#include <chrono>
#include <string>

#include <svckit/blocking_pool.hpp>
#include <svckit/http/client.hpp>
#include <svckit/task.hpp>

#include "notification_store.hpp"

namespace raptorflow::notification {

struct SendResult {
  enum class Kind { sent, retry, refused } kind = Kind::sent;
  std::string error;
  static SendResult ok() { return {}; }
  static SendResult again(std::string why) { return {Kind::retry, std::move(why)}; }
  static SendResult never(std::string why) { return {Kind::refused, std::move(why)}; }
};

struct SmtpSettings {
  std::string url;  // smtp://host:587 (STARTTLS) or smtps://host:465; empty: no email
  std::string user, password;
  bool require_tls = true;  // STARTTLS required on smtp://
  std::string ca_file;      // the server certificate's CA (PEM); empty: the system's
  std::string from;         // the From address
  std::chrono::milliseconds timeout{15000};
};

// One email as it is sent (RFC 5322 with a text and, when there is one, an HTML part).
struct Email {
  std::string to, subject, text, html;
  std::string message_id;       // the same on every attempt, so a receiver may drop a repeat
  std::string unsubscribe_url;  // List-Unsubscribe, one-click (RFC 8058), when not empty
};

// The message's bytes: headers (the subject RFC 2047-encoded, no line breaks anywhere a header
// takes text) and a multipart/alternative body in base64.
std::string format_email(const Email& email, const std::string& from);
// Whether `address` is a plain addr-spec this service will send to (no display name, no line
// breaks, one @, at most 254 characters).
bool is_email_address(std::string_view address);

class SmtpSender {
 public:
  SmtpSender(SmtpSettings settings, svckit::BlockingPool& pool);
  bool configured() const { return !settings_.url.empty(); }
  // On the blocking pool: libcurl's SMTP is a blocking call.
  svckit::Task<SendResult> send(Email email);

 private:
  SendResult send_now(const Email& email) const;
  SmtpSettings settings_;
  svckit::BlockingPool& pool_;
};

// POSTs JSON to a provider: `Authorization: Bearer <token>` when a token is set, an
// `Idempotency-Key` that is the same on every attempt, and, with a signing secret (webhooks),
// `Svckit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
class HttpSender {
 public:
  // POSTs to `target` (a path) on `client`'s origin.
  HttpSender(svckit::http::Client* client, std::string target, std::string token,
             std::string signing_secret);
  bool configured() const { return client_ != nullptr; }
  svckit::Task<SendResult> send(nlohmann::json body, std::string idempotency_key);

 private:
  svckit::http::Client* client_;
  std::string target_, token_, secret_;
};

}  // namespace raptorflow::notification
