#include "channels.hpp"

#include <algorithm>
#include <ctime>
#include <memory>

#include <curl/curl.h>
#include <svckit/auth/hmac.hpp>
#include <svckit/hex.hpp>
#include <svckit/ids.hpp>
#include <svckit/utf8.hpp>

namespace raptorflow::notification {
namespace {

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

// base64 in lines of 76 characters, as MIME wants.
std::string base64_lines(std::string_view bytes) {
  std::string encoded = base64(bytes), out;
  for (std::size_t i = 0; i < encoded.size(); i += 76) out += encoded.substr(i, 76) + "\r\n";
  return out;
}

// Header text on one line: control characters (CR and LF above all) become spaces.
std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace_if(
      out.begin(), out.end(), [](unsigned char c) { return c < 32 || c == 127; }, ' ');
  return out;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return c < 128; });
}

// A subject as it goes in its header: on one line, at most 200 characters; ASCII as it is (a
// line of at most 998 bytes, RFC 5322), anything else as RFC 2047 encoded-words of at most 75
// characters (45 bytes of UTF-8 each, never a character split), folded onto lines of their own.
std::string header_text(std::string_view text) {
  std::string line(svckit::utf8_prefix(one_line(text), 200));
  if (is_ascii(line)) return line;
  std::string out;
  std::string_view rest = line;
  while (!rest.empty()) {
    std::size_t take = 0;
    while (take < rest.size()) {
      std::size_t next = take + 1;
      while (next < rest.size() && (static_cast<unsigned char>(rest[next]) >> 6) == 0x2) ++next;
      if (next > 45) break;
      take = next;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(rest.substr(0, take)) + "?=";
    rest.remove_prefix(take);
  }
  return out;
}

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char out[64];
  std::strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return out;
}

struct Upload {
  std::string_view data;
  std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  std::size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::copy_n(upload->data.data() + upload->offset, n, buffer);
  upload->offset += n;
  return n;
}

}  // namespace

bool is_email_address(std::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  auto at = address.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::all_of(address.begin(), address.end(), [](unsigned char c) {
    return c > 32 && c < 127 && c != '<' && c != '>' && c != ',' && c != ';' && c != '"' &&
           c != '(' && c != ')' && c != '\\';
  });
}

std::string format_email(const Email& email, const std::string& from) {
  std::string boundary = "svckit-" + svckit::uuid_v4();
  std::string m;
  m += "From: " + one_line(from) + "\r\n";
  m += "To: " + one_line(email.to) + "\r\n";
  m += "Subject: " + header_text(email.subject) + "\r\n";
  m += "Date: " + rfc5322_date() + "\r\n";
  m += "Message-ID: <" + one_line(email.message_id) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  if (!email.unsubscribe_url.empty()) {
    m += "List-Unsubscribe: <" + one_line(email.unsubscribe_url) + ">\r\n";
    m += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  }
  auto part = [&](const char* type, const std::string& text) {
    m += "--" + boundary + "\r\n";
    m += std::string("Content-Type: ") + type + "; charset=utf-8\r\n";
    m += "Content-Transfer-Encoding: base64\r\n\r\n";
    m += base64_lines(text);
  };
  std::string text = email.text;
  if (!email.unsubscribe_url.empty())
    text += "\n\n--\nTo stop these emails: " + email.unsubscribe_url + "\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
  part("text/plain", text);
  if (!email.html.empty()) {
    std::string html = email.html;
    // The link is ours (an https URL with a base64url token): nothing in it needs escaping but
    // '&', which it does not contain.
    if (!email.unsubscribe_url.empty())
      html += "<p style=\"font-size:small\"><a href=\"" + email.unsubscribe_url +
              "\">Unsubscribe</a></p>";
    part("text/html", html);
  }
  m += "--" + boundary + "--\r\n";
  return m;
}

SmtpSender::SmtpSender(SmtpSettings settings, svckit::BlockingPool& pool)
    : settings_(std::move(settings)), pool_(pool) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

svckit::Task<SendResult> SmtpSender::send(Email email) {
  auto work = [this, email = std::move(email)] { return send_now(email); };
  co_return co_await pool_.run(std::move(work));
}

SendResult SmtpSender::send_now(const Email& email) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return SendResult::again("curl_easy_init failed");
  std::string message = format_email(email, settings_.from);
  Upload upload{message};
  std::string rcpt = "<" + email.to + ">", from = "<" + settings_.from + ">";
  curl_slist* recipients = curl_slist_append(nullptr, rcpt.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> keep(recipients, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (settings_.require_tls)
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!settings_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (!settings_.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, settings_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  CURLcode code = curl_easy_perform(c);
  if (code == CURLE_OK) return SendResult::ok();
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  std::string why = std::string("SMTP: ") + curl_easy_strerror(code);
  if (reply) why += " (reply " + std::to_string(reply) + ")";
  // 5xx is the server's final no (an unknown mailbox, a refused sender); the rest may pass later.
  if (reply >= 500 && reply < 600 && code != CURLE_LOGIN_DENIED) return SendResult::never(why);
  return SendResult::again(why);
}

HttpSender::HttpSender(svckit::http::Client* client, std::string target, std::string token,
                       std::string signing_secret)
    : client_(client),
      target_(std::move(target)),
      token_(std::move(token)),
      secret_(std::move(signing_secret)) {}

svckit::Task<SendResult> HttpSender::send(nlohmann::json body, std::string idempotency_key) {
  auto request = svckit::http::ClientRequest::json(svckit::http::Method::post, target_, body);
  request.idempotent = true;  // the key makes a repeat harmless
  request.headers.emplace_back("Idempotency-Key", std::move(idempotency_key));
  if (!token_.empty()) request.headers.emplace_back("Authorization", "Bearer " + token_);
  if (!secret_.empty()) {
    std::string t = std::to_string(std::time(nullptr));
    request.headers.emplace_back(
        "Svckit-Signature",
        "t=" + t +
            ",v1=" + svckit::to_hex(svckit::auth::hmac_sha256(secret_, t + "." + request.body)));
  }
  try {
    auto answer = co_await client_->send(std::move(request));
    if (answer.status >= 200 && answer.status < 300) co_return SendResult::ok();
    std::string why = client_->name() + " answered " + std::to_string(answer.status);
    bool later = answer.status == 408 || answer.status == 429 || answer.status >= 500;
    if (later) co_return SendResult::again(why);
    co_return SendResult::never(why);
  } catch (const svckit::http::UpstreamError& e) {
    co_return SendResult::again(e.what());
  }
}

}  // namespace raptorflow::notification
