#pragma once
// Raptorflow's File Storage Service (seed 003): objects in buckets, every upload of a key a new
// version, content-addressed blobs on disk (equal content stored once), metadata in SQL, per-user
// quotas, and the core of the S3 API so that existing tools work unchanged: ListBuckets,
// CreateBucket, HeadBucket, DeleteBucket, PutObject (streamed), GetObject with ranges,
// HeadObject, CopyObject (how a version is restored), DeleteObject (a delete marker; with a
// version id, for good), DeleteObjects, ListObjectsV2 and V1, ListObjectVersions, multipart
// uploads, authenticated by AWS Signature V4 in the header or a pre-signed URL. See
// docs/raptorflow-files.md.
#include <memory>

#include "svckit/svckit.hpp"

namespace raptorflow::files {

class FilesService : public svckit::Module {
 public:
  FilesService();
  ~FilesService() override;
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace raptorflow::files
