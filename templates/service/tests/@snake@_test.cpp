// @name@ in the test's own process (svckit::testing): started on a free port with an in-memory
// database and the in-process bus, called over real sockets through a typed client.
#include <gtest/gtest.h>

#include <svckit/testing.hpp>
@#grpc@
#include <svckit/app/grpc.hpp>
#include <svckit/grpc/channel.hpp>

#include "@snake@.pb.h"
@/grpc@

#include "@snake@.hpp"

namespace {

using @snake@_service::Item;
using @snake@_service::ItemInput;
using @snake@_service::ItemList;

class @camel@Test : public ::testing::Test {
 protected:
  void SetUp() override {
    service.install<@snake@_service::@camel@>();
@#bus@
    events = &service.record_events("@name@.item.*");
@/bus@
    service.start();
  }
  svckit::testing::TestApp service{"@name@"};
@#bus@
  svckit::testing::EventRecorder* events = nullptr;
@/bus@
};

TEST_F(@camel@Test, AddsReadsReplacesListsAndRemovesAnItem) {
  auto& client = service.client();
  auto created = client.post("@api@", ItemInput{.name = "bolt", .quantity = 40});
  ASSERT_EQ(created.status, 201) << created.body;
  auto item = created.as<Item>();
  EXPECT_EQ(created.header("Location"), "@api@/" + item.id);
  EXPECT_EQ(item.id.size(), 36u) << "a UUID";
  auto path = "@api@/" + item.id;
  EXPECT_EQ(client.get(path).as<Item>().quantity, 40);

  auto replaced = client.put(path, ItemInput{.name = "bolt", .quantity = 12});
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(client.get(path).as<Item>().quantity, 12);
  EXPECT_EQ(client.get("@api@").as<ItemList>().items.size(), 1u);

  EXPECT_EQ(client.del(path).status, 204);
  EXPECT_EQ(client.get(path).status, 404);
  EXPECT_EQ(client.del(path).status, 404);
@#bus@

  auto published = events->wait_for(3);
  EXPECT_EQ(published[0].type, "@name@.item.created");
  EXPECT_EQ(published[1].type, "@name@.item.updated");
  EXPECT_EQ(published[2].type, "@name@.item.deleted");
  EXPECT_EQ(published[2].data.at("id"), item.id);
@/bus@
}

TEST_F(@camel@Test, RefusesBadInputAndChangesNothing) {
  auto& client = service.client();
  auto empty_name = client.post("@api@", ItemInput{.name = "", .quantity = 1});
  EXPECT_EQ(empty_name.status, 422);
  EXPECT_NE(empty_name.body.find("name"), std::string::npos) << empty_name.body;
  EXPECT_EQ(client.post("@api@", nlohmann::json{{"name", "x"}, {"quantity", "many"}})
                .status,
            422);
  EXPECT_EQ(client.post("@api@", nlohmann::json::array()).status, 422);
  EXPECT_EQ(client.get("@api@/no-such-item").status, 404);
  EXPECT_EQ(client.get("@api@?limit=0").status, 400);
  EXPECT_TRUE(client.get("@api@").as<ItemList>().items.empty());
@#bus@
  EXPECT_TRUE(events->events().empty());
@/bus@
}
@#grpc@

TEST_F(@camel@Test, ReadsAnItemOverGrpc) {
  auto item = service.client().post("@api@", ItemInput{.name = "nut", .quantity = 7});
  ASSERT_EQ(item.status, 201);
  auto port = svckit::grpc::server(service.app()).port();
  svckit::grpc::Channel channel("127.0.0.1:" + std::to_string(port), {.name = "@name@"});
  @snake@_service::v1::GetItemRequest request;
  request.set_id(item.as<Item>().id);
  auto reply = service.run(channel.unary<@snake@_service::v1::GetItemRequest, @snake@_service::v1::ItemReply>(
      "/@snake@_service.v1.@camel@/GetItem", request));
  EXPECT_EQ(reply.name(), "nut");
  EXPECT_EQ(reply.quantity(), 7);
  request.set_id("no-such-item");
  try {
    service.run(channel.unary<@snake@_service::v1::GetItemRequest, @snake@_service::v1::ItemReply>(
        "/@snake@_service.v1.@camel@/GetItem", request));
    FAIL() << "expected NOT_FOUND";
  } catch (const svckit::grpc::RpcError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::NOT_FOUND);
  }
}
@/grpc@

}  // namespace
