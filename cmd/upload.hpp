#pragma once
#include "cmd/command.hpp"
#include "cmd/custody_flags.hpp"

namespace ir::cli {

struct UploadOptions {
  std::vector<std::string> args;             // BUNDLE... then s3://BUCKET/PREFIX (none with --upload-url)
  std::vector<std::string> upload_urls;      // --upload-url: presigned PUT URLs, one per file in order
  S3Flags s3;                                // --s3-endpoint ... --legal-hold (cmd/custody_flags.hpp)
  bool no_signatures = false;                // --no-signatures: the bundles only
  std::string part_size = "16Mi";            // --part-size
  std::string multipart_threshold = "64Mi";  // --multipart-threshold
  std::string output;                        // "" (report) or "json"
};

// kubectl ir upload BUNDLE... s3://BUCKET/PREFIX: puts each bundle, and the BUNDLE.sig and
// BUNDLE.intoto.jsonl beside it, into the bucket with SigV4, checksums and (optionally) an Object
// Lock; or, with --upload-url, PUTs to presigned URLs. Credentials as the AWS CLI finds them.
// Needs no cluster. Exit 0 when every object is in the bucket (and locked, if asked), 3 when some
// are, 1 when none, 130 when interrupted.
Command setup_upload(CLI::App& root, const GlobalOptions& global);
int run_upload(const UploadOptions& options, int verbosity, Io& io);

}  // namespace ir::cli
