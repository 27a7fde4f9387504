// The Notification Service's pure parts: templates and their escaping, the email's wire form
// (no header injection), time and quiet hours, cursors, and the device's never-twice memory.
#include <gtest/gtest.h>

#include "channels.hpp"
#include "schedule.hpp"
#include "templates.hpp"

namespace raptorflow::notification {
namespace {

TEST(NotificationTemplates, PlainPartsAreAsWrittenAndHtmlIsEscaped) {
  Template t{"Task: {{title}}", "Do \"{{title}}\" by {{due}}.", "<b>{{title}}</b>"};
  auto r = render(t, {{"title", "<script>&"}, {"due", 5}});
  EXPECT_EQ(r.title, "Task: <script>&");
  EXPECT_EQ(r.body, "Do \"<script>&\" by 5.");
  EXPECT_EQ(r.html, "<b>&lt;script&gt;&amp;</b>");
}

TEST(NotificationTemplates, ListsSectionsAndMissingValues) {
  Template t{"{{count}} alerts", "{{#items}}- {{summary}}\n{{/items}}{{^none}}end{{/none}}", ""};
  nlohmann::json data = {{"count", 2}, {"items", {{{"summary", "a"}}, {{"summary", "b"}}}}};
  auto r = render(t, data);
  EXPECT_EQ(r.title, "2 alerts");
  EXPECT_EQ(r.body, "- a\n- b\nend");
  EXPECT_EQ(r.html, "");
}

TEST(NotificationTemplates, SyntaxErrorsNameThePart) {
  EXPECT_FALSE(template_error({"ok {{x}}", "", ""}));
  auto error = template_error({"ok", "{{#open}} never closed", ""});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->rfind("body: ", 0), 0u) << *error;
}

TEST(NotificationTemplates, BuiltinsFallBackByLocaleThenToDefault) {
  EXPECT_EQ(builtin_template("task.assigned", "de").title, "Neue Aufgabe für Sie: {{title}}");
  EXPECT_EQ(builtin_template("task.assigned", "fr").title, "Task assigned to you: {{title}}");
  EXPECT_EQ(render(builtin_template("billing.x", "fr"), {{"type", "billing.x"}}).title,
            "billing.x");
  EXPECT_EQ(render(builtin_template("billing.x", "de"), {{"summary", "Zahlen"}}).body, "Zahlen");
}

TEST(NotificationEmail, NoLineBreakReachesAHeaderAndUtf8SubjectsAreEncoded) {
  Email e{"to@example.com", "Hi\r\nBcc: all@example.com ü", "body", "", "id-1@n", ""};
  auto wire = format_email(e, "from@example.com");
  EXPECT_EQ(wire.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(wire.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(wire.find("List-Unsubscribe"), std::string::npos);
  e.subject = "plain";
  e.unsubscribe_url = "https://x.test/u?token=abc";
  wire = format_email(e, "from@example.com");
  EXPECT_NE(wire.find("Subject: plain\r\n"), std::string::npos);
  EXPECT_NE(wire.find("List-Unsubscribe: <https://x.test/u?token=abc>\r\n"), std::string::npos);
  EXPECT_NE(wire.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos);
}

TEST(NotificationEmail, LongSubjectsAreCutAndFoldedIntoShortEncodedWords) {
  Email e{"to@example.com", std::string(300, 'a'), "body", "", "id-1@n", ""};
  auto wire = format_email(e, "from@example.com");
  EXPECT_NE(wire.find("Subject: " + std::string(200, 'a') + "\r\n"), std::string::npos);
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "ü";
  e.subject = umlauts;
  wire = format_email(e, "from@example.com");
  auto start = wire.find("Subject: ") + 9, end = wire.find("\r\nDate:");
  std::string subject = wire.substr(start, end - start);
  std::size_t words = 0;
  for (std::size_t at = 0; (at = subject.find("=?UTF-8?B?", at)) != std::string::npos; ++at)
    ++words;
  EXPECT_EQ(words, 5u);  // 200 bytes of UTF-8, 44 (22 × ü) in each word but the last
  std::size_t line_start = 0;
  while (line_start < subject.size()) {
    auto line_end = std::min(subject.find("\r\n", line_start), subject.size());
    EXPECT_LE(line_end - line_start, 76u);  // a folded line's space, then a word of ≤ 75
    line_start = line_end + 2;
  }
}

TEST(NotificationEmail, AddressesArePlain) {
  EXPECT_TRUE(is_email_address("a.b+c@example.com"));
  for (const char* bad :
       {"", "a", "@x", "x@", "a@b@c", "a b@c", "a@b\r\nBcc: c@d", "A <a@b>", "a,b@c"})
    EXPECT_FALSE(is_email_address(bad)) << bad;
  EXPECT_FALSE(is_email_address(std::string(250, 'a') + "@b.cd"));
}

TEST(NotificationSchedule, ParsesRfc3339) {
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_time("1970-01-01T00:00:01.999-00:30"), 1000 + 1800 * 1000);
  for (const char* bad :
       {"", "2026-12-24", "2026-12-24T17:00:00", "2026-12-24T17:00:00+1:00",
        "2026-12-24T17:00:00+01", "2026-12-24T17:00:00.Z", "2026-12-24T17:00:00Zjunk",
        "12026-12-24T17:00:00Z", "2026-13-24T17:00:00Z"})
    EXPECT_FALSE(parse_time(bad)) << bad;
}

TEST(NotificationSchedule, QuietHoursHoldUntilTheyEndAcrossMidnightAndOffsets) {
  Recipient r;
  const std::int64_t day = 86'400'000, minute = 60'000;
  EXPECT_EQ(after_quiet_hours(r, day + 5), day + 5);  // none set
  r.quiet_start = minutes_of("22:00");
  r.quiet_end = minutes_of("07:00");
  EXPECT_EQ(after_quiet_hours(r, day + 23 * 60 * minute), day + 31 * 60 * minute);  // to 07:00
  EXPECT_EQ(after_quiet_hours(r, day + 3 * 60 * minute), day + 7 * 60 * minute);
  EXPECT_EQ(after_quiet_hours(r, day + 12 * 60 * minute), day + 12 * 60 * minute);  // not quiet
  EXPECT_EQ(after_quiet_hours(r, day + 7 * 60 * minute), day + 7 * 60 * minute);    // end excluded
  r.utc_offset = offset_minutes("+02:00");  // 05:00 UTC is 07:00 there: not quiet
  EXPECT_EQ(after_quiet_hours(r, day + 5 * 60 * minute), day + 5 * 60 * minute);
  EXPECT_EQ(after_quiet_hours(r, day + 4 * 60 * minute), day + 5 * 60 * minute);
  EXPECT_EQ(offset_text(offset_minutes("-09:30")), "-09:30");
  EXPECT_EQ(hhmm(minutes_of("23:59")), "23:59");
}

TEST(NotificationCursor, RoundTripsAndRefusesAnythingElse) {
  Cursor c{1765100000123, "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc"};
  auto back = Cursor::parse(c.text());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at, c.at);
  EXPECT_EQ(back->id, c.id);
  for (const char* bad : {"", "_", "12_", "_abc", "12x_abc", "12_ABC", "12_a b",
                          "1234567890123456_a", "12_' OR 1=1 --"})
    EXPECT_FALSE(Cursor::parse(bad)) << bad;
}

}  // namespace
}  // namespace raptorflow::notification
