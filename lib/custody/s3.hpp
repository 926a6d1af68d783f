#pragma once
// Upload of evidence to S3-compatible object storage, write-once.
//
// Wire protocol (https://docs.aws.amazon.com/AmazonS3/latest/API/): requests signed with SigV4
// (sigv4.hpp). Objects up to UploadOptions::multipart_threshold go in one PUT signed over the
// body's real SHA-256 (the bundle's own digest, so the server checks the whole object against the
// manifest's record) and carrying x-amz-checksum-sha256 (base64 of the raw digest), which AWS
// verifies and records. Larger ones go in a multipart upload of part_size parts, streamed from the
// file (no part is held in memory: memory does not grow with the part or the file size). Each
// part's SHA-256 and MD5 are computed on a hasher thread while the previous part is sent (they
// must precede the part: its headers carry them), together with the whole file's SHA-256; the
// part is then signed UNSIGNED-PAYLOAD (the server does not hash it again before answering) and
// carries Content-MD5, which every S3 server verifies (radosgw 16 ignores x-amz-checksum-sha256),
// and x-amz-checksum-sha256, which AWS verifies and records: bytes that differ from what was
// hashed (damaged on the way, or a file changed since) are refused with BadDigest and the part is
// sent again, then given up. Parts are retried on transient failures; the whole file's digest is
// compared with the one the caller gave before the upload is completed (a file that changed during
// the upload is never completed).
//
// Resume: before creating a multipart upload, the in-progress uploads of the key are listed
// (ListMultipartUploads) and the newest is continued: its parts are listed (ListParts) and those
// already there with the right size and checksum (or, where the server records no checksum, the
// right ETag: the part's MD5) are not sent again. An interrupted upload (Ctrl-C, a killed process)
// is left in the bucket for that; an upload that fails for good (retries exhausted, a refusal,
// a changed file) is aborted (AbortMultipartUpload), so no half object lingers.
//
// Write-once: ObjectLock adds x-amz-object-lock-mode / -retain-until-date / -legal-hold to the
// PUT (or CreateMultipartUpload). A bucket without Object Lock refuses them (an error, never an
// unlocked copy), and after each locked upload the object version is read back (HEAD) to confirm
// the lock is in force: a server that silently ignored the headers is reported as a failure.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "custody/sigv4.hpp"
#include "kube/transport.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::custody {

// Where objects go: "s3://bucket/prefix" (the prefix may be empty).
struct S3Location {
  std::string bucket;
  std::string prefix;  // without a leading '/'; "" or ending in '/' or a name part ("cases/42")
};

// Parses "s3://bucket[/prefix]". Fails with Errc::usage naming the problem (another scheme, no
// bucket, a bucket name S3 does not allow).
Result<S3Location> parse_s3_url(std::string_view url);

// The object key for a local file: "<prefix>/<file name>" (no doubled '/').
std::string object_key(const S3Location& location, const std::string& local_path);

// Virtual-hosted (bucket.host) or path-style (host/bucket) addressing. `automatic`: path-style
// when the endpoint names an IP address or a port (local servers, MinIO, Ceph), else virtual-hosted
// (AWS, and required there for new buckets).
enum class Addressing { automatic, virtual_hosted, path };

struct S3Config {
  std::string endpoint;              // "https://s3.eu-west-1.amazonaws.com"; "" = AWS's for `region`
  std::string region = "us-east-1";  // the SigV4 scope
  Addressing addressing = Addressing::automatic;
  int attempts = 4;                            // per request, for transient failures (network, 5xx, 429)
  std::chrono::milliseconds retry_delay{500};  // doubled after each failed attempt
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};  // whole request (a part's)
};

enum class LockMode { none, governance, compliance };
enum class LegalHold { off, on };
// "GOVERNANCE" / "COMPLIANCE" / "" as the headers spell them.
std::string_view to_header(LockMode mode);

struct ObjectLock {
  LockMode mode = LockMode::none;
  util::TimePoint retain_until{};  // with a mode: when the retention ends
  LegalHold legal_hold = LegalHold::off;
  [[nodiscard]] bool requested() const { return mode != LockMode::none || legal_hold == LegalHold::on; }
};

// Parses --retain-until: an RFC 3339 time ("2027-01-31T00:00:00Z"), a date ("2027-01-31", UTC
// midnight) or a duration from `now` ("90d", "2160h", "1y" = 365 days, "30d12h"). Fails with
// Errc::usage when malformed or not in the future.
Result<util::TimePoint> parse_retain_until(std::string_view text, util::TimePoint now);

struct UploadOptions {
  ObjectLock lock;
  std::uint64_t multipart_threshold = 64ULL * 1024 * 1024;  // larger objects go multipart
  std::uint64_t part_size = 16ULL * 1024 * 1024;            // 8-64 MiB; raised to stay within 10,000 parts
  std::string content_type = "application/octet-stream";
};

// One file to upload. `sha256_hex` is the file's SHA-256 when the caller knows it (the bundle
// writer returns it): then no pass is made over the file to compute it, and a file whose bytes no
// longer match is not completed. "" = unknown: computed (a pre-pass for a single PUT, during the
// upload for a multipart one).
struct UploadItem {
  std::string path;
  std::string key;
  std::string sha256_hex;
};

enum class ObjectState {
  uploaded,         // the object (version) is in the bucket, complete (and locked, if asked)
  unprotected,      // in the bucket, but the requested lock could not be confirmed on it
  failed,           // not in the bucket (a multipart upload was aborted)
  left_for_resume,  // interrupted mid multipart: parts stay in the bucket, the same upload resumes it
  not_attempted,    // not started (interrupted or stopped before it)
};
std::string_view to_string(ObjectState state);

// What happened to one object: recorded in the case journal and printed.
struct ObjectOutcome {
  std::string path;
  std::string key;
  std::string url;  // "s3://bucket/key"
  ObjectState state = ObjectState::not_attempted;
  std::uint64_t size = 0;
  std::string sha256_hex;           // of the bytes sent (computed or given), "" if not known
  std::string checksum_sha256;      // as S3 records it: base64, "<base64>-<parts>" for a multipart object
  std::string etag;                 // as the server returned it
  std::string version_id;           // "" when the bucket is not versioned
  std::string upload_id;            // multipart uploads
  std::size_t parts = 0;            // multipart: parts in all
  std::size_t parts_in_bucket = 0;  // multipart: parts in the bucket at the end (sent or found)
  std::size_t parts_reused = 0;     // multipart: parts a resumed upload found already there
  std::string lock_mode;            // as read back: "COMPLIANCE", "GOVERNANCE" or ""
  std::string retain_until;         // as read back
  std::string legal_hold;           // as read back: "ON", "OFF" or ""
  bool already_there = false;       // an earlier run had uploaded the same bytes: nothing was sent
  Error error;                      // why, unless uploaded
};

// An outcome as data, for `upload -o json`, the case journal's "upload" entries and the playbook
// step's outputs: {"path","url","state","size","sha256","checksum_sha256","etag","version_id",
// "already_there"}, "multipart":{"upload_id","parts","parts_in_bucket","parts_reused"} for a
// multipart upload, "lock":{"mode","retain_until","legal_hold"} as read back, "error" unless
// uploaded. Holds nothing secret (a presigned URL is kept redacted).
nlohmann::json outcome_json(const ObjectOutcome& outcome);

struct UploadReport {
  std::vector<ObjectOutcome> objects;
  bool cancelled = false;
  [[nodiscard]] bool ok() const {
    for (const auto& o : objects)
      if (o.state != ObjectState::uploaded) return false;
    return !cancelled;
  }
};

// Progress: `key`, bytes of it in the bucket so far, its size.
using UploadProgress = std::function<void(const std::string& key, std::uint64_t done, std::uint64_t total)>;
// One line per request (method, URL with credentials redacted, status, duration): never a secret.
using Trace = std::function<void(const std::string& line)>;

// An S3 client over a kube::Transport (CurlTransport with the endpoint's TLS settings). Holds
// references to the transport, the clock and the cancel token (may be null), which must outlive
// it. Not thread-safe.
class S3Client {
 public:
  S3Client(kube::Transport& transport, S3Config config, AwsCredentials credentials, util::Clock& clock,
           const util::CancelToken* cancel = nullptr, Trace trace = {});

  // Uploads `items` in order into `location`'s bucket. Never fails as a whole: each object's
  // outcome says what happened; after a cancellation the rest are not_attempted and `cancelled`
  // is set. Local files are only read.
  UploadReport upload(const S3Location& location, const std::vector<UploadItem>& items, const UploadOptions& options,
                      const UploadProgress& progress = {});

  // HEAD of an object (version): status, headers. Fails with the S3 error (Errc::not_found ...).
  Result<kube::HttpResponse> head_object(const std::string& bucket, const std::string& key,
                                         const std::string& version_id = {});

  // A presigned URL for `method` on bucket/key, valid `expires` from now.
  [[nodiscard]] std::string presign(const std::string& method, const std::string& bucket, const std::string& key,
                                    std::chrono::seconds expires) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> m_impl;
};

// Uploads one file with a presigned PUT URL (the user holds no keys; nothing is signed). One PUT,
// so at most 5 GiB. The server's ETag is compared with the MD5 of the bytes sent when it is one
// (a plain single-part object's is). Fails with Errc::io (file), the server's error, or
// Errc::cancelled. The URL's signature never appears in a message or trace line.
Result<ObjectOutcome> upload_presigned(kube::Transport& transport, const std::string& url, const UploadItem& item,
                                       const util::CancelToken* cancel = nullptr, const Trace& trace = {});

// Turns an S3 (or STS) error response into an Error: the HTTP status's Errc, the S3 error code
// (Error.reason) and message, with a hint for the usual causes (wrong secret, expired token,
// missing permission, a bucket without Object Lock). `what` is the operation ("PUT s3://b/k").
Error s3_error(const kube::HttpResponse& response, const std::string& what, bool lock_requested = false);

}  // namespace ir::custody
