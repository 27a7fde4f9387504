// Described models read from request bodies (Request::json(), model/json.hpp), on a model with
// every member kind and rule. A body is read or refused with a ValidationError naming a field;
// nothing else may escape (it would be a 500). What is read survives a round trip: to_json and the
// DOM-free write_json say the same, and reading that again gives the same model.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"
#include "svckit/json_writer.hpp"
#include "svckit/model/json.hpp"

using svckit::fuzz::expect;

namespace {

struct Line {
  std::string sku;
  std::int32_t qty = 1;
  std::optional<std::uint16_t> bin;
  static void rules(svckit::model::Rules<Line>& r) {
    r.field(&Line::sku).pattern("[A-Z]{3}-[0-9]{1,6}");
    r.field(&Line::qty).range(1, 100).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(Line, (), (sku, qty, bin))

struct Order {
  std::string customer;
  std::vector<Line> lines;
  std::optional<std::string> note;
  std::optional<std::string> placed_at;
  std::string channel = "web";
  std::map<std::string, std::int64_t> counts;
  std::vector<std::vector<double>> grid;
  double discount = 0;
  bool gift = false;
  nlohmann::json extra;
  static void rules(svckit::model::Rules<Order>& r) {
    r.field(&Order::customer).length(1, 40).format("email");
    r.field(&Order::lines).items(0, 8).defaulted();
    r.field(&Order::note).length(0, 64);
    r.field(&Order::placed_at).format("date-time");
    r.field(&Order::channel).one_of({"web", "phone"}).defaulted();
    r.field(&Order::counts).defaulted();
    r.field(&Order::grid).defaulted();
    r.field(&Order::discount).range(0, 0.5).defaulted();
    r.field(&Order::gift).defaulted();
    r.field(&Order::extra).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(Order, (),
                      (customer, lines, note, placed_at, channel, counts, grid, discount, gift,
                       extra))

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Read as a handler reads its body: Request::json() (which refuses JSON nested too deep for
  // the recursive parts of nlohmann, copying and dumping) with 400.
  svckit::http::Request request(svckit::http::Method::post, "POST", "/orders",
                                {{"Content-Type", "application/json"}},
                                std::string(svckit::fuzz::text(data, size)));
  nlohmann::json body;
  try {
    body = request.json();
  } catch (const svckit::Error& e) {
    expect(e.status() == 400, "an unreadable body that is not 400");
    return 0;
  }
  Order order;
  try {
    order = svckit::model::from_json<Order>(body);
  } catch (const svckit::ValidationError& e) {
    expect(e.status() == 422, "a refusal that is not 422");
    expect(!e.field_errors().empty() && !e.field_errors()[0].field.empty(),
           "a refusal that names no field");
    return 0;
  }
  auto dom = svckit::model::to_json(order);
  auto written = nlohmann::json::parse(svckit::model::to_json_text(order), nullptr, false);
  expect(!written.is_discarded(), "write_json wrote text that is not JSON");
  expect(written == dom, "write_json and to_json disagree");
  auto again = svckit::model::to_json(svckit::model::from_json<Order>(dom));
  expect(again == dom, "a model read back from its own JSON differs");
  return 0;
}
