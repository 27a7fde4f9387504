#include <gtest/gtest.h>

#include <boost/describe/class.hpp>

#include "svckit/error.hpp"
#include "svckit/model/json.hpp"
#include "svckit/model/schema.hpp"
#include "svckit/sql/mapping.hpp"

namespace {

struct Item {
  std::string sku;
  std::int32_t qty = 1;
  static void rules(svckit::model::Rules<Item>& r) {
    r.field(&Item::sku).pattern("[A-Z]{3}-[0-9]{1,6}");
    r.field(&Item::qty).range(1, 100).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(Item, (), (sku, qty))

struct Order {
  std::string customer;
  std::vector<Item> items;
  std::optional<std::string> note;
  std::optional<std::string> placed_at;
  std::string channel = "web";
  std::map<std::string, std::string> labels;
  double discount = 0;
  bool gift = false;
  nlohmann::json extra;
  static void rules(svckit::model::Rules<Order>& r) {
    r.field(&Order::customer).length(1, 20).format("email").describe("who ordered");
    r.field(&Order::items).items(1, 3);
    r.field(&Order::note).length(0, 10);
    r.field(&Order::placed_at).format("date-time");
    r.field(&Order::channel).one_of({"web", "phone"}).defaulted();
    r.field(&Order::labels).items(0, 2).defaulted();
    r.field(&Order::discount).range(0, 0.5).defaulted();
    r.field(&Order::gift).defaulted();
    r.field(&Order::extra).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(Order, (),
                      (customer, items, note, placed_at, channel, labels, discount, gift, extra))

// The field and message of the ValidationError decoding `text` throws; {"", ""} for none.
std::pair<std::string, std::string> error_of(std::string_view text) {
  try {
    svckit::model::from_json<Order>(nlohmann::json::parse(text));
  } catch (const svckit::ValidationError& e) {
    EXPECT_EQ(e.status(), 422);
    return {e.field_errors().at(0).field, e.field_errors().at(0).message};
  }
  return {"", ""};
}

constexpr std::string_view kGood = R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":2}]})";

}  // namespace

TEST(Model, DecodesWithDefaultsAndOptionals) {
  auto o = svckit::model::from_json<Order>(nlohmann::json::parse(
      R"({"customer":"a@b.co","items":[{"sku":"ABC-1"},{"sku":"XYZ-42","qty":100}],
          "note":null,"labels":{"k":"v"},"discount":0.25,"gift":true,"extra":[1,{"x":2}],
          "unknown":"ignored"})"));
  EXPECT_EQ(o.customer, "a@b.co");
  ASSERT_EQ(o.items.size(), 2u);
  EXPECT_EQ(o.items[0].qty, 1) << "defaulted";
  EXPECT_EQ(o.items[1].qty, 100);
  EXPECT_FALSE(o.note.has_value()) << "null reads as none";
  EXPECT_FALSE(o.placed_at.has_value()) << "absent reads as none";
  EXPECT_EQ(o.channel, "web");
  EXPECT_EQ(o.labels.at("k"), "v");
  EXPECT_DOUBLE_EQ(o.discount, 0.25);
  EXPECT_TRUE(o.gift);
  EXPECT_EQ(o.extra[1]["x"], 2);
}

TEST(Model, BadFieldsAreNamedByTheirFullPath) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(
      error_of(
          R"({"customer":"a@b.co","items":[{"sku":"ABC-1"},{"sku":"ABC-2"},{"sku":"ABC-3","qty":0}]})"),
      P("items[2].qty", "must be at least 1"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":"2"}]})"),
            P("items[0].qty", "must be a whole number, not a string"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"abc-1"}]})"),
            P("items[0].sku", "must match [A-Z]{3}-[0-9]{1,6}"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{}]})"), P("items[0].sku", "field required"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[7]})"),
            P("items[0]", "must be an object, not a number"));
  EXPECT_EQ(error_of(R"({"items":[]})"), P("customer", "field required"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[]})"),
            P("items", "must have at least 1 items"));
  EXPECT_EQ(error_of(R"([1,2])"), P("body", "must be an object, not an array"));
  EXPECT_EQ(error_of(R"({"customer":"","items":[{"sku":"ABC-1"}]})"),
            P("customer", "must not be empty"));
  EXPECT_EQ(error_of(R"({"customer":"nobody","items":[{"sku":"ABC-1"}]})"),
            P("customer", "must be an email address"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"channel":"fax"})"),
            P("channel", "must be one of: web, phone"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"placed_at":"yesterday"})"),
            P("placed_at", "must be an ISO 8601 date or date-time, such as 2025-11-24T03:26:05Z"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"labels":{"a":"1","b":2}})"),
            P("labels.b", "must be a string, not a number"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"discount":0.75})"),
            P("discount", "must be at most 0.5"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"gift":"yes"})"),
            P("gift", "must be a boolean, not a string"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"note":"ééééééééééé"})"),
            P("note", "must be at most 10 characters"))
      << "characters, not bytes";
  EXPECT_EQ(
      error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"note":"éééééééééé"})").first, "");
  EXPECT_EQ(error_of(kGood).first, "");
}

TEST(Model, HostileValuesAreClearErrorsNeverCrashes) {
  using P = std::pair<std::string, std::string>;
  // Numbers beyond the member's type, fractions for integers, huge arrays and strings.
  EXPECT_EQ(
      error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":99999999999999999999}]})")
          .first,
      "items[0].qty");
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":4294967297}]})"),
            P("items[0].qty", "is out of range"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":1.5}]})"),
            P("items[0].qty", "must be a whole number, not a fractional number"));
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":-2147483649}]})"),
            P("items[0].qty", "is out of range"));
  std::string many = R"({"customer":"a@b.co","items":[)";
  for (int i = 0; i < 10000; ++i) many += std::string(i ? "," : "") + R"({"sku":"ABC-1"})";
  EXPECT_EQ(error_of(many + "]}"), P("items", "must have at most 3 items"));
  // A pattern without a stated length is bounded: std::regex recurses per character.
  std::string long_sku =
      R"({"customer":"a@b.co","items":[{"sku":"ABC-)" + std::string(200000, '1') + R"("}]})";
  EXPECT_EQ(error_of(long_sku), P("items[0].sku", "must be at most 1024 characters"));
  // Deep nesting where the model has none: the type is wrong at the first level.
  std::string deep = R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"labels":)" +
                     std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_EQ(error_of(deep), P("labels", "must be an object, not an array"));
  // Deep nesting inside a free-form member is kept as it is.
  std::string deep_extra = R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"extra":)" +
                           std::string(500, '[') + std::string(500, ']') + "}";
  EXPECT_EQ(error_of(deep_extra).first, "");
  // Control characters and NULs in strings are data, not structure.
  EXPECT_EQ(error_of(R"({"customer":"a@b.co","items":[{"sku":"ABC-1\u0000"}]})").first,
            "items[0].sku");
}

TEST(Model, EncodesWhatItDecodes) {
  auto o = svckit::model::from_json<Order>(nlohmann::json::parse(
      R"({"customer":"a@b.co","items":[{"sku":"ABC-1","qty":2}],"note":"hi","labels":{"k":"v"},"extra":{"a":[1]}})"));
  auto json = svckit::model::to_json(o);
  EXPECT_EQ(json["items"][0]["qty"], 2);
  EXPECT_TRUE(json["placed_at"].is_null());
  EXPECT_EQ(json["note"], "hi");
  EXPECT_EQ(json["extra"]["a"][0], 1);
  // The writer without a DOM gives the same document.
  EXPECT_EQ(nlohmann::json::parse(svckit::model::to_json_text(o)), json);
  EXPECT_EQ(svckit::model::to_json_text(o).substr(0, 40),
            R"({"customer":"a@b.co","items":[{"sku":"AB)");
  // And it reads back as the same model.
  EXPECT_EQ(svckit::model::to_json(svckit::model::from_json<Order>(json)), json);
}

TEST(Model, JsonSchemaStatesTheRules) {
  auto s = svckit::model::json_schema<Order>();
  EXPECT_EQ(s["type"], "object");
  EXPECT_EQ(s["required"], nlohmann::json::array({"customer", "items"}));
  EXPECT_EQ(s["properties"]["customer"]["maxLength"], 20);
  EXPECT_EQ(s["properties"]["customer"]["format"], "email");
  EXPECT_EQ(s["properties"]["customer"]["description"], "who ordered");
  EXPECT_EQ(s["properties"]["items"]["maxItems"], 3);
  EXPECT_EQ(s["properties"]["items"].count("pattern"), 0u) << "the items' rules are theirs";
  auto item = s["properties"]["items"]["items"];
  EXPECT_EQ(item["required"], nlohmann::json::array({"sku"}));
  EXPECT_EQ(item["properties"]["sku"]["pattern"], "^(?:[A-Z]{3}-[0-9]{1,6})$");
  EXPECT_EQ(item["properties"]["qty"]["default"], 1);
  EXPECT_EQ(item["properties"]["qty"]["type"], "integer");
  EXPECT_EQ(s["properties"]["note"]["type"], nlohmann::json::array({"string", "null"}));
  EXPECT_EQ(s["properties"]["channel"]["enum"], nlohmann::json::array({"web", "phone"}));
  EXPECT_EQ(s["properties"]["channel"]["default"], "web");
  EXPECT_EQ(s["properties"]["labels"]["maxProperties"], 2);
  EXPECT_EQ(s["properties"]["discount"]["maximum"], 0.5);
  EXPECT_EQ(s["properties"]["gift"]["type"], "boolean");
  EXPECT_EQ(s["properties"]["extra"], nlohmann::json({{"default", nullptr}}));
}

namespace {
struct Row3 {
  std::string id;
  std::optional<std::string> name;
  std::int64_t count = 0;
  bool done = false;
};
BOOST_DESCRIBE_STRUCT(Row3, (), (id, name, count, done))
}  // namespace

TEST(Model, SqlMapping) {
  EXPECT_EQ(svckit::sql::columns<Row3>(), "id, name, count, done");
  EXPECT_EQ(svckit::sql::insert_sql<Row3>("t"),
            "INSERT INTO t (id, name, count, done) VALUES (?, ?, ?, ?)");
  EXPECT_EQ(svckit::sql::update_sql<Row3>("t", "id"),
            "UPDATE t SET name = ?, count = ?, done = ? WHERE id = ?");
  EXPECT_EQ(svckit::sql::select_sql<Row3>("t", " WHERE id = ?"),
            "SELECT id, name, count, done FROM t WHERE id = ?");
  Row3 r{"7", std::nullopt, 3, true};
  auto v = svckit::sql::values(r);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].as_string(), "7");
  EXPECT_TRUE(v[1].is_null());
  EXPECT_EQ(v[3].as_int(), 1);
  auto u = svckit::sql::update_values(r, "id");
  ASSERT_EQ(u.size(), 4u);
  EXPECT_TRUE(u[0].is_null());
  EXPECT_EQ(u[3].as_string(), "7") << "the key last";
  auto columns = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"id", "name", "count", "done"});
  svckit::sql::Row row(columns, {svckit::sql::Value("9"), svckit::sql::Value("n"),
                                 svckit::sql::Value(5), svckit::sql::Value(0)});
  auto back = svckit::sql::from_row<Row3>(row);
  EXPECT_EQ(back.id, "9");
  EXPECT_EQ(back.name, "n");
  EXPECT_EQ(back.count, 5);
  EXPECT_FALSE(back.done);
}

namespace {
struct EventRow {
  std::string id;
  nlohmann::json metadata;
  std::optional<nlohmann::json> extra;
};
BOOST_DESCRIBE_STRUCT(EventRow, (), (id, metadata, extra))
}  // namespace

TEST(Model, SqlMappingKeepsJsonAsText) {
  EventRow r{"1", {{"page", "/"}, {"n", 2}}, std::nullopt};
  auto v = svckit::sql::values(r);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1].as_string(), R"({"n":2,"page":"/"})");
  EXPECT_TRUE(v[2].is_null());
  auto columns = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"id", "metadata", "extra"});
  svckit::sql::Row row(columns, {svckit::sql::Value("1"), svckit::sql::Value(R"({"a":[1,2]})"),
                                 svckit::sql::Value("null")});
  auto back = svckit::sql::from_row<EventRow>(row);
  EXPECT_EQ(back.metadata, nlohmann::json({{"a", {1, 2}}}));
  ASSERT_TRUE(back.extra.has_value()) << "the text null is JSON null, not NULL";
  EXPECT_TRUE(back.extra->is_null());
}

namespace {
struct Renamed {
  std::string out;
  std::string klass;
  static void rules(svckit::model::Rules<Renamed>& r) {
    r.field(&Renamed::out).json_name("stdout");
    r.field(&Renamed::klass).json_name("class").length(1, 8);
  }
};
BOOST_DESCRIBE_STRUCT(Renamed, (), (out, klass))
}  // namespace

TEST(Model, JsonNamesRenameKeysEverywhere) {
  Renamed r{"hi", "A"};
  EXPECT_EQ(svckit::model::to_json(r), nlohmann::json({{"stdout", "hi"}, {"class", "A"}}));
  EXPECT_EQ(svckit::model::to_json_text(r), R"({"stdout":"hi","class":"A"})");
  auto back = svckit::model::from_json<Renamed>({{"stdout", "x"}, {"class", "B"}});
  EXPECT_EQ(back.out, "x");
  EXPECT_EQ(back.klass, "B");
  try {
    svckit::model::from_json<Renamed>({{"out", "x"}, {"klass", "B"}});
    FAIL() << "the member names are not the keys";
  } catch (const svckit::ValidationError& e) {
    EXPECT_EQ(e.field_errors().at(0).field, "stdout");
  }
  try {
    svckit::model::from_json<Renamed>({{"stdout", "x"}, {"class", ""}});
    FAIL() << "rules still apply";
  } catch (const svckit::ValidationError& e) {
    EXPECT_EQ(e.field_errors().at(0).field, "class");
  }
  auto schema = svckit::model::json_schema<Renamed>();
  EXPECT_TRUE(schema["properties"].contains("stdout"));
  EXPECT_EQ(schema["required"], nlohmann::json({"stdout", "class"}));
}

TEST(Model, NullOnADefaultedMemberKeepsTheDefault) {
  auto o = svckit::model::from_json<Order>(nlohmann::json::parse(
      R"({"customer":"a@b.co","items":[{"sku":"ABC-1"}],"channel":null,"labels":null,
          "discount":null,"gift":null})"));
  EXPECT_EQ(o.channel, "web");
  EXPECT_TRUE(o.labels.empty());
  EXPECT_DOUBLE_EQ(o.discount, 0);
  EXPECT_FALSE(o.gift);
  // A required member is not defaulted: null is the wrong type there.
  auto [field, message] = error_of(R"({"customer":null,"items":[{"sku":"ABC-1"}]})");
  EXPECT_EQ(field, "customer");
  EXPECT_NE(message.find("null"), std::string::npos) << message;
}
