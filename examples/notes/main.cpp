// A service with its own SQLite data: a versioned schema, a request body described once (its
// checks, its JSON and its schema: a 422 naming the field), parameters bound directly, a 404
// problem+json for an unknown id, and its API in /openapi.json and /docs. The code in
// docs/getting-started.md.
#include <svckit/svckit.hpp>

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

struct Note {
  std::string body;
  static void rules(svckit::model::Rules<Note>& r) { r.field(&Note::body).length(1, 1000); }
};
BOOST_DESCRIBE_STRUCT(Note, (), (body))

struct Notes : svckit::Module {
  void install(svckit::App& app) override {
    auto& db = app.database("notes");  // data/notes.db unless DATABASE_URL says otherwise
    static const svckit::sql::Migration kSchema[] = {
        {1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"}};
    db.migrate("notes", kSchema);

    auto notes = app.http().group("/api/v1/notes");
    notes
        .post("/",
              [&db](Request& req) -> Task<Response> {
                auto note = req.json<Note>();  // 415, 400, or 422 naming the bad field
                auto r = co_await db.execute("INSERT INTO notes (body) VALUES (?)", note.body);
                co_return Response::json(201, {{"id", r.last_insert_id}});
              })
        .summary("Add a note")
        .accepts<Note>();
    notes
        .get("/{id}",
             [&db](Request& req) -> Task<Response> {
               auto r = co_await db.read("SELECT body FROM notes WHERE id = ?", req.param("id"));
               if (r.empty()) throw svckit::NotFound("no note " + req.param("id"));  // 404
               auto note = svckit::sql::from_row<Note>(r.rows[0]);
               co_return svckit::http::json_response(200, note);
             })
        .summary("A note")
        .returns<Note>();
  }
};

int main(int argc, char** argv) {
  return svckit::run<Notes>("notes", argc, argv);
}
