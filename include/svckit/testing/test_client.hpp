#pragma once
// A synchronous HTTP client for tests: real sockets to a real server, each call made and
// waited for on the client's own I/O thread, no retries (a test sees exactly what one call
// gets). Bodies go and come back as described models (svckit/model/json.hpp) or JSON.
//
//   TestClient client(service.url());
//   client.bearer(token);
//   auto created = client.post("/api/v1/notes", NewNote{.body = "hi"});  // 201
//   auto note = client.get("/api/v1/notes/1").as<Note>();
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/http/client.hpp"
#include "svckit/model/json.hpp"

namespace svckit::testing {

struct TestResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Case-insensitive; the first value when repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  // The body as JSON. Throws std::runtime_error with the status and body when it is not.
  nlohmann::json json() const;
  // The body as a described model (a 422-style svckit::Error naming the field that does not fit).
  template <model::Described T>
  T as() const {
    return model::from_json<T>(json());
  }
};

class TestClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  explicit TestClient(std::string_view base_url,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Sent with every later call as `Authorization: Bearer <token>`; empty: none.
  void bearer(std::string token) { bearer_ = std::move(token); }

  TestResponse get(std::string target, Headers headers = {});
  TestResponse del(std::string target, Headers headers = {});
  TestResponse post(std::string target, const nlohmann::json& body, Headers headers = {});
  TestResponse put(std::string target, const nlohmann::json& body, Headers headers = {});
  TestResponse patch(std::string target, const nlohmann::json& body, Headers headers = {});
  template <model::Described T>
  TestResponse post(std::string target, const T& body, Headers headers = {}) {
    return post(std::move(target), model::to_json(body), std::move(headers));
  }
  template <model::Described T>
  TestResponse put(std::string target, const T& body, Headers headers = {}) {
    return put(std::move(target), model::to_json(body), std::move(headers));
  }
  // Anything else: a raw body, another method, a content type of the test's choosing.
  TestResponse send(http::ClientRequest request);

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<http::Client> client_;
  std::string bearer_;
};

}  // namespace svckit::testing
