#include "forensics/tar_digest.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "util/clock.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::forensics {

namespace {

// The queue holds pieces of at most this size: a huge write is cut, small writes are appended to
// the last piece, so the queue holds at most max_queued_bytes + one piece in few allocations
// (one-byte writes must not cost a std::string each).
constexpr std::size_t k_piece = 256 * 1024;
// Zeros hashed at a time for a sparse hole.
constexpr std::size_t k_zero_block = 64 * 1024;
// Names quoted in problems are cut to this many bytes (then escaped).
constexpr std::size_t k_quote_bytes = 200;

std::string quote(std::string_view raw) { return util::escape_for_terminal(raw, k_quote_bytes); }

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// Whether a member name is absolute or has a ".." component: `tar cf -` strips leading '/' and
// never writes "..", so such a name means a replaced tar (or a crafted archive).
bool unsafe_name(std::string_view name) {
  if (!name.empty() && name.front() == '/') return true;
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto end = std::min(name.find('/', start), name.size());
    if (name.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

const char* member_type(struct archive_entry* e) {
  if (archive_entry_hardlink(e) != nullptr) return "hardlink";
  switch (archive_entry_filetype(e)) {
    case AE_IFREG: return "file";
    case AE_IFDIR: return "dir";
    case AE_IFLNK: return "symlink";
    default: return "other";
  }
}

// The entry's path as raw bytes. libarchive keeps a name in the form it read it (ustar and GNU
// names as bytes, pax "path" as UTF-8) and converts on request; in the C locale a UTF-8 name with
// non-ASCII characters has no multibyte form, so fall back to the UTF-8 one.
std::string_view raw_path(struct archive_entry* e) {
  if (const char* p = archive_entry_pathname(e)) return p;
  if (const char* p = archive_entry_pathname_utf8(e)) return p;
  return {};
}

std::string_view raw_link(struct archive_entry* e) {
  const char* hard = archive_entry_hardlink(e);
  if (hard == nullptr) hard = archive_entry_hardlink_utf8(e);
  if (hard != nullptr) return hard;
  if (archive_entry_filetype(e) != AE_IFLNK) return {};
  const char* sym = archive_entry_symlink(e);
  if (sym == nullptr) sym = archive_entry_symlink_utf8(e);
  return sym != nullptr ? std::string_view(sym) : std::string_view();
}

}  // namespace

struct TarDigestSink::Impl {
  explicit Impl(TarDigestLimits l) : limits(l) {}

  TarDigestLimits limits;

  // Shared between the producer (write/finish) and the worker, under `mu`.
  std::mutex mu;
  std::condition_variable cv_data;   // the worker waits for input
  std::condition_variable cv_space;  // the producer waits for room in the queue
  std::deque<std::string> queue;
  std::size_t queued = 0;
  std::vector<std::string> spares;  // emptied pieces, capacity k_piece
  bool eof = false;        // the producer will write no more
  bool cancel = false;     // the sink is being destroyed: stop at once
  bool stopped = false;    // the worker reads no more input: writes are discarded
  bool after_end = false;  // stopped at the end-of-archive marker (not on an error)
  std::uint64_t discarded = 0;  // bytes not parsed because the worker had stopped
  bool discarded_nonzero = false;

  // Producer only.
  bool finished = false;
  std::thread worker;

  // Worker only until joined, then read-only.
  std::string current;           // the block libarchive is reading (valid until the next callback)
  std::uint64_t delivered = 0;   // bytes handed to libarchive
  bool exhausted = false;        // the read callback reported the end of input
  std::uint64_t sparse_budget = 0;
  std::vector<TarMember> members;
  std::vector<std::string> problems;
  std::size_t problems_dropped = 0;
  std::size_t dropped = 0;
  std::string last_name;  // the latest member's name, escaped and cut, for problem messages

  void problem(std::string text) {
    if (problems.size() < limits.max_problems) {
      problems.push_back(std::move(text));
    } else {
      ++problems_dropped;
    }
  }

  // libarchive's read callback (on the worker): the next queued piece, 0 at the end of input.
  static la_ssize_t on_read(struct archive* a, void* ctx, const void** out) {
    auto* self = static_cast<Impl*>(ctx);
    std::unique_lock lock(self->mu);
    self->cv_data.wait(lock, [&] { return !self->queue.empty() || self->eof || self->cancel; });
    if (self->cancel) {
      archive_set_error(a, ECANCELED, "input abandoned");
      return ARCHIVE_FATAL;
    }
    if (self->queue.empty()) {
      self->exhausted = true;
      return 0;
    }
    // Pieces the parser is done with are kept for reuse, as many as the queue can hold: no
    // allocation per write in the steady state.
    if (self->spares.size() <= self->limits.max_queued_bytes / k_piece && self->current.capacity() >= k_piece) {
      self->current.clear();
      self->spares.push_back(std::move(self->current));
    }
    self->current = std::move(self->queue.front());
    self->queue.pop_front();
    self->queued -= self->current.size();
    lock.unlock();
    self->cv_space.notify_one();
    self->delivered += self->current.size();
    *out = self->current.data();
    return static_cast<la_ssize_t>(self->current.size());
  }

  // The worker: parses until the end-of-archive marker, a fatal error or the end of input, then
  // stops taking input.
  void run() noexcept {
    bool at_end_marker = false;
    try {
      at_end_marker = parse();
    } catch (...) {
      // Only std::bad_alloc can get here; the members so far stand.
      problem("internal error while reading the tar stream (out of memory)");
    }
    std::lock_guard lock(mu);
    stopped = true;
    after_end = at_end_marker;
    for (const auto& piece : queue) note_discarded(piece);
    queue.clear();
    queued = 0;
    cv_space.notify_all();
  }

  // Called under `mu`.
  void note_discarded(std::string_view bytes) {
    discarded += bytes.size();
    if (!discarded_nonzero && !all_zero(bytes)) discarded_nonzero = true;
  }

  // Returns true when the stream ended with the end-of-archive marker.
  bool parse() {
    struct archive* a = archive_read_new();
    if (a == nullptr) {
      problem("libarchive: out of memory");
      return false;
    }
    const auto release = [](struct archive* p) { archive_read_free(p); };
    std::unique_ptr<struct archive, decltype(release)> guard(a, release);
    // tar only (ustar, pax, GNU, v7), no compression filter: the collector runs `tar cf -`.
    archive_read_support_format_tar(a);
    if (archive_read_open(a, this, nullptr, &Impl::on_read, nullptr) != ARCHIVE_OK) {
      problem(exhausted && delivered == 0 ? "empty tar stream: tar printed nothing"
                                          : fmt::format("not a tar stream: {}", error_text(a)));
      return false;
    }
    sparse_budget = limits.max_sparse_fill_bytes;
    std::size_t damaged_blocks = 0;
    bool in_member = false;  // a header was read: its data may be left to skip
    for (;;) {
      // Skip what is left of the previous member (dropped, unreadable header, read error), so
      // that `before` is where the next header starts.
      if (in_member && archive_read_data_skip(a) == ARCHIVE_FATAL) {
        problem(exhausted ? fmt::format("the tar stream ends inside member \"{}\" (truncated)", last_name)
                          : fmt::format("unreadable tar stream in member \"{}\": {}", last_name, error_text(a)));
        return false;
      }
      in_member = false;
      const auto before = position(a);
      struct archive_entry* e = nullptr;
      const int r = archive_read_next_header(a, &e);
      const auto after = position(a);
      if (r == ARCHIVE_RETRY && after > before) {
        // A header block with a bad checksum: libarchive skips one 512-byte block per retry, so
        // this ends (linear in the input) at the next valid header or the end.
        ++damaged_blocks;
        continue;
      }
      if (damaged_blocks > 0) {
        problem(fmt::format("damaged tar header {}: {} blocks of 512 bytes skipped to the next valid header",
                            after_last(), damaged_blocks));
        damaged_blocks = 0;
      }
      if (r == ARCHIVE_EOF) {
        // The marker is two 512-byte zero blocks; libarchive also says EOF when the input ends
        // at a header boundary without them (tar killed between two members).
        if (after - before < 1024) {
          problem("the tar stream has no complete end-of-archive marker: output cut between members?");
          return false;
        }
        check_after_marker(after);
        return true;
      }
      if (r == ARCHIVE_FATAL || e == nullptr || after == before) {
        problem(exhausted ? fmt::format("the tar stream ends inside a header {} (truncated)", after_last())
                          : fmt::format("unreadable tar stream {}: {}", after_last(), error_text(a)));
        return false;
      }
      in_member = true;
      const std::string_view name = raw_path(e);
      last_name = quote(name);
      if (r == ARCHIVE_WARN) problem(fmt::format("member \"{}\": {}", last_name, error_text(a)));
      if (members.size() >= limits.max_members) {
        ++dropped;
        continue;
      }
      if (unsafe_name(name)) problem(fmt::format("member \"{}\" has an absolute or \"..\" name", last_name));
      members.push_back(describe(e, name));
      if (r == ARCHIVE_FAILED) {
        members.back().note = fmt::format("unreadable header: {}", error_text(a));
        problem(fmt::format("member \"{}\": {}", last_name, members.back().note));
        continue;
      }
      if (!read_content(a, members.back())) return false;
    }
  }

  // Where in the stream, for problem messages.
  [[nodiscard]] std::string after_last() const {
    return last_name.empty() ? "at its start" : fmt::format("after member \"{}\"", last_name);
  }

  // Bytes of the stream the tar reader has consumed.
  static std::uint64_t position(struct archive* a) {
    return static_cast<std::uint64_t>(std::max<la_int64_t>(archive_filter_bytes(a, 0), 0));
  }

  TarMember describe(struct archive_entry* e, std::string_view name) const {
    TarMember m;
    m.name = util::escape_for_terminal(name, limits.max_name_bytes);
    m.type = member_type(e);
    const auto size = archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : 0;
    m.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
    m.mtime = util::format_rfc3339_seconds(static_cast<std::int64_t>(archive_entry_mtime(e))).value_or("");
    m.mode = fmt::format("{:04o}", static_cast<unsigned>(archive_entry_perm(e)) & 07777U);
    m.link_target = util::escape_for_terminal(raw_link(e), limits.max_name_bytes);
    return m;
  }

  // Hashes the current member's content. Returns false when reading must stop (fatal error).
  bool read_content(struct archive* a, TarMember& m) {
    util::Sha256 hash;
    bool ok = true;
    for (;;) {
      const void* block = nullptr;
      std::size_t len = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(a, &block, &len, &offset);
      if (r == ARCHIVE_FATAL) {
        m.note = exhausted ? "truncated" : error_text(a);
        problem(exhausted ? fmt::format("the tar stream ends inside member \"{}\" (truncated)", last_name)
                          : fmt::format("member \"{}\": {}; nothing after it was read", last_name, m.note));
        m.sha256 = hash.hex_digest();
        return false;
      }
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN && r != ARCHIVE_EOF) {
        m.note = error_text(a);
        problem(fmt::format("member \"{}\": {}", last_name, m.note));
        ok = false;
        break;
      }
      if (r == ARCHIVE_WARN) problem(fmt::format("member \"{}\": {}", last_name, error_text(a)));
      // Sparse members come as blocks at offsets; the holes between them (and up to the end) are
      // zeros in the file the member stands for.
      if (offset > 0 && static_cast<std::uint64_t>(offset) > m.bytes_read) {
        if (!fill_hole(hash, m, static_cast<std::uint64_t>(offset) - m.bytes_read)) {
          ok = false;
          break;
        }
      } else if (offset >= 0 && static_cast<std::uint64_t>(offset) < m.bytes_read && len > 0) {
        m.note = "overlapping sparse data";
        problem(fmt::format("member \"{}\": {}", last_name, m.note));
        ok = false;
        break;
      }
      if (r == ARCHIVE_EOF) break;
      hash.update({static_cast<const char*>(block), len});
      m.bytes_read += len;
    }
    m.sha256 = hash.hex_digest();
    m.complete = ok && m.bytes_read == m.size;
    if (ok && !m.complete) {
      m.note = fmt::format("{} bytes of content for a size of {}", m.bytes_read, m.size);
      problem(fmt::format("member \"{}\": {}", last_name, m.note));
    }
    return true;
  }

  bool fill_hole(util::Sha256& hash, TarMember& m, std::uint64_t gap) {
    if (gap > sparse_budget) {
      m.note = fmt::format("sparse hole of {} bytes exceeds what is left of the {} byte limit", gap,
                           limits.max_sparse_fill_bytes);
      problem(fmt::format("member \"{}\": {}", last_name, m.note));
      return false;
    }
    sparse_budget -= gap;
    static const std::string zeros(k_zero_block, '\0');
    for (std::uint64_t left = gap; left > 0;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
      hash.update({zeros.data(), n});
      left -= n;
    }
    m.bytes_read += gap;
    return true;
  }

  // After the end-of-archive marker `tar cf -` writes only zeros (padding to its record size).
  // Bytes libarchive was handed but did not consume are checked here; later ones by write().
  void check_after_marker(std::uint64_t consumed) {
    const auto unread = delivered > consumed ? delivered - consumed : 0;
    std::string_view tail(current);
    tail = tail.substr(tail.size() - std::min<std::uint64_t>(unread, tail.size()));
    std::lock_guard lock(mu);
    note_discarded(tail);
    discarded += unread - tail.size();  // (read ahead across blocks: counted, not checked)
  }

  static std::string error_text(struct archive* a) {
    const char* msg = archive_error_string(a);
    return util::escape_for_terminal(msg != nullptr ? msg : "unknown libarchive error", 512);
  }
};

TarDigestSink::TarDigestSink(TarDigestLimits limits) : m_impl(std::make_unique<Impl>(limits)) {
  m_impl->worker = std::thread([impl = m_impl.get()] { impl->run(); });
}

TarDigestSink::~TarDigestSink() {
  if (!m_impl->worker.joinable()) return;
  {
    std::lock_guard lock(m_impl->mu);
    m_impl->eof = true;
    m_impl->cancel = true;  // finish() was not called: what is queued is not worth waiting for
  }
  m_impl->cv_data.notify_all();
  m_impl->worker.join();
}

Result<void> TarDigestSink::write(std::string_view data) {
  auto& impl = *m_impl;
  if (impl.finished) return fail(Errc::failure, "tar digest: write after finish");
  while (!data.empty()) {
    std::unique_lock lock(impl.mu);
    impl.cv_space.wait(lock, [&] { return impl.stopped || impl.queued < impl.limits.max_queued_bytes; });
    if (impl.stopped) {
      impl.note_discarded(data);
      return {};
    }
    if (impl.queue.empty() || impl.queue.back().size() >= k_piece) {
      if (impl.spares.empty()) {
        impl.queue.emplace_back().reserve(k_piece);
      } else {
        impl.queue.push_back(std::move(impl.spares.back()));
        impl.spares.pop_back();
      }
    }
    auto& piece = impl.queue.back();
    const auto n = std::min(k_piece - piece.size(), data.size());
    piece.append(data.substr(0, n));
    impl.queued += n;
    data.remove_prefix(n);
    lock.unlock();
    impl.cv_data.notify_one();
  }
  return {};
}

Result<void> TarDigestSink::finish() {
  auto& impl = *m_impl;
  if (impl.finished) return {};
  impl.finished = true;
  {
    std::lock_guard lock(impl.mu);
    impl.eof = true;
  }
  impl.cv_data.notify_all();
  impl.worker.join();
  // The worker is done: its results and the discard counters are ours now.
  if (impl.discarded > 0) {
    if (!impl.after_end) {
      impl.problem(fmt::format("{} bytes after the point where reading stopped were not parsed", impl.discarded));
    } else if (impl.discarded_nonzero) {
      impl.problem(fmt::format("{} bytes follow the end-of-archive marker and they are not all zero: data "
                               "appended to the archive?",
                               impl.discarded));
    }
  }
  if (impl.dropped > 0) {
    impl.problem(fmt::format("{} members beyond the limit of {} were not hashed", impl.dropped,
                             impl.limits.max_members));
  }
  if (impl.problems_dropped > 0) {
    impl.problems.push_back(fmt::format("... {} more problems", impl.problems_dropped));
  }
  return {};
}

const std::vector<TarMember>& TarDigestSink::members() const {
  static const std::vector<TarMember> none;
  return m_impl->finished ? m_impl->members : none;
}

const std::vector<std::string>& TarDigestSink::problems() const {
  static const std::vector<std::string> none;
  return m_impl->finished ? m_impl->problems : none;
}

std::size_t TarDigestSink::dropped() const { return m_impl->finished ? m_impl->dropped : 0; }

nlohmann::json to_json(const TarMember& m) {
  nlohmann::json j = {{"name", m.name},         {"type", m.type},         {"size", m.size},
                      {"sha256", m.sha256},     {"bytes_read", m.bytes_read}, {"complete", m.complete},
                      {"mtime", m.mtime},       {"mode", m.mode}};
  if (!m.link_target.empty()) j["link_target"] = m.link_target;
  if (!m.note.empty()) j["note"] = m.note;
  return j;
}

}  // namespace ir::forensics
