#pragma once
// Hashing each member of a tar stream while it streams: `kubectl ir collect` runs `tar cf - FILES`
// in the container and tees its stdout into a bundle entry (the raw tar) and into a TarDigestSink,
// which reports every member's name, type, size, SHA-256 of its content, mtime and mode, and
// whether the content was complete.
//
// Threat model: the container controls every byte (its tar may be replaced): names may be
// absolute, climb with "..", hold control bytes or invalid UTF-8; sizes may be negative or huge;
// headers may be damaged; the stream may stop anywhere. So the sink:
//   - never extracts and never touches the file system (libarchive's read API only: no
//     archive_read_extract, no disk writer); member names are only ever stored escaped
//     (util::escape_for_terminal: valid UTF-8, no control bytes, reversible);
//   - keeps memory bounded whatever the input: the queue between write() and the parser holds at
//     most TarDigestLimits::max_queued_bytes (write() blocks while it is full), content is hashed
//     as it passes, libarchive keeps at most one special header (pax, GNU long name: 1 MiB cap)
//     in memory, and the member list and problem list are capped;
//   - never throws and never fails a write because of the tar's content: what goes wrong is
//     recorded (problems(), a member's `complete` and `note`) and, after a fatal error, further
//     input is discarded without blocking the writer, so the raw copy beside it is never stalled.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::forensics {

struct TarDigestLimits {
  std::size_t max_members = 100'000;  // members reported; more are counted in dropped()
  std::size_t max_name_bytes = 4096;  // bytes of a name or link target kept (then escaped)
  // Input buffered ahead of the parser (write() blocks beyond it). The sink's input buffers take
  // about twice this: queued pieces plus as many emptied ones kept for reuse.
  std::size_t max_queued_bytes = 4 * 1024 * 1024;
  std::size_t max_problems = 1000;  // problems listed; then one "... more" line
  // Zeros hashed in place of the holes of sparse members (GNU/pax sparse), over the whole stream:
  // a hostile header can declare holes of exabytes. Past it, the member is incomplete.
  std::uint64_t max_sparse_fill_bytes = std::uint64_t{1} << 30;
};

// One tar member as read. Strings from the tar are escaped (see above).
struct TarMember {
  std::string name;              // escaped path as stored in the tar (long names included)
  std::string type;              // "file", "dir", "symlink", "hardlink" or "other" (devices, fifos)
  std::uint64_t size = 0;        // size in the header (0 when absent or negative)
  std::string sha256;            // 64 hex digits: SHA-256 of the content bytes read (of "" when none)
  std::uint64_t bytes_read = 0;  // content bytes hashed (sparse holes count as the zeros hashed)
  bool complete = false;         // all `size` bytes were read without error
  std::string mtime;             // RFC 3339 UTC; "" when outside years 0000..9999
  std::string mode;              // permission bits as four octal digits ("0644", "4755")
  std::string link_target;       // escaped; symlinks and hard links only
  std::string note;              // why incomplete ("truncated", libarchive's message), else ""
};

// {"name", "type", "size", "sha256", "bytes_read", "complete", "mtime", "mode", "link_target" (when
// set), "note" (when set)}. Never throws (every string is valid UTF-8).
nlohmann::json to_json(const TarMember& member);

// A sink that parses a tar stream (ustar, pax, GNU and v7 formats; no compression) on a worker
// thread and hashes each member's content. write() hands the bytes over (copying them) and blocks
// while max_queued_bytes are waiting; finish() ends the input and waits for the worker. Meant for
// one producer thread: write() and finish() must not be called concurrently.
class TarDigestSink final : public util::Sink {
 public:
  explicit TarDigestSink(TarDigestLimits limits = {});
  // If finish() was not called: abandons the input (the worker stops at its next read) and joins
  // the worker.
  ~TarDigestSink() override;
  TarDigestSink(const TarDigestSink&) = delete;
  TarDigestSink& operator=(const TarDigestSink&) = delete;

  // Queues `data` for the parser. Fails only when called after finish() (Errc::failure); bytes
  // arriving after the parser stopped (fatal error, end-of-archive marker) are counted and
  // discarded at once.
  Result<void> write(std::string_view data) override;
  // Ends the input and waits for the parser to finish what is queued. The member cut by the end
  // of input is incomplete with note "truncated". Returns ok (content problems are in problems());
  // a second call does nothing.
  Result<void> finish() override;

  // Valid after finish() (empty before): members in stream order, at most max_members.
  [[nodiscard]] const std::vector<TarMember>& members() const;
  // Valid after finish(): what went wrong, one sentence each (tar bytes quoted escaped): damaged
  // headers, fatal errors, unsafe names (absolute, ".."), truncation, data after the end-of-archive
  // marker, members over the limit.
  [[nodiscard]] const std::vector<std::string>& problems() const;
  // Valid after finish(): members past max_members (read and skipped, not hashed).
  [[nodiscard]] std::size_t dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ir::forensics
