// A service with its own SQLite data: a versioned schema, bound parameters, typed input
// validation, and a 404 problem+json for an unknown id. The code in docs/getting-started.md.
#include <svckit/svckit.hpp>

struct Notes : svckit::Module {
  void install(svckit::App& app) override {
    auto& db = app.database("notes");  // data/notes.db unless DATABASE_URL says otherwise
    static const svckit::sql::Migration kSchema[] = {
        {1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"}};
    db.migrate("notes", kSchema);

    auto notes = app.http().group("/api/v1/notes");
    notes.post("/", [&db](svckit::http::Request& req) -> svckit::Task<svckit::http::Response> {
      auto body = req.json_object().required_string("body");  // 415/400/422 on bad input
      svckit::http::require_length("body", body, 1, 1000);    // 422 naming the field
      std::vector<svckit::sql::Value> row{body};
      auto r = co_await db.execute("INSERT INTO notes (body) VALUES (?)", std::move(row));
      co_return svckit::http::Response::json(201, {{"id", r.last_insert_id}});
    });
    notes.get("/{id}", [&db](svckit::http::Request& req) -> svckit::Task<svckit::http::Response> {
      std::vector<svckit::sql::Value> key{req.param("id")};
      auto r = co_await db.read("SELECT body FROM notes WHERE id = ?", std::move(key));
      if (r.empty()) throw svckit::NotFound("no note " + req.param("id"));  // 404 problem+json
      co_return svckit::http::Response::json(200, {{"body", r.rows[0].text("body")}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Notes>("notes", argc, argv);
}
