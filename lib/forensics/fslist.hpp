#pragma once
// The file system listing of `kubectl ir collect`: the command run in the container (GNU find, or
// busybox find + stat where find has no -printf) and a streaming parser of its stdout that writes
// one JSON object per file and hands each parsed entry to the collector (which picks files to hash).
//
// Threat model (as in procfs.hpp): the container controls every byte. A file may be named
// anything but NUL and '/' per component (newlines, escapes, "../", quotes, " -> ", invalid UTF-8);
// find and stat themselves may be replaced. So the parser:
//   - never crashes or throws on any input, works in time linear in the input, and keeps memory
//     bounded whatever the input size: at most ListingLimits::max_record_bytes of a partial record
//     (plus one slice of at most 64 KiB) is carried between writes;
//   - frames records exactly: by NUL for GNU find (a path cannot hold NUL), by a per-run secret
//     boundary for busybox (a path can hold anything else);
//   - reports what it cannot parse as {"kind":"unparsed"} records, never silently drops or trusts
//     it, and treats a final record cut short as unparsed ("truncated");
//   - stores every container string escaped with util::escape_for_terminal (valid UTF-8, no
//     control bytes, reversible); the exact bytes stay in the raw artifact the collector keeps.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::forensics::fslist {

// Which listing command the container can run.
enum class Dialect {
  gnu_find,      // GNU findutils: find -printf
  busybox_stat,  // busybox find (no -printf) running stat -c in batches (-exec ... {} +)
};

// The argv (no shell) that lists every file under `root` on root's file system (-xdev), not
// following symlinks. `root` must be absolute (start with '/'), hold no NUL and be at most 4096
// bytes; a '/' is appended if missing, so a symlinked root such as "/proc/1/root" (the target's
// root seen from an ephemeral container) is entered rather than listed as a link. Every listed
// path then starts with that root ("/proc/1/root/" itself, "/proc/1/root/etc", ...).
//
//   gnu_find:     find ROOT/ -xdev -printf '%y %m %U %G %s %T@\0%p\0%l\0'
//                 (find's -printf writes \0 as a NUL byte: three NUL-terminated fields per file:
//                 "type perms uid gid size mtime.fraction", the path, the link target or "").
//   busybox_stat: find ROOT/ -xdev -exec stat -c FMT {} +   with FMT (real newlines in argv) =
//                 "\n<B> e %f %u %g %s %Y\n%n\n<B> l\n%N", to which stat adds "\n": raw mode in
//                 hex (type and permission bits), uid, gid, size, mtime seconds, the exact name,
//                 then %N: the name again, or for a symlink 'name' -> 'target' (quotes not escaped).
//
// `boundary` (busybox only; ignored for gnu_find) must pass procfs::is_valid_boundary and should
// come from procfs::make_boundary(), new for each run. Fails with Errc::invalid for a bad root or
// boundary. Residual risk (busybox): the boundary is in stat's and find's argv, which a process in
// the container can read from /proc while the listing runs and then create files named with it;
// the parser flags the inconsistencies this causes (see Flag), it cannot prevent it.
Result<std::vector<std::string>> listing_command(Dialect dialect, const std::string& root, const std::string& boundary);

// Findings about one entry, as bits of Entry::flags; the JSON "flags" array uses the same names.
enum class Flag : std::uint32_t {
  path_cut = 1U << 0,          // path longer than max_path_bytes: Entry::path holds its first bytes
  target_cut = 1U << 1,        // link target longer than max_path_bytes: likewise
  outside_prefix = 1U << 2,    // the path does not start with the strip prefix (kept whole)
  inconsistent = 1U << 3,      // busybox: %N is neither the name again nor 'name' -> '...', or a
                               // link's size is not its target's length; gnu: a link target on
                               // something that is not a link
  target_unknown = 1U << 4,    // a symlink whose target was not printed or could not be parsed
  boundary_in_name = 1U << 5,  // the run's boundary appears in the path or target: forged output
};

// "path_cut", "target_cut", ... (the JSON spelling).
const char* to_string(Flag flag);

// One listed file. Owns its strings (raw bytes from the container: never print them unescaped,
// never use them as a local path).
struct Entry {
  std::string path;  // relative to the container root once the strip prefix is removed
  char type = '?';   // 'f' file, 'd' dir, 'l' symlink, 'b' block, 'c' char, 'p' fifo, 's' socket,
                     // '?' unknown (a GNU find letter such as 'D' (door), or unknown mode bits)
  std::uint64_t size = 0;
  std::uint32_t mode = 0;  // permission bits including setuid, setgid and sticky (mode & 07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime = 0;   // seconds since the epoch (GNU: the fraction floored)
  std::string target;       // symlinks only: the raw target ("" otherwise or when unknown)
  std::uint32_t flags = 0;  // Flag bits

  [[nodiscard]] bool has(Flag flag) const { return (flags & static_cast<std::uint32_t>(flag)) != 0; }
  // No flag at all: path and target are exact and the record passed every consistency check.
  [[nodiscard]] bool clean() const { return flags == 0; }
};

struct ListingLimits {
  std::size_t max_entries = 1'000'000;   // entries written and passed to on_entry; the rest are
                                         // counted in dropped() (one anomaly says so)
  std::size_t max_path_bytes = 4096;     // bytes of a path or target kept (then Flag::path_cut)
  std::size_t max_record_bytes = 16384;  // a longer record is skipped to the next record and
                                         // reported unparsed ("overlong record")
  std::size_t max_unparsed_kept = 1000;  // unparsed records written; the rest only counted
  std::size_t max_raw_bytes = 512;       // bytes of an unparsed record's raw text kept (escaped)
};

struct ListingOptions {
  // Removed from the front of every path, e.g. "/proc/1/root" when listing the target through an
  // ephemeral container, so that "/proc/1/root/" becomes "/" and "/proc/1/root/etc" "/etc"
  // (a trailing '/' is ignored; "" or "/" strips nothing). A path that is neither the prefix nor
  // below it keeps all its bytes and gets Flag::outside_prefix.
  std::string strip_prefix;
  ListingLimits limits;
};

// Parses the listing's stdout as it streams (feed exec stdout chunks to write(), then finish()).
// Writes one JSON object and '\n' per record to `jsonl_out` (not owned; must outlive the parser):
//   {"kind":"entry", "path" (escaped; cut paths end in "...(N more bytes)"), "type": "file" | "dir"
//    | "symlink" | "block" | "char" | "fifo" | "socket" | "unknown", "size", "mode" ("0755", four
//    octal digits: "4755" for setuid), "uid", "gid", "mtime" (RFC 3339 UTC; null with "mtime_epoch"
//    when outside years 0000..9999), "target" (escaped; symlinks only), "flags": [...] (if any)}
//   {"kind":"unparsed", "reason", "offset" (of its first byte in the stream), "bytes" (how many
//    bytes it covers), "raw" (at most max_raw_bytes, escaped)}
// Reasons: "bad header" (fields missing, not numbers or out of range), "no link marker" and
// "malformed record" (busybox: no "<B> l" line, or not ending in stat's '\n'), "empty path",
// "overlong record", "bytes outside any record" (a run of them, reported once), "invalid
// boundary", "truncated" (the output ends inside a record; for busybox, a last record that is
// inconsistent is taken as cut, since a cut after any '\n' of a name looks complete otherwise).
// `on_entry` (may be empty; must not throw) gets each entry written, flags included: act only on
// clean() entries (or know why not).
// Anomalies (bounded list of sentences, container bytes escaped): "tampering suspected" (first in
// the list) when any entry is inconsistent or carries the boundary, in which case any entry of the
// listing may be forged or hidden; truncation; entries or unparsed records over the limits; an
// empty listing or one with no entry. Not thread-safe.
class ListingParser final : public util::Sink {
 public:
  using OnEntry = std::function<void(const Entry&)>;

  // `boundary` as given to listing_command (busybox; ignored for gnu_find). With an invalid
  // busybox boundary nothing parses: all input becomes one unparsed run and an anomaly says why.
  ListingParser(Dialect dialect, std::string boundary, util::Sink& jsonl_out, OnEntry on_entry,
                ListingOptions options = {});
  ~ListingParser() override;
  ListingParser(const ListingParser&) = delete;
  ListingParser& operator=(const ListingParser&) = delete;

  // Parses what it can of `chunk` (any size, any split). Fails only when `jsonl_out` fails; that
  // error is then returned by every later call (the parser stops).
  Result<void> write(std::string_view chunk) override;
  // Ends the input: parses the last record (a cut one is "truncated"), reports a pending run of
  // unparsed bytes, adds the end-of-input anomalies, then finishes `jsonl_out`. Call once.
  Result<void> finish() override;

  [[nodiscard]] std::size_t entries() const;   // entries written (at most max_entries)
  [[nodiscard]] std::size_t unparsed() const;  // unparsed records, written or not
  [[nodiscard]] std::size_t dropped() const;   // entries past max_entries (parsed, not written)
  [[nodiscard]] const std::vector<std::string>& anomalies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ir::forensics::fslist
