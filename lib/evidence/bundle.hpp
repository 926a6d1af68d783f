#pragma once
// The evidence bundle: one .tar.gz holding every artifact of a collection, a manifest.json with
// the SHA-256 of each, the acquisition log and the case journal. It is written to
// "<path>.partial" and renamed to <path> only by finish(), so a file at <path> is always whole.
// Entries are appended as they are collected, so a failure mid-way still leaves everything
// collected so far in the partial file, and finish() can still be called to make it valid.
//
// Entry names come only from sanitised parts (safe_component): nothing a pod supplies can make
// an entry absolute, climb with "..", or carry control characters.
//
// Format: POSIX ustar (pax extended headers only where ustar cannot hold a name or size), every
// entry a regular file, mode 0644, uid/gid 0, owner "root", mtime = when it was collected; then a
// gzip stream (RFC 1952). manifest.json is the last entry:
//   {"format":"kubectl-ir-bundle/v1","created":RFC3339,"artifacts":[{"path","size","sha256",
//    "collected_at","source","method","exit_status" (int or null),"truncated","note"}]}

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::evidence {

// How an artifact was obtained.
enum class Method {
  api,        // read from the API server
  exec,       // a command run in the container through the exec API
  ephemeral,  // a command run in a debug (ephemeral) container targeting it
  local,      // made by kubectl-ir (parsed records, the acquisition log, the journal)
};
// "api", "exec", "ephemeral", "local": the manifest's "method".
const char* to_string(Method method);

struct ArtifactMeta {
  std::string source;   // the API call ("GET /api/v1/namespaces/shop/pods/web-1") or command ("exec: ps -ef")
  Method method = Method::local;
  std::optional<int> exit_status;  // for commands, when known
  bool truncated = false;          // output was cut (limit, timeout, stream lost)
  std::string note;                // why truncated / what went wrong, or ""
};

// One manifest record.
struct Artifact {
  std::string path;           // entry name inside the bundle
  std::uint64_t size = 0;
  std::string sha256;         // 64 lowercase hex
  std::string collected_at;   // RFC 3339 UTC, when the entry was completed
  ArtifactMeta meta;
};

// The manifest's entry name (reserved: add/open_entry refuse it) and its "format" value.
inline constexpr std::string_view k_manifest_name = "manifest.json";
inline constexpr std::string_view k_bundle_format = "kubectl-ir-bundle/v1";

// Checks that `name` is a safe entry name: 1-1024 bytes of [A-Za-z0-9._/-], relative, no empty,
// "." or ".." components. Fails with Errc::invalid saying why. Used by the writer on every name
// and by verify_bundle on every entry it reads.
Result<void> check_entry_name(std::string_view name);

// Turns an untrusted string (pod, container, file name) into one safe path component: bytes
// outside [A-Za-z0-9._-] become '_', a leading '.' gets a '_' in front, empty becomes "_", at most
// 100 bytes; if anything was changed, a short hash of the original is appended so distinct inputs
// stay distinct ("../etc" -> "_.._etc-1a2b3c4d"; the hash is the first 8 hex digits of the
// original's SHA-256, and the result, hash included, is still at most 100 bytes).
std::string safe_component(std::string_view untrusted);

// A sink that streams one entry: bytes go to a spool file while being hashed; commit() appends
// the entry to the bundle (tar needs the size before the data). The spool is an unlinked temporary
// file beside the bundle, so nothing is left behind even on a crash. A sink must not be used after
// its BundleWriter is finished or destroyed (commit then fails; it never touches a dead writer).
class EntrySink : public util::Sink {
 public:
  // Appends the spooled bytes as the entry and returns its manifest record. `meta` may be
  // updated now (exit status, truncation known only at the end). Must be called at most once;
  // a sink destroyed without commit() adds nothing.
  virtual Result<Artifact> commit(const ArtifactMeta& meta) = 0;
};

// Writes one bundle. Not thread-safe. Holds a reference to the Clock given to create_bundle,
// which must outlive it. A writer destroyed without finish() closes the archive as well as it can
// and leaves "<path>.partial" in place (evidence is never deleted; it is a readable tar.gz without
// a manifest): callers are expected to call finish() on every path, failures included. After any
// write error the writer is unusable: every later call, finish() included, returns that error.
class BundleWriter {
 public:
  virtual ~BundleWriter() = default;

  // Adds a complete entry from memory (API objects, parsed records, logs already bounded).
  // Fails with Errc::invalid for an unsafe or reserved name, Errc::conflict for a name already
  // used (or one that would be a file and a directory at once), Errc::io on a write error.
  virtual Result<Artifact> add(const std::string& name, std::string_view data, const ArtifactMeta& meta) = 0;

  // Opens a streaming entry (exec output of unknown size). Only one may be open at a time
  // (Errc::failure otherwise); add() may still be called meanwhile. Names are checked as for add().
  virtual Result<std::unique_ptr<EntrySink>> open_entry(const std::string& name, const ArtifactMeta& meta) = 0;

  // Records every entry so far. Names must be unique: a second add of the same name fails.
  [[nodiscard]] virtual const std::vector<Artifact>& artifacts() const = 0;

  // Adds manifest.json (every artifact; the manifest does not list itself), closes the archive,
  // fsyncs and renames "<path>.partial" to <path>. Returns the SHA-256 of the finished file.
  // An entry still open is dropped (not in the bundle). Never replaces an existing <path>: if one
  // appeared meanwhile, fails and the bundle stays whole at "<path>.partial". Called once.
  virtual Result<std::string> finish() = 0;
};

// Creates a bundle to be finished at `path` (.tar.gz); fails (Errc::io) if `path` or its partial
// file exists, or the directory is not writable. The file is mode 0600.
Result<std::unique_ptr<BundleWriter>> create_bundle(const std::string& path, util::Clock& clock);

struct VerifyProblem {
  std::string entry;    // entry name ("" for the bundle as a whole)
  std::string problem;  // "sha256 mismatch: manifest 1a2b..., actual 3c4d...", "not in the manifest", ...
};
struct VerifyReport {
  std::size_t entries_checked = 0;
  std::vector<VerifyProblem> problems;
  std::string bundle_sha256;
  [[nodiscard]] bool ok() const { return problems.empty(); }
};

// Receives the content of chosen entries during verify_bundle's single pass over the file, so a
// consumer (a report, a signature's predicate) reads the bundle once and only after, or while, it
// is verified. Entries are offered in archive order; only regular entries with a safe name (and
// the manifest) are offered, each at most once (a duplicate entry is a problem, not offered again).
class EntryVisitor {
 public:
  virtual ~EntryVisitor() = default;
  // Whether to receive the bytes of `name` (`size` as the tar header says it).
  virtual bool wants(std::string_view name, std::uint64_t size) = 0;
  // The next bytes of an entry wanted. An error stops verification: verify_bundle returns it.
  virtual Result<void> data(std::string_view name, std::string_view chunk) = 0;
  // The entry wanted has ended (all of its bytes were given to data()).
  virtual Result<void> end(std::string_view /*name*/) { return {}; }
};

// An EntryVisitor that keeps the entries named in `names` in memory, each up to `max_bytes`
// (beyond that the entry is marked cut and the rest dropped).
class EntryCollector final : public EntryVisitor {
 public:
  EntryCollector(std::vector<std::string> names, std::size_t max_bytes) : m_names(std::move(names)), m_max(max_bytes) {}
  bool wants(std::string_view name, std::uint64_t size) override;
  Result<void> data(std::string_view name, std::string_view chunk) override;
  struct Kept {
    std::string data;
    bool cut = false;  // longer than max_bytes: `data` holds its first max_bytes
  };
  // The entry called `name`, or nullptr when the bundle has none (or it was not asked for).
  [[nodiscard]] const Kept* find(std::string_view name) const;

 private:
  std::vector<std::string> m_names;
  std::size_t m_max;
  std::vector<std::pair<std::string, Kept>> m_kept;
};

// Recomputes the SHA-256 and size of every entry and compares with manifest.json: every entry
// but the manifest must be listed, every listed entry must exist, no entry may appear twice, no
// entry name may be absolute or contain "..". Fails (Errc::io / Errc::invalid) only when the file
// cannot be read as a tar.gz or has no valid manifest; mismatches are problems in the report.
// Also a problem: an entry that is not a regular file (link, directory, device) or whose name
// fails check_entry_name. Reads the file once, in bounded memory: entries are hashed as streamed,
// the manifest may be at most 64 MiB, the bundle at most 1,000,000 entries (Errc::invalid beyond),
// and at most 1,000 problems are listed (then one "... more problems" line).
// entries_checked counts the entries (manifest excluded) hashed and compared with the manifest;
// bundle_sha256 is the SHA-256 of the whole file.
// With `visitor`, the entries it wants are also handed to it as they are read (the manifest
// included; its size is bounded as above).
Result<VerifyReport> verify_bundle(const std::string& path, EntryVisitor* visitor = nullptr);

}  // namespace ir::evidence
