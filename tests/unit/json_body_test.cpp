#include <gtest/gtest.h>

#include <array>
#include <chrono>

#include "svckit/error.hpp"
#include "svckit/http/json_body.hpp"
#include "svckit/http/request.hpp"

using svckit::http::JsonBody;
using svckit::http::Request;

namespace {

Request json_request(std::string body, std::string type = "application/json") {
  return Request(svckit::http::Method::post, "POST", "/x", {{"Content-Type", type}},
                 std::move(body));
}

// The field a ValidationError names, or "" when `f` does not throw one.
template <class F>
std::string invalid_field(F f) {
  try {
    f();
  } catch (const svckit::ValidationError& e) {
    return e.field_errors().at(0).field;
  }
  return "";
}

}  // namespace

TEST(JsonBody, MalformedJsonIs400) {
  for (std::string body : {"{", "{\"a\":}", "", "nul", "{\"a\":1}}", "\xff\xfe"}) {
    try {
      json_request(body).json();
      FAIL() << "accepted: " << body;
    } catch (const svckit::Error& e) {
      EXPECT_EQ(e.status(), 400) << body;
    }
  }
}

TEST(JsonBody, WrongContentTypeIs415) {
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", "", "json"}) {
    try {
      json_request("{}", type).json();
      FAIL() << "accepted: " << type;
    } catch (const svckit::Error& e) {
      EXPECT_EQ(e.status(), 415);
    }
  }
  EXPECT_NO_THROW(json_request("{}", "application/json; charset=utf-8").json());
  EXPECT_NO_THROW(json_request("{}", "Application/JSON").json());
  EXPECT_NO_THROW(json_request("{}", "application/merge-patch+json").json());
}

TEST(JsonBody, NonObjectBodyIs422) {
  EXPECT_EQ(invalid_field([] { json_request("[1,2]").json_object(); }), "body");
  EXPECT_EQ(invalid_field([] { json_request("\"text\"").json_object(); }), "body");
  EXPECT_EQ(invalid_field([] { json_request("null").json_object(); }), "body");
}

TEST(JsonBody, MissingAndWrongTypedFieldsAreNamed) {
  JsonBody b(
      nlohmann::json::parse(R"({"title": 5, "n": "x", "ok": true, "big": 18446744073709551615})"));
  EXPECT_EQ(invalid_field([&] { b.required_string("title"); }), "title");
  EXPECT_EQ(invalid_field([&] { b.required_string("absent"); }), "absent");
  EXPECT_EQ(invalid_field([&] { b.optional_int("n"); }), "n");
  EXPECT_EQ(invalid_field([&] { b.optional_int("big"); }), "big");
  EXPECT_EQ(invalid_field([&] { b.optional_bool("title"); }), "title");
  EXPECT_EQ(invalid_field([&] { b.optional_object("ok"); }), "ok");
  EXPECT_EQ(b.optional_bool("ok"), true);
  EXPECT_FALSE(b.optional_string("absent").has_value());
}

TEST(JsonBody, NullCountsAsAbsent) {
  JsonBody b(nlohmann::json::parse(R"({"title": null})"));
  EXPECT_FALSE(b.has("title"));
  EXPECT_EQ(invalid_field([&] { b.required_string("title"); }), "title");
}

TEST(Validation, LengthCountsCharactersNotBytes) {
  EXPECT_NO_THROW(svckit::http::require_length("t", "ééé", 1, 3));
  EXPECT_EQ(invalid_field([] { svckit::http::require_length("t", "éééé", 1, 3); }), "t");
  EXPECT_EQ(invalid_field([] { svckit::http::require_length("t", "", 1, 3); }), "t");
}

TEST(Validation, OneOf) {
  EXPECT_NO_THROW(svckit::http::require_one_of("p", "low", {"low", "high"}));
  EXPECT_EQ(invalid_field([] { svckit::http::require_one_of("p", "LOW", {"low", "high"}); }), "p");
}

TEST(Validation, Iso8601) {
  using svckit::http::is_iso8601;
  for (auto ok : {"2025-11-24", "2025-11-24T03:26:05Z", "2025-11-24T03:26:05.096Z",
                  "2025-11-24T03:26", "2025-11-24T03:26:05+02:00", "2025-11-24T03:26:05-0530",
                  "2024-02-29T00:00:00Z", "2025-11-24 03:26:05"})
    EXPECT_TRUE(is_iso8601(ok)) << ok;
  for (auto bad : {"", "2025", "2025-13-01", "2025-02-29", "2025-11-24T25:00", "24/11/2025",
                   "2025-11-24T03:26:05ZZ", "2025-11-24T03:26:05+25:00", "2025-11-24T",
                   "2025-11-24T03:26:05.Z", "tomorrow", "2025-11-24T03:26:05.0000000001Z"})
    EXPECT_FALSE(is_iso8601(bad)) << bad;
}

TEST(Validation, QueryOneOf) {
  using svckit::http::query_one_of;
  constexpr std::array<std::string_view, 2> kAllowed = {"open", "closed"};
  EXPECT_EQ(query_one_of("status", std::nullopt, kAllowed), std::nullopt);
  EXPECT_EQ(query_one_of("status", std::string("open"), kAllowed), "open");
  EXPECT_EQ(invalid_field([&] { query_one_of("status", std::string("OPEN"), kAllowed); }),
            "status");
}

TEST(Validation, UtcAfterComparesWithNowAsText) {
  auto before = svckit::utc_iso8601_after(std::chrono::milliseconds(-1500));
  auto now = svckit::utc_now_iso8601();
  auto after = svckit::utc_iso8601_after(std::chrono::milliseconds(1500));
  EXPECT_EQ(before.size(), now.size());
  EXPECT_LT(before, now);
  EXPECT_LT(now, after);
  EXPECT_EQ(after.back(), 'Z');
}

TEST(Validation, Iso8601Seconds) {
  using svckit::iso8601_seconds;
  EXPECT_EQ(iso8601_seconds("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(iso8601_seconds("1970-01-01"), 0);
  EXPECT_EQ(iso8601_seconds("2025-11-24T03:26:05Z"), 1763954765);
  EXPECT_EQ(iso8601_seconds("2025-11-24T03:26:05.999Z"), 1763954765);
  EXPECT_EQ(iso8601_seconds("2025-11-24T05:26:05+02:00"), 1763954765);
  EXPECT_EQ(iso8601_seconds("2025-11-23T21:56:05-0530"), 1763954765);
  EXPECT_EQ(iso8601_seconds("2024-02-29T00:00:00Z"), 1709164800);
  EXPECT_EQ(iso8601_seconds("1969-12-31T23:59:59Z"), -1);
  EXPECT_EQ(iso8601_seconds("2025-02-29"), std::nullopt);
  EXPECT_EQ(iso8601_seconds("tomorrow"), std::nullopt);
}

TEST(Validation, QueryInt) {
  using svckit::http::query_int;
  EXPECT_EQ(query_int("limit", std::nullopt, 20, 1, 100), 20);
  EXPECT_EQ(query_int("limit", std::string("100"), 20, 1, 100), 100);
  EXPECT_EQ(invalid_field([] { query_int("limit", std::string("0"), 20, 1, 100); }), "limit");
  EXPECT_EQ(invalid_field([] { query_int("limit", std::string("101"), 20, 1, 100); }), "limit");
  EXPECT_EQ(invalid_field([] { query_int("limit", std::string("ten"), 20, 1, 100); }), "limit");
  EXPECT_EQ(invalid_field([] { query_int("limit", std::string(""), 20, 1, 100); }), "limit");
  EXPECT_EQ(
      invalid_field([] { query_int("limit", std::string("99999999999999999999"), 20, 1, 100); }),
      "limit");
}

TEST(Request, QueryParametersAreDecoded) {
  Request r(svckit::http::Method::get, "GET", "/x?category=home%20office&a=b+c&empty=&flag", {},
            "");
  EXPECT_EQ(r.path(), "/x");
  EXPECT_EQ(r.query_param("category"), "home office");
  EXPECT_EQ(r.query_param("a"), "b c");
  EXPECT_EQ(r.query_param("empty"), "");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_FALSE(r.query_param("absent").has_value());
  Request bad(svckit::http::Method::get, "GET", "/x?a=%zz", {}, "");
  EXPECT_THROW(bad.query_param("a"), svckit::BadRequest);
  Request cut(svckit::http::Method::get, "GET", "/x?a=%4", {}, "");
  EXPECT_THROW(cut.query_param("a"), svckit::BadRequest);
}

TEST(Request, HeadersAreCaseInsensitive) {
  Request r(svckit::http::Method::get, "GET", "/", {{"X-Request-ID", "abc"}}, "");
  EXPECT_EQ(r.header("x-request-id"), "abc");
  EXPECT_FALSE(r.header("x-missing").has_value());
}
