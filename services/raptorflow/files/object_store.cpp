#include "object_store.hpp"

#include "access.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <openssl/evp.h>

#include "svckit/error.hpp"
#include "svckit/hex.hpp"
#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

namespace raptorflow::files {

bool is_bucket_name(std::string_view name) {
  static constexpr std::string_view kReserved[] = {"api",  "health",       "ready", "metrics",
                                                   "docs", "openapi.json", "ofrep"};
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.size() < 3 || name.size() > 63 || !alnum(name.front()) || !alnum(name.back()) ||
      name.find("..") != std::string_view::npos)
    return false;
  if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}
namespace {

using svckit::Task;
using svckit::sql::Row;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SQL's substr() counts characters: a prefix's length in UTF-8 code points.
std::int64_t code_points(std::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

ObjectVersion version_of(const Row& row) {
  ObjectVersion v;
  v.bucket = row.text("bucket");
  v.key = row.text("object_key");
  v.version_id = row.text("version_id");
  v.sha256 = row.optional_text("sha256").value_or("");
  v.size = static_cast<std::uint64_t>(row.integer("size"));
  v.content_type = row.optional_text("content_type").value_or("");
  v.created_at = row.text("created_at");
  v.delete_marker = row.integer("delete_marker") != 0;
  v.owner = row.text("owner");
  v.parts = static_cast<int>(row.integer("parts"));
  return v;
}

// The row `v` is its key's latest version.
constexpr const char* kIsLatest =
    "created_ns = (SELECT MAX(created_ns) FROM versions w WHERE w.bucket = v.bucket AND "
    "w.object_key = v.object_key)";

constexpr const char* kVersionColumns =
    "bucket, object_key, version_id, sha256, size, content_type, created_at, delete_marker, "
    "owner, parts";

// Blobs being put, so that a blob found unreferenced is not removed under a put that is about to
// refer to it: a put pins its blob from before the file lands until its row is in, and bumps the
// blob's epoch; a removal checks that nothing is pinned and nothing was put since it counted.
class BlobPins {
 public:
  // A removal begins: the blob's epoch now, and the removal counted until it ends
  // (remove_if_untouched), so that the state (and its epoch) outlives it.
  std::uint64_t begin_removal(const std::string& sha) {
    std::lock_guard lock(mutex_);
    auto& s = state_[sha];
    ++s.removers;
    return s.epoch;
  }
  void pin(const std::string& sha) {
    std::lock_guard lock(mutex_);
    auto& s = state_[sha];
    ++s.pins;
    ++s.epoch;
  }
  void unpin(const std::string& sha) {
    std::lock_guard lock(mutex_);
    auto& s = state_[sha];
    if (--s.pins == 0 && s.removers == 0) state_.erase(sha);
  }
  // Ends a removal: runs `remove` if no put touched `sha` since `epoch` (and `remove` is asked
  // for: the blob was found unreferenced).
  template <class F>
  void end_removal(const std::string& sha, std::uint64_t epoch, bool unreferenced, F remove) {
    std::lock_guard lock(mutex_);
    auto& s = state_[sha];
    --s.removers;
    if (unreferenced && s.pins == 0 && s.epoch == epoch) remove();
    if (s.pins == 0 && s.removers == 0) state_.erase(sha);
  }

 private:
  struct State {
    int pins = 0;
    int removers = 0;
    std::uint64_t epoch = 0;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, State> state_;
};

BlobPins& pins() {
  static BlobPins instance;
  return instance;
}

struct Pin {
  explicit Pin(std::string sha) : sha(std::move(sha)) { pins().pin(this->sha); }
  ~Pin() { pins().unpin(sha); }
  std::string sha;
};

struct Joined {
  std::filesystem::path path;
  std::string sha256;
};

// The parts' bytes one after another into a new file in `directory`, hashed on the way.
Joined concatenate(const std::vector<std::filesystem::path>& parts,
                   const std::filesystem::path& directory) {
  std::string name = (directory / ".complete-XXXXXX").string();
  std::vector<char> buffer(name.begin(), name.end());
  buffer.push_back('\0');
  int to = ::mkostemp(buffer.data(), O_CLOEXEC);
  if (to < 0) throw std::runtime_error("cannot create a file in " + directory.string());
  std::filesystem::path out = buffer.data();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> hash(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(hash.get(), EVP_sha256(), nullptr);
  std::unique_ptr<char[]> chunk(new char[1 << 20]);
  bool ok = true;
  for (const auto& part : parts) {
    int from = ::open(part.c_str(), O_RDONLY | O_CLOEXEC);
    if (from < 0) {
      ok = false;
      break;
    }
    for (;;) {
      auto n = ::read(from, chunk.get(), 1 << 20);
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      EVP_DigestUpdate(hash.get(), chunk.get(), static_cast<std::size_t>(n));
      for (ssize_t done = 0; done < n;) {
        auto w = ::write(to, chunk.get() + done, static_cast<std::size_t>(n - done));
        if (w <= 0) {
          ok = false;
          break;
        }
        done += w;
      }
      if (!ok) break;
    }
    ::close(from);
    if (!ok) break;
  }
  if (::close(to) != 0) ok = false;
  if (!ok) {
    std::error_code ignored;
    std::filesystem::remove(out, ignored);
    throw std::runtime_error("cannot join the parts of an upload");
  }
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_DigestFinal_ex(hash.get(), digest, &size);
  return {out, svckit::to_hex(digest, size)};
}

}  // namespace

std::string ObjectVersion::etag() const {
  std::string tag = "\"" + sha256.substr(0, 32);
  if (parts > 0) tag += "-" + std::to_string(parts);
  return tag + "\"";
}

ObjectStore::ObjectStore(svckit::sql::Database& db, svckit::BlockingPool& pool,
                         std::filesystem::path root)
    : db_(db), pool_(pool), root_(std::move(root)) {
  std::filesystem::create_directories(root_ / "blobs");
  std::filesystem::create_directories(root_ / "incoming");
  std::filesystem::create_directories(root_ / "parts");
}

void ObjectStore::migrate(svckit::sql::Database& db) {
  static const svckit::sql::Migration kSchema[] = {
      {1, "buckets, versions, uploads, parts",
       "CREATE TABLE buckets (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at TEXT NOT "
       "NULL);"
       "CREATE TABLE versions (bucket TEXT NOT NULL, object_key TEXT NOT NULL, version_id TEXT "
       "NOT NULL, sha256 TEXT, size BIGINT NOT NULL, content_type TEXT, created_at TEXT NOT NULL, "
       "created_ns BIGINT NOT NULL, delete_marker INTEGER NOT NULL, owner TEXT NOT NULL, parts "
       "INTEGER NOT NULL, PRIMARY KEY (bucket, object_key, version_id));"
       "CREATE INDEX versions_by_key ON versions (bucket, object_key, created_ns);"
       "CREATE INDEX versions_by_blob ON versions (sha256);"
       "CREATE INDEX versions_by_owner ON versions (owner);"
       "CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, object_key TEXT "
       "NOT NULL, owner TEXT NOT NULL, content_type TEXT, created_at TEXT NOT NULL, state TEXT "
       "NOT NULL DEFAULT 'open');"
       "CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, sha256 TEXT "
       "NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (upload_id, part_number));",
       "DROP TABLE parts; DROP TABLE uploads; DROP TABLE versions; DROP TABLE buckets;"}};
  db.migrate("files", kSchema);
  AccessStore(db).migrate();  // shares and links go with their bucket (delete_bucket)
}

Task<std::optional<Bucket>> ObjectStore::bucket(const std::string& name) {
  auto r = co_await db_.read("SELECT name, owner, created_at FROM buckets WHERE name = ?", name);
  if (r.empty()) co_return std::nullopt;
  co_return Bucket{r.rows[0].text("name"), r.rows[0].text("owner"), r.rows[0].text("created_at")};
}

Task<std::vector<Bucket>> ObjectStore::buckets(const std::string& owner) {
  auto r = co_await db_.read(
      "SELECT name, owner, created_at FROM buckets WHERE owner = ? ORDER BY name", owner);
  std::vector<Bucket> out;
  for (const auto& row : r.rows)
    out.push_back({row.text("name"), row.text("owner"), row.text("created_at")});
  co_return out;
}

Task<bool> ObjectStore::create_bucket(const std::string& name, const std::string& owner) {
  auto r = co_await db_.execute(
      "INSERT INTO buckets (name, owner, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO "
      "NOTHING",
      name, owner, svckit::utc_now_iso8601());
  co_return r.changes == 1;
}

Task<bool> ObjectStore::delete_bucket(const std::string& name) {
  auto held = co_await db_.read(
      "SELECT (SELECT COUNT(*) FROM versions WHERE bucket = ?) + (SELECT COUNT(*) FROM uploads "
      "WHERE bucket = ?) AS n",
      name, name);
  if (held.rows[0].integer("n") > 0) co_return false;
  // Its shares and links go with it: a bucket made later under the name inherits none.
  auto work = [&](svckit::sql::Transaction& tx) -> Task<void> {
    co_await tx.execute("DELETE FROM shares WHERE bucket = ?", name);
    co_await tx.execute("DELETE FROM links WHERE bucket = ?", name);
    co_await tx.execute("DELETE FROM buckets WHERE name = ?", name);
  };
  co_await db_.transaction(work);
  co_return true;
}

Task<ObjectVersion> ObjectStore::put(const std::string& bucket, const std::string& key,
                                     const std::filesystem::path& uploaded,
                                     const std::string& sha256, std::uint64_t size,
                                     const std::string& content_type, const std::string& owner,
                                     int parts) {
  Pin pin(sha256);
  std::filesystem::rename(uploaded, blob_path(sha256));  // the same bytes, if it was there
  ObjectVersion v{bucket,
                  key,
                  svckit::trace::random_hex(16),
                  sha256,
                  size,
                  content_type,
                  svckit::utc_now_iso8601(),
                  false,
                  owner,
                  true,
                  parts};
  co_await insert(v);
  co_return v;
}

Task<ObjectVersion> ObjectStore::copy(const ObjectVersion& source, const std::string& bucket,
                                      const std::string& key, const std::string& owner) {
  Pin pin(source.sha256);
  ObjectVersion v = source;
  v.bucket = bucket;
  v.key = key;
  v.version_id = svckit::trace::random_hex(16);
  v.created_at = svckit::utc_now_iso8601();
  v.owner = owner;
  v.latest = true;
  v.delete_marker = false;
  co_await insert(v);
  co_return v;
}

// Its row, ordered after every version recorded before it (created_ns); a delete marker has no
// content.
Task<void> ObjectStore::insert(const ObjectVersion& v) {
  std::optional<std::string> sha256, content_type;
  if (!v.delete_marker) sha256 = v.sha256, content_type = v.content_type;
  co_await db_.execute(std::string("INSERT INTO versions (") + kVersionColumns +
                           ", created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       v.bucket, v.key, v.version_id, sha256, static_cast<std::int64_t>(v.size),
                       content_type, v.created_at, v.delete_marker, v.owner, v.parts, now_ns());
}

Task<std::optional<ObjectVersion>> ObjectStore::get(const std::string& bucket,
                                                    const std::string& key,
                                                    const std::string& version_id) {
  svckit::sql::Result r;
  if (version_id.empty())
    r = co_await db_.read(std::string("SELECT ") + kVersionColumns +
                              " FROM versions WHERE bucket = ? AND object_key = ? ORDER BY "
                              "created_ns DESC, version_id DESC LIMIT 1",
                          bucket, key);
  else
    r = co_await db_.read(std::string("SELECT ") + kVersionColumns +
                              " FROM versions WHERE bucket = ? AND object_key = ? AND "
                              "version_id = ?",
                          bucket, key, version_id);
  if (r.empty()) co_return std::nullopt;
  auto v = version_of(r.rows[0]);
  if (version_id.empty() && v.delete_marker) co_return std::nullopt;
  v.latest = version_id.empty();
  co_return v;
}

Task<ObjectVersion> ObjectStore::mark_deleted(const std::string& bucket, const std::string& key,
                                              const std::string& owner) {
  ObjectVersion v{
      bucket, key, svckit::trace::random_hex(16), {}, 0, {}, svckit::utc_now_iso8601(), true, owner,
      true,   0};
  co_await insert(v);
  co_return v;
}

Task<bool> ObjectStore::remove_version(const std::string& bucket, const std::string& key,
                                       const std::string& version_id) {
  auto found = co_await get(bucket, key, version_id);
  if (!found) co_return false;
  co_await db_.execute(
      "DELETE FROM versions WHERE bucket = ? AND object_key = ? AND version_id = ?", bucket, key,
      version_id);
  if (!found->sha256.empty()) co_await forget_blob_if_unused(found->sha256);
  co_return true;
}

Task<void> ObjectStore::forget_blob_if_unused(const std::string& sha256) {
  auto epoch = pins().begin_removal(sha256);
  std::int64_t references = 1;
  std::exception_ptr failed;
  try {
    auto r = co_await db_.read("SELECT COUNT(*) AS n FROM versions WHERE sha256 = ?", sha256);
    references = r.rows[0].integer("n");
  } catch (...) {
    failed = std::current_exception();
  }
  pins().end_removal(sha256, epoch, references == 0, [&] {
    std::error_code ignored;
    std::filesystem::remove(blob_path(sha256), ignored);
  });
  if (failed) std::rethrow_exception(failed);
}

Task<Listing> ObjectStore::list(const std::string& bucket, const std::string& prefix,
                                const std::string& delimiter, const std::string& after,
                                std::size_t max_keys) {
  Listing out;
  std::string from = after;
  std::string rolled;  // the common prefix being skipped through
  const std::size_t page = 1000;
  for (;;) {
    auto r = co_await db_.read(
        std::string("SELECT ") + kVersionColumns +
            " FROM versions v WHERE bucket = ? AND object_key > ? AND substr(object_key, 1, ?) = "
            "? AND " +
            kIsLatest + " ORDER BY object_key LIMIT ?",
        bucket, from, code_points(prefix), prefix, static_cast<std::int64_t>(page));
    for (const auto& row : r.rows) {
      auto v = version_of(row);
      from = v.key;
      if (v.delete_marker) continue;
      if (!rolled.empty() && v.key.starts_with(rolled)) {
        out.next_marker = v.key;
        continue;
      }
      rolled.clear();
      if (out.objects.size() + out.common_prefixes.size() >= max_keys) {
        out.truncated = true;
        co_return out;
      }
      auto at = delimiter.empty() ? std::string::npos : v.key.find(delimiter, prefix.size());
      if (at != std::string::npos) {
        rolled = v.key.substr(0, at + delimiter.size());
        out.common_prefixes.push_back(rolled);
      } else {
        v.latest = true;
        out.objects.push_back(std::move(v));
      }
      out.next_marker = from;
    }
    if (r.rows.size() < page) co_return out;
  }
}

Task<std::vector<ObjectVersion>> ObjectStore::versions(const std::string& bucket,
                                                       const std::string& prefix,
                                                       std::size_t max_keys) {
  auto r =
      co_await db_.read(std::string("SELECT ") + kVersionColumns +
                            " FROM versions WHERE bucket = ? AND substr(object_key, 1, ?) = "
                            "? ORDER BY object_key, created_ns DESC, version_id DESC LIMIT ?",
                        bucket, code_points(prefix), prefix, static_cast<std::int64_t>(max_keys));
  std::vector<ObjectVersion> out;
  for (const auto& row : r.rows) {
    auto v = version_of(row);
    v.latest = out.empty() || out.back().key != v.key;
    out.push_back(std::move(v));
  }
  co_return out;
}

Task<std::uint64_t> ObjectStore::used_bytes(const std::string& owner) {
  auto r = co_await db_.read(
      "SELECT (SELECT COALESCE(SUM(size), 0) FROM versions WHERE owner = ? AND delete_marker = 0) "
      "+ (SELECT COALESCE(SUM(p.size), 0) FROM parts p JOIN uploads u ON u.upload_id = "
      "p.upload_id WHERE u.owner = ?) AS used",
      owner, owner);
  co_return static_cast<std::uint64_t>(r.rows[0].integer("used"));
}

Task<Upload> ObjectStore::start_upload(const std::string& bucket, const std::string& key,
                                       const std::string& owner, const std::string& content_type) {
  Upload u{svckit::trace::random_hex(16), bucket, key, owner, content_type};
  co_await db_.execute(
      "INSERT INTO uploads (upload_id, bucket, object_key, owner, content_type, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?)",
      u.id, u.bucket, u.key, u.owner, u.content_type, svckit::utc_now_iso8601());
  co_return u;
}

Task<std::optional<Upload>> ObjectStore::upload(const std::string& id) {
  auto r = co_await db_.read(
      "SELECT upload_id, bucket, object_key, owner, content_type, state FROM uploads WHERE "
      "upload_id = ?",
      id);
  if (r.empty()) co_return std::nullopt;
  const auto& row = r.rows[0];
  co_return Upload{row.text("upload_id"),
                   row.text("bucket"),
                   row.text("object_key"),
                   row.text("owner"),
                   row.optional_text("content_type").value_or(""),
                   row.text("state") != "open"};
}

std::filesystem::path ObjectStore::part_path(const std::string& upload_id, int number) const {
  return root_ / "parts" / (upload_id + "." + std::to_string(number));
}

Task<void> ObjectStore::put_part(const Upload& upload, int number,
                                 const std::filesystem::path& uploaded, const std::string& sha256,
                                 std::uint64_t size) {
  std::filesystem::rename(uploaded, part_path(upload.id, number));  // a part sent again: replaced
  co_await db_.execute(
      "INSERT INTO parts (upload_id, part_number, sha256, size) VALUES (?, ?, ?, ?) ON CONFLICT "
      "(upload_id, part_number) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size",
      upload.id, number, sha256, static_cast<std::int64_t>(size));
}

Task<std::vector<ObjectStore::Part>> ObjectStore::parts(const std::string& upload_id) {
  auto r = co_await db_.read(
      "SELECT part_number, sha256, size FROM parts WHERE upload_id = ? ORDER BY part_number",
      upload_id);
  std::vector<Part> out;
  for (const auto& row : r.rows)
    out.push_back({static_cast<int>(row.integer("part_number")), row.text("sha256"),
                   static_cast<std::uint64_t>(row.integer("size"))});
  co_return out;
}

Task<std::optional<ObjectVersion>> ObjectStore::complete(const Upload& upload,
                                                         const std::vector<Part>& chosen) {
  auto claimed = co_await db_.execute(
      "UPDATE uploads SET state = 'joining' WHERE upload_id = ? AND state = 'open'", upload.id);
  if (claimed.changes != 1) co_return std::nullopt;
  std::vector<std::filesystem::path> files;
  std::uint64_t size = 0;
  for (const auto& part : chosen) {
    files.push_back(part_path(upload.id, part.number));
    size += part.size;
  }
  auto target = incoming();
  auto join = [files, target] { return concatenate(files, target); };  // named: GCC 12
  std::optional<Joined> joined;
  std::exception_ptr failed;
  try {
    joined = co_await pool_.run(join);
  } catch (...) {
    failed = std::current_exception();
  }
  if (failed) {  // the parts stay: the client may try again
    co_await db_.execute("UPDATE uploads SET state = 'open' WHERE upload_id = ?", upload.id);
    std::rethrow_exception(failed);
  }
  auto v = co_await put(upload.bucket, upload.key, joined->path, joined->sha256, size,
                        upload.content_type, upload.owner, static_cast<int>(chosen.size()));
  co_await abort(upload);
  co_return v;
}

Task<std::size_t> ObjectStore::purge_deleted(const std::string& cutoff) {
  auto r = co_await db_.read(
      std::string("SELECT bucket, object_key FROM versions v WHERE delete_marker = 1 AND "
                  "created_at < ? AND ") +
          kIsLatest,
      cutoff);
  std::size_t purged = 0;
  for (const auto& row : r.rows) {
    auto bucket = row.text("bucket"), key = row.text("object_key");
    auto all = co_await db_.read(
        "SELECT version_id FROM versions WHERE bucket = ? AND object_key = ?", bucket, key);
    for (const auto& version : all.rows)
      co_await remove_version(bucket, key, version.text("version_id"));
    ++purged;
  }
  co_return purged;
}

Task<std::size_t> ObjectStore::expire_uploads(const std::string& cutoff) {
  auto r = co_await db_.read(
      "SELECT upload_id FROM uploads WHERE created_at < ? AND state = 'open'", cutoff);
  std::size_t expired = 0;
  for (const auto& row : r.rows)
    if (auto found = co_await upload(row.text("upload_id")); found && !found->joining) {
      co_await abort(*found);
      ++expired;
    }
  co_return expired;
}

Task<void> ObjectStore::abort(const Upload& upload) {
  auto all = co_await parts(upload.id);
  co_await db_.execute("DELETE FROM parts WHERE upload_id = ?", upload.id);
  co_await db_.execute("DELETE FROM uploads WHERE upload_id = ?", upload.id);
  for (const auto& part : all) {
    std::error_code ignored;
    std::filesystem::remove(part_path(upload.id, part.number), ignored);
  }
}

}  // namespace raptorflow::files
