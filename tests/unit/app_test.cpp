#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "svckit/app/app.hpp"

namespace {

using svckit::App;

std::vector<std::string> order;  // which install() finished when, across one test

App make_app() {
  return App(svckit::Config::load("app-test", {}, svckit::map_environment({{"THREADS", "1"}})));
}

struct Store : svckit::Module {
  void install(App&) override { order.push_back("store"); }
};
struct Cache : svckit::Module {
  Store* store = nullptr;
  void install(App& app) override {
    store = &app.require<Store>();
    order.push_back("cache");
  }
};
struct Api : svckit::Module {
  void install(App& app) override {
    app.require<Cache>();
    app.require<Store>();  // already there: the same one
    order.push_back("api");
  }
};

struct Chicken;
struct Egg : svckit::Module {
  void install(App& app) override;
};
struct Chicken : svckit::Module {
  void install(App& app) override { app.require<Egg>(); }
};
void Egg::install(App& app) {
  app.require<Chicken>();
}

}  // namespace

TEST(App, ModulesAskForTheModulesTheyNeedAndInstallInThatOrder) {
  order.clear();
  App app = make_app();
  app.install<Api>();
  EXPECT_EQ(order, (std::vector<std::string>{"store", "cache", "api"}));
  ASSERT_NE(app.find<Cache>(), nullptr);
  EXPECT_EQ(app.find<Cache>()->store, app.find<Store>());
  EXPECT_EQ(&app.require<Store>(), app.find<Store>()) << "one of each";
}

TEST(App, ACycleOfNeedsIsRefusedNamingIt) {
  App app = make_app();
  try {
    app.install<Chicken>();
    FAIL() << "expected std::logic_error";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "modules need each other: Chicken needs Egg needs Chicken");
  }
  EXPECT_EQ(app.find<Chicken>(), nullptr);
  EXPECT_EQ(app.find<Egg>(), nullptr);
}

TEST(App, HandsOutOneClientPerUpstreamWiredIntoItsMetrics) {
  App app = make_app();
  auto& hello = app.client("hello", "http://127.0.0.1:8001");
  EXPECT_EQ(&app.client("hello", "http://127.0.0.1:8001"), &hello) << "the same one, later";
  EXPECT_THROW(app.client("hello", "http://127.0.0.1:9999"), std::logic_error);
  EXPECT_NE(&app.client("other", "http://127.0.0.1:8001"), &hello);
  try {
    app.client("broken", "ftp://example.com");
    FAIL() << "expected svckit::ConfigError";
  } catch (const svckit::ConfigError& e) {
    EXPECT_EQ(e.variable(), "broken");
  }
  // Its series are the App's, labelled with its name, from the start.
  auto text = app.metrics().render();
  EXPECT_NE(text.find(R"(http_client_retries_total{upstream="hello"} 0)"), std::string::npos)
      << text;
}

TEST(App, KeepsThingsByKeyAndType) {
  App app = make_app();
  EXPECT_EQ(app.kept<int>("answer"), nullptr);
  auto& answer = app.keep("answer", std::make_shared<int>(42));
  EXPECT_EQ(app.kept<int>("answer"), &answer);
  EXPECT_THROW(app.kept<double>("answer"), std::logic_error);
  EXPECT_THROW(app.keep("answer", std::make_shared<int>(7)), std::logic_error);
  EXPECT_EQ(*app.kept<int>("answer"), 42);
}
