// svckit::testing on a small service of its own: a shelf of books that asks an upstream for
// prices and publishes what it adds.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

#include "svckit/svckit.hpp"
#include "svckit/testing.hpp"

namespace {

using svckit::Task;
using svckit::http::Method;
using svckit::http::Request;
using svckit::http::Response;
using svckit::testing::StandIn;
using svckit::testing::TestApp;
using svckit::testing::TestClient;

struct NewBook {
  std::string title;
  int pages = 0;
  static void rules(svckit::model::Rules<NewBook>& r) {
    r.field(&NewBook::title).length(1, 100);
    r.field(&NewBook::pages).range(1, 10000);
  }
};
BOOST_DESCRIBE_STRUCT(NewBook, (), (title, pages))

struct Book {
  std::int64_t id = 0;
  std::string title;
  int pages = 0;
  double price = 0;
};
BOOST_DESCRIBE_STRUCT(Book, (), (id, title, pages, price))

struct Shelf : svckit::Module {
  static void declare(svckit::Settings& s) {
    s.declare("shelf", {.name = "PRICES_URL",
                        .type = svckit::SettingType::url,
                        .default_value = "http://127.0.0.1:9",
                        .choices = {"http://"},
                        .help = "where prices come from"});
  }
  void install(svckit::App& app) override {
    auto& db = app.database("shelf");
    static const svckit::sql::Migration kSchema[] = {
        {1, "books",
         "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, pages INTEGER NOT "
         "NULL, price REAL NOT NULL)"}};
    db.migrate("shelf", kSchema);
    auto& prices = app.client("prices", app.settings().text("PRICES_URL"));
    auto& bus = app.bus();
    auto books = app.http().group("/api/v1/books");
    books.post("/", [&db, &prices, &bus](Request& req) -> Task<Response> {
      auto book = req.json<NewBook>();
      auto quote = co_await prices.get("/prices/" + book.title, &req.context());
      double price = quote.json().at("price").get<double>();
      auto r = co_await db.execute("INSERT INTO books (title, pages, price) VALUES (?, ?, ?)",
                                   book.title, book.pages, price);
      Book out{r.last_insert_id, book.title, book.pages, price};
      co_await bus.publish("book.added", svckit::model::to_json(out), &req.context());
      co_return svckit::http::json_response(201, out);
    });
    books.get("/{id}", [&db](Request& req) -> Task<Response> {
      auto r = co_await db.read("SELECT id, title, pages, price FROM books WHERE id = ?",
                                req.param("id"));
      if (r.empty()) throw svckit::NotFound("no book " + req.param("id"));
      co_return svckit::http::json_response(200, svckit::sql::from_row<Book>(r.rows[0]));
    });
  }
};

struct FailsToStart : svckit::Module {
  void install(svckit::App&) override {}
  Task<void> start(svckit::App&) override {
    throw std::runtime_error("the warehouse is closed");
    co_return;
  }
};

}  // namespace

TEST(Testing, AServiceUnderTestWithAStandInUpstreamAndItsEvents) {
  StandIn prices;
  prices.on(Method::get, "/prices/Dune", 200, {{"price", 9.5}});
  TestApp shelf("shelf", {{"PRICES_URL", prices.url()}});
  shelf.install<Shelf>();
  auto& added = shelf.record_events("book.*");
  shelf.start();

  auto created = shelf.client().post("/api/v1/books", NewBook{.title = "Dune", .pages = 412},
                                     {{"X-Request-ID", "req-1"}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto book = created.as<Book>();
  EXPECT_EQ(book.title, "Dune");
  EXPECT_EQ(book.price, 9.5);
  EXPECT_EQ(shelf.client().get("/api/v1/books/" + std::to_string(book.id)).as<Book>().pages, 412);

  auto event = added.wait_for_type("book.added");
  EXPECT_EQ(event.source, "shelf");
  EXPECT_EQ(event.data.at("id"), book.id);
  EXPECT_EQ(event.extension("requestid"), "req-1") << "the request's id travels with its event";

  auto asked = prices.received();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].target, "/prices/Dune");
  EXPECT_EQ(asked[0].header("x-request-id"), "req-1");
  EXPECT_EQ(shelf.client().get("/ready").status, 200) << "start() returns once ready";
  EXPECT_EQ(shelf.stop(), 0) << "a clean, graceful exit";
}

TEST(Testing, RefusedInputChangesNothingAndIsSeenAsTheClientWouldSeeIt) {
  StandIn prices;
  prices.on(Method::get, "/prices/Emma", 200, {{"price", 4.0}});
  TestApp shelf("shelf", {{"PRICES_URL", prices.url()}});
  shelf.install<Shelf>();
  auto& added = shelf.record_events("book.added");
  shelf.start();
  auto refused = shelf.client().post("/api/v1/books", NewBook{.title = "", .pages = 3});
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(refused.header("content-type"), "application/problem+json");
  EXPECT_NE(refused.body.find("title"), std::string::npos) << refused.body;
  EXPECT_EQ(shelf.client().post("/api/v1/books", nlohmann::json{{"title", 5}}).status, 422);
  EXPECT_EQ(shelf.client().get("/api/v1/books/1").status, 404) << "nothing was stored";
  EXPECT_TRUE(prices.received().empty()) << "nor asked";
  ASSERT_EQ(shelf.client().post("/api/v1/books", NewBook{.title = "Emma", .pages = 9}).status, 201);
  auto events = added.wait_for(1);
  ASSERT_EQ(events.size(), 1u) << "only the accepted book was published";
  EXPECT_EQ(events[0].data.at("title"), "Emma");
  EXPECT_EQ(shelf.client().get("/api/v1/books/1").as<Book>().title, "Emma");
}

TEST(Testing, WaitingForWhatNeverComesSaysWhatDidCome) {
  StandIn prices;
  prices.on(Method::get, "/prices/Ulysses", 200, {{"price", 20}});
  TestApp shelf("shelf", {{"PRICES_URL", prices.url()}});
  shelf.install<Shelf>();
  auto& added = shelf.record_events("book.#");
  shelf.start();
  ASSERT_EQ(shelf.client().post("/api/v1/books", NewBook{"Ulysses", 730}).status, 201);
  try {
    added.wait_for(2, std::chrono::milliseconds(200));
    FAIL() << "expected a timeout";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "waited for 2 event(s) matching 'book.#'; arrived: book.added");
  }
  EXPECT_THROW(added.wait_for_type("book.removed", std::chrono::milliseconds(50)),
               std::runtime_error);
  EXPECT_THROW(prices.wait_for(2, std::chrono::milliseconds(50)), std::runtime_error);
  EXPECT_THROW(shelf.record_events("late.*"), std::logic_error) << "after start()";
}

TEST(Testing, AStandInAnswersWhatItIsToldAnd404Otherwise) {
  StandIn upstream;
  upstream.on(Method::post, "/hook", [](const StandIn::Received& r) {
    return Response::json(202, {{"got", r.json().at("n")}});
  });
  TestClient client(upstream.url());
  client.bearer("t0ken");
  auto answered = client.post("/hook?x=1", nlohmann::json{{"n", 7}});
  EXPECT_EQ(answered.status, 202);
  EXPECT_EQ(answered.json().at("got"), 7);
  EXPECT_EQ(client.get("/elsewhere").status, 404);
  auto seen = upstream.wait_for(2);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/hook?x=1");
  EXPECT_EQ(seen[0].header("Authorization"), "Bearer t0ken");
  EXPECT_EQ(seen[1].target, "/elsewhere");
}

TEST(Testing, AnAppThatCannotStartIsAnErrorNotAHang) {
  {
    TestApp broken("broken");
    broken.install<FailsToStart>();
    try {
      broken.start();
      FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("exited with code 1"), std::string::npos) << e.what();
    }
  }
  StandIn occupying;
  TestApp clash("clash", {{"PORT", std::to_string(occupying.port())}});
  EXPECT_THROW(clash.start(), std::runtime_error) << "its port is taken";
  EXPECT_THROW(TestApp("bad", {{"THREADS", "many"}}), svckit::ConfigError);
}

struct NeverStarts : svckit::Module {
  void install(svckit::App&) override {}
  Task<void> start(svckit::App& app) override {
    // Waits for a timer far away: a start-up stuck on a dependency that never answers.
    boost::asio::steady_timer forever(*app.loops()[0], std::chrono::hours(1));
    co_await forever.async_wait(boost::asio::use_awaitable);
  }
};

TEST(Testing, AStartThatNeverFinishesIsATimeoutAndTheAppStillStops) {
  TestApp stuck("stuck", {{"DRAIN_TIMEOUT", "100ms"}});
  stuck.install<NeverStarts>();
  EXPECT_THROW(stuck.start(std::chrono::milliseconds(300)), std::runtime_error);
  EXPECT_THROW(stuck.start(), std::logic_error) << "once";
  EXPECT_THROW(stuck.install<Shelf>(), std::logic_error) << "too late";
  EXPECT_THROW(stuck.run(svckit::http::ready(Response::empty())), std::logic_error)
      << "it has stopped";
}

TEST(Testing, ItsDataDirectoryIsFreshAndRemovedAfterwards) {
  std::string dir;
  {
    TestApp files("files");
    dir = files.data_dir();
    EXPECT_TRUE(std::filesystem::is_directory(dir));
    EXPECT_TRUE(std::filesystem::is_empty(dir));
    files.start();
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}
