#include "evidence/bundle.hpp"

// ZLIB_CONST: z_stream::next_in is `const Bytef*`, so input needs no const_cast.
#define ZLIB_CONST
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <numbers>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "util/crypto.hpp"

namespace ir::evidence {

namespace {

// Every copy (spool → archive, archive → hash) moves at most this much at a time, so memory stays
// bounded whatever the size of an entry.
constexpr std::size_t k_chunk = 256 * 1024;
// add() hashes an entry of at least this size on a second thread while writing it (tar, gzip and
// the file's own hash): on multi-gigabyte archives that hash is a third of the writer's work.
constexpr std::size_t k_parallel_hash_bytes = 1024 * 1024;
constexpr std::size_t k_max_name = 1024;
constexpr std::size_t k_max_component = 100;
constexpr std::size_t k_component_hash_hex = 8;
constexpr std::uint64_t k_max_manifest = 64ULL * 1024 * 1024;
constexpr std::size_t k_max_entries = 1'000'000;
constexpr std::size_t k_max_problems = 1000;
constexpr mode_t k_entry_mode = 0644;
constexpr mode_t k_bundle_mode = 0600;

// gzip (RFC 1952) over zlib's deflate (RFC 1951). Level 1: on this class of machine deflate runs
// at ~850 MB/s on zeros and text-like data compresses 3-10x, while higher levels cost far more
// time than they save. Incompressible input (random bytes, compressed or encrypted files) is where
// deflate is slowest (~50 MB/s at any level 1-9) and saves nothing, so GzipWriter watches each
// 256 KiB window and switches to stored blocks (level 0, a memcpy) for windows that did not
// shrink, probing again with exponential back-off. The output is one ordinary gzip member that any
// gunzip reads.
constexpr int k_gzip_level = 1;
constexpr std::uint64_t k_gzip_window = 256 * 1024;
// A window "did not shrink" when deflate saved less than 1/16 of it.
constexpr std::uint64_t k_incompressible_num = 15;
constexpr std::uint64_t k_incompressible_den = 16;
// Stored windows after an incompressible one: 4, 8, ... up to 256 (64 MiB) between probes. A probe
// deflates a whole window (~5 ms of CPU on random data), so a long incompressible stream is
// probed about once per 64 MiB; the entropy samples below catch a turn to compressible data
// sooner.
constexpr unsigned k_initial_backoff = 4;
constexpr unsigned k_max_backoff = 256;
// While storing, the first 4 KiB of every window and of every entry's data are sampled: an
// order-0 entropy below 7.5 bits per byte (random or compressed data measures ~7.95 on 4 KiB; text
// ~5, zeros 0) means the data has turned compressible, and deflate resumes at once instead of
// after the back-off. An entry shorter than the sample is judged on what it has once it holds
// k_entropy_min bytes (fewer tell too little: it stays as it is).
constexpr std::uint64_t k_entropy_sample = 4096;
constexpr std::uint64_t k_entropy_min = 256;
constexpr double k_compressible_entropy = 7.5;
// deflateInit2: 15-bit window (32 KiB, the deflate maximum), +16 selects the gzip wrapper
// instead of zlib's; memLevel 8 is zlib's default.
constexpr int k_gzip_window_bits = 15 + 16;
constexpr int k_gzip_mem_level = 8;
constexpr int k_gzip_os_unix = 3;  // RFC 1952 §2.3.1 OS field

Error errno_error(const std::string& what) {
  return Error(Errc::io, fmt::format("{}: {}", what, std::strerror(errno)));
}

Result<void> write_all(int fd, std::string_view data, util::Sha256* hash = nullptr, std::uint64_t* count = nullptr) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return unexpected(errno_error("write"));
    }
    const auto done = static_cast<std::size_t>(n);
    // Hash only what reached the file, so hash and size always describe the file's bytes.
    if (hash != nullptr) hash->update(data.substr(0, done));
    if (count != nullptr) *count += done;
    data.remove_prefix(done);
  }
  return {};
}

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

std::string shorten(std::string_view name) {
  constexpr std::size_t k_shown = 128;
  return name.size() <= k_shown ? std::string(name) : std::string(name.substr(0, k_shown)) + "...";
}

// The bundle file: bytes are hashed on their way to disk, so finish() knows the SHA-256 of the
// final file without reading it back.
//
// Large bundles are pushed to disk as they grow: every k_writeback_window written, writeback of
// that window starts (sync_file_range), and the window before it, written back by then, is waited
// for and dropped from the page cache. The evidence is on disk early, finish()'s fsync has little
// left to do, a gigabyte bundle does not evict the responder's page cache, and the kernel reuses
// the same few page-cache pages instead of allocating fresh ones for every write (on this class of
// virtual machine a fresh page costs several times the copy into it). Optional: a file system
// that refuses these calls just gets plain writes.
constexpr std::uint64_t k_writeback_window = 32ULL << 20;

struct HashedFile {
  int fd = -1;
  util::Sha256 hash;
  std::uint64_t bytes = 0;
  std::uint64_t started = 0;  // writeback started for [0, started)
  std::uint64_t dropped = 0;  // written back and dropped for [0, dropped)
  bool writeback = true;

  Result<void> write(std::string_view data) {
    IR_CHECK(write_all(fd, data, &hash, &bytes));
    if (writeback && bytes - started >= k_writeback_window) IR_CHECK(push_window());
    return {};
  }

 private:
  Result<void> push_window() {
    const auto off = static_cast<off_t>(started);
    const auto len = static_cast<off_t>(bytes - started);
    if (::sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE) != 0) return give_up_writeback();
    started = bytes;
    if (started - dropped >= 2 * k_writeback_window) {
      const auto from = static_cast<off_t>(dropped);
      const auto n = static_cast<off_t>(started - dropped - k_writeback_window);
      constexpr unsigned k_wait = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
      if (::sync_file_range(fd, from, n, k_wait) != 0) return give_up_writeback();
      (void)::posix_fadvise(fd, from, n, POSIX_FADV_DONTNEED);
      dropped += static_cast<std::uint64_t>(n);
    }
    return {};
  }
  // EIO is the disk failing: the bundle cannot be trusted to reach it. Anything else (EINVAL,
  // ESPIPE, ENOSYS on file systems without it) only ends the optimisation.
  Result<void> give_up_writeback() {
    if (errno == EIO || errno == ENOSPC) return unexpected(errno_error("writeback"));
    writeback = false;
    return {};
  }
};

// One gzip member written through zlib, switching between level k_gzip_level and stored blocks
// per window (see k_gzip_level). zlib allows the level to change mid-stream with deflateParams()
// once the pending block is flushed (Z_BLOCK: ends the deflate block without byte alignment or an
// empty marker block, so switching costs a few bits).
class GzipWriter {
 public:
  GzipWriter() = default;
  ~GzipWriter() {
    if (m_started) deflateEnd(&m_z);
  }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  // `mtime` goes into the gzip header's MTIME (RFC 1952 §2.3.1: "time compression started");
  // no file name, comment or host data is written.
  Result<void> start(HashedFile& out, std::uint32_t mtime) {
    m_out = &out;
    m_buf.resize(k_chunk);
    if (deflateInit2(&m_z, k_gzip_level, Z_DEFLATED, k_gzip_window_bits, k_gzip_mem_level, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      return fail(Errc::failure, "zlib: deflateInit2 failed");
    }
    m_started = true;
    m_header.time = mtime;
    m_header.os = k_gzip_os_unix;
    if (deflateSetHeader(&m_z, &m_header) != Z_OK) return fail(Errc::failure, "zlib: deflateSetHeader failed");
    return {};
  }

  Result<void> write(std::string_view data) {
    while (!data.empty()) {
      std::uint64_t room = k_gzip_window - m_window_in;
      const bool sampling = m_storing && m_sampled < k_entropy_sample;
      if (sampling) room = std::min<std::uint64_t>(room, k_entropy_sample - m_sampled);
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), room));
      if (sampling) {
        for (const char c : data.substr(0, n)) ++m_histogram[static_cast<unsigned char>(c)];
        m_sampled += n;
      }
      m_z.next_in = reinterpret_cast<const Bytef*>(data.data());
      m_z.avail_in = static_cast<uInt>(n);
      IR_CHECK(run(Z_NO_FLUSH));
      data.remove_prefix(n);
      m_window_in += n;
      if (sampling && m_sampled == k_entropy_sample) IR_CHECK(judge_sample());
      if (m_window_in == k_gzip_window) IR_CHECK(end_window());
    }
    return {};
  }

  // An entry's data begins: it may compress differently from what came before. While storing, its
  // first bytes are sampled (a window sample still running holds the previous entry's end and
  // this one's header, and is dropped). While deflating, the window's outcome decides as usual.
  void new_section() {
    if (m_storing) start_sample();
  }

  // An entry's data ends: a sample still running is judged on what it has (an entry shorter than
  // the sample), or dropped when that is too little to tell. Headers and padding between entries
  // never reach a judged sample.
  Result<void> end_section() {
    if (m_sampled >= k_entropy_sample) return {};
    if (m_sampled >= k_entropy_min) return judge_sample();
    m_sampled = k_entropy_sample;
    return {};
  }

  // Writes the final block and the trailer (CRC-32 and ISIZE, RFC 1952 §2.3.1).
  Result<void> finish() {
    IR_CHECK(run(Z_FINISH));
    deflateEnd(&m_z);
    m_started = false;
    return {};
  }

  [[nodiscard]] bool started() const { return m_started; }

 private:
  // Runs deflate over the pending input with `flush`, writing out everything it produces. zlib
  // contract: when deflate returns with avail_out != 0, all input is consumed and a Z_BLOCK flush
  // is complete; Z_FINISH is complete on Z_STREAM_END.
  Result<void> run(int flush) {
    for (;;) {
      m_z.next_out = m_buf.data();
      m_z.avail_out = static_cast<uInt>(m_buf.size());
      const int r = deflate(&m_z, flush);
      if (r == Z_STREAM_ERROR) return fail(Errc::failure, "zlib: deflate failed");
      const std::size_t produced = m_buf.size() - m_z.avail_out;
      if (produced > 0) IR_CHECK(m_out->write({reinterpret_cast<const char*>(m_buf.data()), produced}));
      if (flush == Z_FINISH ? r == Z_STREAM_END : m_z.avail_out != 0) return {};
    }
  }

  Result<void> set_level(int level) {
    IR_CHECK(run(Z_BLOCK));
    // Everything is flushed, so deflateParams' own Z_BLOCK flush has nothing to emit; any byte it
    // did emit would land in m_buf, so collect it all the same.
    m_z.next_out = m_buf.data();
    m_z.avail_out = static_cast<uInt>(m_buf.size());
    if (deflateParams(&m_z, level, Z_DEFAULT_STRATEGY) != Z_OK) return fail(Errc::failure, "zlib: deflateParams failed");
    const std::size_t produced = m_buf.size() - m_z.avail_out;
    if (produced > 0) IR_CHECK(m_out->write({reinterpret_cast<const char*>(m_buf.data()), produced}));
    return {};
  }

  void start_sample() {
    m_histogram.fill(0);
    m_sampled = 0;
  }

  // Order-0 (byte frequency) entropy of the sample, in bits per byte, with the Miller-Madow
  // correction (+ (K-1) / (2 n ln 2) for K distinct bytes in n) for the plug-in estimate's low
  // bias on short samples: 256 random bytes measure ~7.3 bits uncorrected, ~7.75 corrected, while
  // text stays near 5.
  [[nodiscard]] double sample_entropy() const {
    double bits = 0;
    int distinct = 0;
    const auto n = static_cast<double>(m_sampled);
    for (const auto count : m_histogram) {
      if (count != 0) {
        const double p = static_cast<double>(count) / n;
        bits -= p * std::log2(p);
        ++distinct;
      }
    }
    return bits + (distinct - 1) / (2 * n * std::numbers::ln2);
  }

  // While storing: a sample that looks compressible resumes deflate at once. Either way the sample
  // is over until the next window or entry starts one.
  Result<void> judge_sample() {
    const bool compressible = sample_entropy() < k_compressible_entropy;
    m_sampled = k_entropy_sample;
    if (compressible) {
      IR_CHECK(set_level(k_gzip_level));
      m_storing = false;
      m_backoff = k_initial_backoff;
      m_window_in = 0;
      m_window_out_start = m_z.total_out;
    }
    return {};
  }

  Result<void> end_window() {
    if (m_storing) {
      if (--m_store_left == 0) {
        IR_CHECK(set_level(k_gzip_level));  // probe the next window
        m_storing = false;
      } else {
        start_sample();
      }
    } else {
      // Flush the window's block so total_out counts all of its output.
      IR_CHECK(run(Z_BLOCK));
      const std::uint64_t out = m_z.total_out - m_window_out_start;
      if (out * k_incompressible_den >= m_window_in * k_incompressible_num) {
        IR_CHECK(set_level(0));
        m_storing = true;
        start_sample();
        m_store_left = m_backoff;
        m_backoff = std::min(m_backoff * 2, k_max_backoff);
      } else {
        m_backoff = k_initial_backoff;
      }
    }
    m_window_in = 0;
    m_window_out_start = m_z.total_out;
    return {};
  }

  z_stream m_z{};
  gz_header m_header{};  // zlib keeps a pointer to it until the header is written
  bool m_started = false;
  HashedFile* m_out = nullptr;
  std::vector<unsigned char> m_buf;
  bool m_storing = false;
  std::uint64_t m_window_in = 0;
  std::uint64_t m_window_out_start = 0;
  unsigned m_backoff = k_initial_backoff;
  unsigned m_store_left = 0;
  std::array<std::uint32_t, 256> m_histogram{};
  std::uint64_t m_sampled = k_entropy_sample;  // bytes in the current sample; k_entropy_sample: none running
};

// Whether one name would be a directory of the other ("pod" and "pod/spec.json"): both cannot be
// extracted.
bool path_conflicts(std::string_view a, std::string_view b) {
  if (a == b) return true;
  const auto below = [](std::string_view dir, std::string_view p) {
    return p.size() > dir.size() && p.substr(0, dir.size()) == dir && p[dir.size()] == '/';
  };
  return below(a, b) || below(b, a);
}

std::vector<std::string> parent_dirs(const std::string& name) {
  std::vector<std::string> out;
  for (std::size_t i = name.find('/'); i != std::string::npos; i = name.find('/', i + 1)) {
    out.push_back(name.substr(0, i));
  }
  return out;
}

Result<void> fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return unexpected(errno_error(dir));
  // Some file systems refuse fsync on a directory (EINVAL): the rename is then as durable as they
  // allow.
  const bool ok = ::fsync(fd) == 0 || errno == EINVAL;
  const Error e = ok ? Error() : errno_error("fsync " + dir);
  ::close(fd);
  if (!ok) return unexpected(e);
  return {};
}

// rename() that never replaces an existing destination. renameat2(RENAME_NOREPLACE) is atomic;
// where the file system lacks it, link()+unlink() gives the same guarantee (link fails with
// EEXIST), briefly with both names.
Result<void> rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno != EINVAL && errno != ENOSYS) return unexpected(errno_error("rename to " + to));
  if (::link(from.c_str(), to.c_str()) != 0) return unexpected(errno_error("link to " + to));
  if (::unlink(from.c_str()) != 0) return unexpected(errno_error("unlink " + from));
  return {};
}

class BundleWriterImpl;

// A streaming entry: bytes are appended to an unlinked spool file and hashed on the way.
class SpoolEntry final : public EntrySink {
 public:
  SpoolEntry(BundleWriterImpl* writer, int fd, std::string name)
      : m_writer(writer), m_fd(fd), m_name(std::move(name)) {}
  ~SpoolEntry() override;
  SpoolEntry(const SpoolEntry&) = delete;
  SpoolEntry& operator=(const SpoolEntry&) = delete;

  Result<void> write(std::string_view data) override {
    if (m_fd < 0) return fail(Errc::failure, "entry " + m_name + ": already committed");
    auto r = write_all(m_fd, data, &m_hash, &m_size);
    if (!r) return unexpected(r.error().context("spool for entry " + m_name));
    return {};
  }
  Result<Artifact> commit(const ArtifactMeta& meta) override;

  // The writer is finishing or going away: commit() must fail from now on.
  void detach() { m_writer = nullptr; }
  [[nodiscard]] const std::string& name() const { return m_name; }
  [[nodiscard]] int fd() const { return m_fd; }
  [[nodiscard]] std::uint64_t size() const { return m_size; }
  std::string digest() { return m_hash.hex_digest(); }

 private:
  void close_spool() {
    if (m_fd >= 0) ::close(m_fd);  // unlinked already: closing frees the space
    m_fd = -1;
  }
  BundleWriterImpl* m_writer;
  int m_fd;
  std::string m_name;
  util::Sha256 m_hash;
  std::uint64_t m_size = 0;
};

la_ssize_t on_archive_write(struct archive* a, void* ctx, const void* buf, size_t n);

class BundleWriterImpl final : public BundleWriter {
 public:
  BundleWriterImpl(std::string path, util::Clock& clock) : m_path(std::move(path)), m_clock(&clock) {
    m_partial = m_path + ".partial";
    const std::filesystem::path p(m_path);
    m_dir = p.has_parent_path() ? p.parent_path().string() : ".";
    m_spool_template = m_dir + "/." + p.filename().string() + ".spool-XXXXXX";
    m_created = m_clock->now();
  }

  ~BundleWriterImpl() override {
    if (m_open != nullptr) m_open->detach();
    // Not finished: close the tar and gzip streams as well as possible so "<path>.partial" is a
    // readable tar.gz of everything collected, and leave it in place.
    if (m_archive != nullptr) {
      if (!m_output_failed) (void)close_archive();
      archive_write_free(m_archive);
    }
    if (m_gzip.started() && !m_output_failed) (void)m_gzip.finish();
    if (m_out.fd >= 0) {
      ::fsync(m_out.fd);
      ::close(m_out.fd);
    }
  }
  BundleWriterImpl(const BundleWriterImpl&) = delete;
  BundleWriterImpl& operator=(const BundleWriterImpl&) = delete;

  Result<void> open() {
    // O_EXCL: never reuse or overwrite a partial bundle, which may be an earlier run's evidence.
    m_out.fd = ::open(m_partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, k_bundle_mode);
    if (m_out.fd < 0) {
      if (errno == EEXIST) {
        return fail(Errc::io, m_partial + " already exists (an unfinished bundle? it is never overwritten)");
      }
      return unexpected(errno_error(m_partial));
    }
    auto r = start_streams();
    if (!r) {
      // Nothing collected yet: the empty partial file is not evidence.
      ::close(m_out.fd);
      m_out.fd = -1;
      ::unlink(m_partial.c_str());
      return unexpected(r.error().context(m_partial));
    }
    return {};
  }

  Result<Artifact> add(const std::string& name, std::string_view data, const ArtifactMeta& meta) override {
    IR_CHECK(usable());
    IR_CHECK(check_new_name(name));
    const auto now = m_clock->now();
    std::future<std::string> hashed;
    if (data.size() >= k_parallel_hash_bytes) {
      try {
        hashed = std::async(std::launch::async, [data] { return util::sha256_hex(data); });
      } catch (const std::system_error&) {  // no thread to be had: hash below instead
      }
    }
    auto written = write_entry(name, data, now);
    // Waited for whatever happened: the task reads `data`, which is the caller's.
    std::string sha256 = hashed.valid() ? hashed.get() : std::string();
    IR_CHECK(written);
    if (sha256.empty()) sha256 = util::sha256_hex(data);
    return record(Artifact{name, data.size(), std::move(sha256), util::format_rfc3339(now), meta});
  }

  Result<std::unique_ptr<EntrySink>> open_entry(const std::string& name, const ArtifactMeta& /*meta*/) override {
    IR_CHECK(usable());
    if (m_open != nullptr) {
      return fail(Errc::failure,
                  "entry \"" + m_open->name() + "\" is still open: commit it before opening \"" + shorten(name) + "\"");
    }
    IR_CHECK(check_new_name(name));
    // The spool lives beside the bundle (same file system and permissions, never /tmp) and is
    // unlinked at once: kept only by its descriptor, it vanishes on close or crash.
    std::string tmpl = m_spool_template;
    const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) return unexpected(errno_error("spool file in " + m_dir));
    ::unlink(tmpl.c_str());
    auto entry = std::make_unique<SpoolEntry>(this, fd, name);
    m_open = entry.get();
    return std::unique_ptr<EntrySink>(std::move(entry));
  }

  [[nodiscard]] const std::vector<Artifact>& artifacts() const override { return m_artifacts; }

  Result<std::string> finish() override {
    IR_CHECK(usable());
    if (m_open != nullptr) {
      m_open->detach();
      m_open = nullptr;
    }
    auto r = finish_streams();
    if (!r) {
      m_state = State::broken;
      m_error = r.error();
      return unexpected(r.error().context("finish bundle " + m_path).with_hint("the evidence collected so far is in " +
                                                                                  m_partial));
    }
    m_state = State::finished;
    return m_out.hash.hex_digest();
  }

  // SpoolEntry::commit: copies the spool into the archive.
  Result<Artifact> commit_spool(SpoolEntry& entry, const ArtifactMeta& meta) {
    m_open = nullptr;
    IR_CHECK(usable());
    const auto now = m_clock->now();
    const std::uint64_t size = entry.size();
    IR_CHECK(begin_entry(entry.name(), size, now));
    std::vector<char> buf(k_chunk);
    std::uint64_t off = 0;
    while (off < size) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(k_chunk, size - off));
      const ssize_t n = ::pread(entry.fd(), buf.data(), want, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return unexpected(broken(n < 0 ? errno_error("read spool of " + entry.name())
                                       : Error(Errc::io, "spool of " + entry.name() + " shrank while copying")));
      }
      IR_CHECK(write_data({buf.data(), static_cast<std::size_t>(n)}));
      off += static_cast<std::uint64_t>(n);
    }
    IR_CHECK(end_entry(entry.name()));
    return record(Artifact{entry.name(), size, entry.digest(), util::format_rfc3339(now), meta});
  }

  // SpoolEntry destroyed without commit.
  void release(SpoolEntry& entry) {
    if (m_open == &entry) m_open = nullptr;
  }

  // libarchive's write callback: tar bytes on their way into the gzip stream.
  la_ssize_t on_tar_bytes(struct archive* a, const void* buf, size_t n) {
    if (m_output_failed) return -1;
    m_tar_bytes += n;
    auto r = m_gzip.write({static_cast<const char*>(buf), n});
    if (!r) {
      m_output_failed = true;
      m_output_error = r.error();
      archive_set_error(a, EIO, "%s", r.error().message.c_str());
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }

 private:
  enum class State { open, finished, broken };

  Result<void> start_streams() {
    if (::fchmod(m_out.fd, k_bundle_mode) != 0) return unexpected(errno_error("chmod"));  // whatever the umask
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(m_created.time_since_epoch()).count();
    IR_CHECK(m_gzip.start(m_out, secs > 0 && secs <= 0xFFFFFFFF ? static_cast<std::uint32_t>(secs) : 0));
    m_archive = archive_write_new();
    if (m_archive == nullptr) return fail(Errc::failure, "libarchive: out of memory");
    // pax_restricted writes plain ustar headers and adds a pax extended header only for what ustar
    // cannot hold (names over 100+155 bytes, sizes of 8 GiB and more), so any tar reads it.
    // Compression is ours (GzipWriter), so libarchive's filter chain is empty. Its blocking is off
    // (bytes per block 0: every write reaches on_tar_bytes as it is made, in the caller's chunk
    // sizes rather than 10240-byte records, and an entry's header is through before its data);
    // close_archive() pads the end to a whole 10240-byte record (POSIX ustar) itself.
    if (archive_write_set_format_pax_restricted(m_archive) != ARCHIVE_OK ||
        archive_write_add_filter_none(m_archive) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(m_archive, 0) != ARCHIVE_OK ||
        archive_write_open2(m_archive, this, nullptr, on_archive_write, nullptr, nullptr) != ARCHIVE_OK) {
      return fail(Errc::failure, std::string("libarchive: ") + archive_error_string(m_archive));
    }
    return {};
  }

  Result<void> usable() const {
    if (m_state == State::finished) return fail(Errc::failure, "bundle " + m_path + " is already finished");
    if (m_state == State::broken) return unexpected(m_error.context("bundle " + m_partial + " is unusable after an error"));
    return {};
  }

  Result<void> check_new_name(const std::string& name) const {
    IR_CHECK(check_entry_name(name));
    if (name == k_manifest_name) return fail(Errc::invalid, "entry name \"" + name + "\" is reserved for the manifest");
    if (m_names.count(name) != 0) return fail(Errc::conflict, "entry \"" + name + "\" is already in the bundle");
    if (m_dirs.count(name) != 0) {
      return fail(Errc::conflict, "entry \"" + name + "\" is already a directory of other entries");
    }
    for (const auto& dir : parent_dirs(name)) {
      if (m_names.count(dir) != 0) {
        return fail(Errc::conflict, "entry \"" + name + "\": \"" + dir + "\" is already an entry, not a directory");
      }
    }
    if (m_open != nullptr && path_conflicts(name, m_open->name())) {
      return fail(Errc::conflict, "entry \"" + name + "\" conflicts with the open entry \"" + m_open->name() + "\"");
    }
    return {};
  }

  Artifact record(Artifact a) {
    for (auto& dir : parent_dirs(a.path)) m_dirs.insert(std::move(dir));
    m_names.insert(a.path);
    m_artifacts.push_back(a);
    return a;
  }

  // Marks the writer unusable (the archive may be mid-entry) and returns the error.
  Error broken(Error e) {
    if (m_state != State::broken) {
      m_state = State::broken;
      m_error = e;
    }
    return e;
  }

  Error archive_failure(const std::string& what) {
    if (m_output_failed) return broken(m_output_error.context(what + ": " + m_partial));
    const char* msg = archive_error_string(m_archive);
    return broken(Error(Errc::io, fmt::format("{}: {}", what, msg != nullptr ? msg : "libarchive error")));
  }

  // The ustar header (POSIX.1-2001 "ustar Interchange Format"): only what the reader needs and
  // nothing about this host. uid/gid 0 and owner "root" instead of the examiner's ids; no device
  // or inode numbers (libarchive writes devmajor/devminor only for device entries, and ustar has no
  // inode field); mode 0644; mtime = collection time from the injected clock, so tests are
  // deterministic.
  Result<void> begin_entry(const std::string& name, std::uint64_t size, util::TimePoint mtime) {
    struct archive_entry* e = archive_entry_new();
    if (e == nullptr) return unexpected(broken(Error(Errc::failure, "libarchive: out of memory")));
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, k_entry_mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_uname(e, "root");
    archive_entry_set_gname(e, "root");
    archive_entry_set_mtime(e, std::chrono::system_clock::to_time_t(mtime), 0);
    const int rc = archive_write_header(m_archive, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) return unexpected(archive_failure("write header of " + name));
    // The header has reached the gzip stream (no blocking): the entry's data starts here.
    m_gzip.new_section();
    return {};
  }

  // archive_write_close writes the end-of-archive marker (two zero 512-byte blocks); the archive
  // is then padded with zeros to a whole 10240-byte record, as a blocked ustar writer would.
  Result<void> close_archive() {
    if (archive_write_close(m_archive) != ARCHIVE_OK) return unexpected(archive_failure("close archive"));
    static constexpr std::size_t k_record = 10240;
    static const std::string zeros(k_record, '\0');
    if (const std::size_t tail = m_tar_bytes % k_record; tail != 0) {
      auto r = m_gzip.write(std::string_view(zeros).substr(0, k_record - tail));
      if (!r) {
        m_output_failed = true;
        return unexpected(broken(r.error().context(m_partial)));
      }
    }
    return {};
  }

  Result<void> write_data(std::string_view data) {
    while (!data.empty()) {
      const la_ssize_t n = archive_write_data(m_archive, data.data(), data.size());
      if (n <= 0) return unexpected(archive_failure("write"));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  // Pads the entry's data to a 512-byte block (ustar).
  Result<void> end_entry(const std::string& name) {
    if (auto r = m_gzip.end_section(); !r) {
      m_output_failed = true;
      return unexpected(broken(r.error().context(m_partial)));
    }
    if (archive_write_finish_entry(m_archive) != ARCHIVE_OK) return unexpected(archive_failure("write " + name));
    return {};
  }

  Result<void> write_entry(const std::string& name, std::string_view data, util::TimePoint mtime) {
    IR_CHECK(begin_entry(name, data.size(), mtime));
    for (std::size_t off = 0; off < data.size(); off += k_chunk) IR_CHECK(write_data(data.substr(off, k_chunk)));
    return end_entry(name);
  }

  std::string manifest() const {
    nlohmann::json artifacts = nlohmann::json::array();
    for (const auto& a : m_artifacts) {
      artifacts.push_back({{"path", a.path},
                           {"size", a.size},
                           {"sha256", a.sha256},
                           {"collected_at", a.collected_at},
                           {"source", a.meta.source},
                           {"method", to_string(a.meta.method)},
                           {"exit_status", a.meta.exit_status ? nlohmann::json(*a.meta.exit_status) : nlohmann::json()},
                           {"truncated", a.meta.truncated},
                           {"note", a.meta.note}});
    }
    const nlohmann::json doc = {{"format", k_bundle_format},
                                {"created", util::format_rfc3339(m_created)},
                                {"artifacts", std::move(artifacts)}};
    // error_handler::replace: a source or note quoting pod output may hold bytes that are not
    // UTF-8; they become U+FFFD rather than failing the whole bundle.
    return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }

  Result<void> finish_streams() {
    IR_CHECK(write_entry(std::string(k_manifest_name), manifest(), m_clock->now()));
    IR_CHECK(close_archive());
    archive_write_free(m_archive);
    m_archive = nullptr;
    auto r = m_gzip.finish();
    if (!r) {
      m_output_failed = true;
      return unexpected(r.error().context(m_partial));
    }
    if (::fsync(m_out.fd) != 0) return unexpected(errno_error("fsync " + m_partial));
    const int fd = m_out.fd;
    m_out.fd = -1;
    if (::close(fd) != 0) return unexpected(errno_error("close " + m_partial));
    IR_CHECK(rename_no_replace(m_partial, m_path));
    return fsync_dir(m_dir);
  }

  std::string m_path;
  std::string m_partial;
  std::string m_dir;
  std::string m_spool_template;
  util::Clock* m_clock;
  util::TimePoint m_created;
  HashedFile m_out;
  GzipWriter m_gzip;
  struct archive* m_archive = nullptr;
  std::uint64_t m_tar_bytes = 0;  // tar bytes libarchive has written
  bool m_output_failed = false;  // the file or gzip stream failed: nothing more can be written
  Error m_output_error;
  State m_state = State::open;
  Error m_error;
  std::vector<Artifact> m_artifacts;
  std::unordered_set<std::string> m_names;
  std::unordered_set<std::string> m_dirs;
  SpoolEntry* m_open = nullptr;
};

la_ssize_t on_archive_write(struct archive* a, void* ctx, const void* buf, size_t n) {
  return static_cast<BundleWriterImpl*>(ctx)->on_tar_bytes(a, buf, n);
}

SpoolEntry::~SpoolEntry() {
  if (m_writer != nullptr) m_writer->release(*this);
  close_spool();
}

Result<Artifact> SpoolEntry::commit(const ArtifactMeta& meta) {
  if (m_fd < 0) return fail(Errc::failure, "entry " + m_name + ": already committed");
  if (m_writer == nullptr) {
    close_spool();
    return fail(Errc::failure, "entry " + m_name + ": the bundle was finished or closed before commit");
  }
  BundleWriterImpl* writer = m_writer;
  m_writer = nullptr;
  auto r = writer->commit_spool(*this, meta);
  close_spool();
  return r;
}

// ---- verify ----

struct ReadSource {
  int fd = -1;
  util::Sha256 hash;
  std::vector<char> buf = std::vector<char>(k_chunk);
  Error error;
  bool failed = false;
};

// libarchive's read callback: the raw file bytes, hashed as they pass, so the bundle's own
// SHA-256 comes out of the same single read as the entries'.
la_ssize_t on_archive_read(struct archive* a, void* ctx, const void** out) {
  auto* src = static_cast<ReadSource*>(ctx);
  for (;;) {
    const ssize_t n = ::read(src->fd, src->buf.data(), src->buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      src->failed = true;
      src->error = errno_error("read");
      archive_set_error(a, errno, "read failed");
      return -1;
    }
    src->hash.update({src->buf.data(), static_cast<std::size_t>(n)});
    *out = src->buf.data();
    return n;
  }
}

struct SeenEntry {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;
};

struct ListedArtifact {
  std::uint64_t size = 0;
  std::string sha256;
  bool found = false;
};

class ProblemList {
 public:
  explicit ProblemList(std::vector<VerifyProblem>& out) : m_out(out) {}
  void add(std::string entry, std::string problem) {
    if (m_out.size() < k_max_problems) {
      m_out.push_back({std::move(entry), std::move(problem)});
    } else {
      ++m_dropped;
    }
  }
  void close() {
    if (m_dropped > 0) m_out.push_back({"", fmt::format("... {} more problems not listed", m_dropped)});
  }

 private:
  std::vector<VerifyProblem>& m_out;
  std::size_t m_dropped = 0;
};

// Parses the manifest keeping only what verification needs (path, size, sha256 of each artifact),
// so a large manifest costs little memory beyond its text.
Result<std::vector<std::pair<std::string, ListedArtifact>>> parse_manifest(const std::string& text) {
  using json = nlohmann::json;
  // Depth as nlohmann counts it: top-level keys at 1, an artifact's keys at 3.
  const json::parser_callback_t keep = [](int depth, json::parse_event_t event, json& parsed) {
    if (event != json::parse_event_t::key) return true;
    if (depth == 1) return parsed == "format" || parsed == "artifacts";
    if (depth == 3) return parsed == "path" || parsed == "size" || parsed == "sha256";
    return true;
  };
  const json doc = json::parse(text, keep, false);
  if (doc.is_discarded() || !doc.is_object()) return fail(Errc::invalid, "manifest.json is not a JSON object");
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() || *format != k_bundle_format) {
    return fail(Errc::invalid, fmt::format("manifest.json: format is not \"{}\"", k_bundle_format));
  }
  const auto artifacts = doc.find("artifacts");
  if (artifacts == doc.end() || !artifacts->is_array()) {
    return fail(Errc::invalid, "manifest.json: \"artifacts\" is not an array");
  }
  if (artifacts->size() > k_max_entries) {
    return fail(Errc::invalid, fmt::format("manifest.json lists more than {} artifacts", k_max_entries));
  }
  std::vector<std::pair<std::string, ListedArtifact>> out;
  out.reserve(artifacts->size());
  for (std::size_t i = 0; i < artifacts->size(); ++i) {
    const auto& a = (*artifacts)[i];
    const auto path = a.is_object() ? a.find("path") : a.end();
    const auto size = a.is_object() ? a.find("size") : a.end();
    const auto sha = a.is_object() ? a.find("sha256") : a.end();
    if (!a.is_object() || path == a.end() || !path->is_string() || size == a.end() || !size->is_number_unsigned() ||
        sha == a.end() || !sha->is_string()) {
      return fail(Errc::invalid,
                  fmt::format("manifest.json: artifact {} needs \"path\" (string), \"size\" (unsigned integer) and "
                              "\"sha256\" (string)",
                              i));
    }
    out.emplace_back(path->get<std::string>(), ListedArtifact{size->get<std::uint64_t>(), sha->get<std::string>()});
  }
  return out;
}

const char* type_name(mode_t type) {
  switch (type) {
    case AE_IFDIR: return "a directory";
    case AE_IFLNK: return "a symbolic link";
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a FIFO";
    case AE_IFSOCK: return "a socket";
    default: return "of an unknown type";
  }
}

struct ArchiveReader {
  struct archive* a = archive_read_new();
  ~ArchiveReader() {
    if (a != nullptr) archive_read_free(a);
  }
  ArchiveReader() = default;
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<VerifyReport> verify_stream(const std::string& path, ReadSource& src, EntryVisitor* visitor) {
  ArchiveReader reader;
  struct archive* a = reader.a;
  if (a == nullptr) return fail(Errc::failure, "libarchive: out of memory");
  // Only tar inside gzip: anything else is not one of our bundles.
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  const auto lib_error = [&](const std::string& what) {
    if (src.failed) return src.error.context(path);
    const char* msg = archive_error_string(a);
    return Error(Errc::invalid, fmt::format("{}: {}", what, msg != nullptr ? msg : "unreadable"));
  };
  if (archive_read_open2(a, &src, nullptr, on_archive_read, nullptr, nullptr) != ARCHIVE_OK) {
    return unexpected(lib_error("not a tar.gz archive"));
  }

  VerifyReport report;
  ProblemList problems(report.problems);
  std::vector<SeenEntry> seen;
  std::unordered_map<std::string, std::size_t> seen_index;
  std::optional<std::string> manifest_text;
  std::vector<char> buf(k_chunk);
  std::string last_name;
  std::size_t entries = 0;

  for (;;) {
    struct archive_entry* e = nullptr;
    const int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (entries == 0) return unexpected(lib_error("not a tar.gz archive"));
      return unexpected(lib_error("corrupt or truncated archive after entry \"" + shorten(last_name) + "\""));
    }
    if (entries == 0 && (archive_filter_count(a) != 2 || archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP)) {
      return fail(Errc::invalid, "not a tar.gz archive: the tar stream is not gzip-compressed");
    }
    if (++entries > k_max_entries) return fail(Errc::invalid, fmt::format("more than {} entries", k_max_entries));
    const char* raw_name = archive_entry_pathname(e);
    const std::string name = raw_name != nullptr ? raw_name : "";
    last_name = name;

    // A hard link (tar typeflag '1') is reported by libarchive as a regular file with a link
    // target and no data of its own.
    const char* hardlink = archive_entry_hardlink(e);
    if (archive_entry_filetype(e) != AE_IFREG || hardlink != nullptr) {
      problems.add(name, hardlink != nullptr ? "a hard link, not a regular file"
                                             : std::string("not a regular file: ") + type_name(archive_entry_filetype(e)));
      continue;
    }
    if (auto ok = check_entry_name(name); !ok) {
      problems.add(name, "unsafe entry name (absolute, \"..\", empty component or a character outside "
                         "[A-Za-z0-9._/-])");
      continue;
    }
    if (name == k_manifest_name) {
      if (manifest_text) {
        problems.add(name, "duplicate entry");
        continue;
      }
      if (archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > static_cast<la_int64_t>(k_max_manifest)) {
        return fail(Errc::invalid, fmt::format("manifest.json is larger than {} MiB", k_max_manifest >> 20));
      }
      std::string text;
      for (;;) {
        const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
        if (n < 0) return unexpected(lib_error("corrupt or truncated archive in entry \"manifest.json\""));
        if (n == 0) break;
        if (text.size() + static_cast<std::size_t>(n) > k_max_manifest) {
          return fail(Errc::invalid, fmt::format("manifest.json is larger than {} MiB", k_max_manifest >> 20));
        }
        text.append(buf.data(), static_cast<std::size_t>(n));
      }
      if (visitor != nullptr && visitor->wants(name, text.size())) {
        IR_CHECK(visitor->data(name, text));
        IR_CHECK(visitor->end(name));
      }
      manifest_text = std::move(text);
      continue;
    }
    if (seen_index.count(name) != 0) {
      problems.add(name, "duplicate entry");
      continue;
    }
    util::Sha256 hash;
    std::uint64_t size = 0;
    const bool visit = visitor != nullptr &&
                       visitor->wants(name, archive_entry_size_is_set(e) != 0 ? static_cast<std::uint64_t>(archive_entry_size(e)) : 0);
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) return unexpected(lib_error("corrupt or truncated archive in entry \"" + shorten(name) + "\""));
      if (n == 0) break;
      hash.update({buf.data(), static_cast<std::size_t>(n)});
      size += static_cast<std::uint64_t>(n);
      if (visit) IR_CHECK(visitor->data(name, {buf.data(), static_cast<std::size_t>(n)}));
    }
    if (visit) IR_CHECK(visitor->end(name));
    seen_index.emplace(name, seen.size());
    seen.push_back({name, size, hash.hex_digest()});
  }
  if (entries == 0) return fail(Errc::invalid, "not a tar.gz archive: no entries");
  if (!manifest_text) return fail(Errc::invalid, "no manifest.json in the bundle");
  IR_TRY(listed, parse_manifest(*manifest_text));
  manifest_text.reset();

  std::unordered_map<std::string, ListedArtifact> by_path;
  by_path.reserve(listed.size());
  for (auto& [p, art] : listed) {
    if (auto ok = check_entry_name(p); !ok) {
      problems.add(p, "unsafe name in the manifest");
      continue;
    }
    if (!by_path.emplace(p, art).second) problems.add(p, "listed more than once in the manifest");
  }
  for (const auto& s : seen) {
    const auto it = by_path.find(s.name);
    if (it == by_path.end()) {
      problems.add(s.name, "not in the manifest");
      continue;
    }
    it->second.found = true;
    ++report.entries_checked;
    if (s.sha256 != it->second.sha256) {
      std::string msg = fmt::format("sha256 mismatch: manifest {}, actual {}", it->second.sha256, s.sha256);
      if (s.size != it->second.size) msg += fmt::format(" (size: manifest {}, actual {})", it->second.size, s.size);
      problems.add(s.name, std::move(msg));
    } else if (s.size != it->second.size) {
      problems.add(s.name, fmt::format("size mismatch: manifest {}, actual {}", it->second.size, s.size));
    }
  }
  // Missing entries in manifest order (listed keeps it).
  for (const auto& [p, art] : listed) {
    const auto it = by_path.find(p);
    if (it != by_path.end() && !it->second.found) {
      problems.add(p, "listed in the manifest but missing from the bundle");
      it->second.found = true;  // once, even if listed twice
    }
  }
  problems.close();
  return report;
}

}  // namespace

const char* to_string(Method method) {
  switch (method) {
    case Method::api: return "api";
    case Method::exec: return "exec";
    case Method::ephemeral: return "ephemeral";
    case Method::local: return "local";
  }
  return "local";
}

Result<void> check_entry_name(std::string_view name) {
  const auto bad = [&](const std::string& why) {
    return fail(Errc::invalid, "invalid entry name \"" + shorten(name) + "\": " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > k_max_name) return bad(fmt::format("longer than {} bytes", k_max_name));
  if (name.front() == '/') return bad("absolute");
  for (const char c : name) {
    if (!safe_char(c) && c != '/') {
      return bad(fmt::format("byte 0x{:02x} is not allowed (only A-Za-z0-9._-/)", static_cast<unsigned char>(c)));
    }
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string_view part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("empty path component");
    if (part == ".") return bad("\".\" component");
    if (part == "..") return bad("\"..\" component");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

std::string safe_component(std::string_view untrusted) {
  std::string out;
  bool changed = untrusted.empty();
  if (!untrusted.empty() && untrusted.front() == '.') {
    // A leading '.' would make "." / ".." or a hidden file: keep it visible but harmless.
    out += '_';
    changed = true;
  }
  for (const char c : untrusted) {
    if (safe_char(c)) {
      out += c;
    } else {
      out += '_';
      changed = true;
    }
  }
  if (out.empty()) out = "_";
  if (out.size() > k_max_component) changed = true;
  if (!changed) return out;
  const std::string suffix = "-" + util::sha256_hex(untrusted).substr(0, k_component_hash_hex);
  if (out.size() > k_max_component - suffix.size()) out.resize(k_max_component - suffix.size());
  return out + suffix;
}

Result<std::unique_ptr<BundleWriter>> create_bundle(const std::string& path, util::Clock& clock) {
  if (path.empty()) return fail(Errc::io, "bundle path is empty");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return fail(Errc::io, path + " already exists (a bundle is never overwritten)");
  auto writer = std::make_unique<BundleWriterImpl>(path, clock);
  IR_CHECK(writer->open());
  return std::unique_ptr<BundleWriter>(std::move(writer));
}

bool EntryCollector::wants(std::string_view name, std::uint64_t /*size*/) {
  if (std::find(m_names.begin(), m_names.end(), name) == m_names.end()) return false;
  m_kept.emplace_back(std::string(name), Kept{});
  return true;
}

Result<void> EntryCollector::data(std::string_view name, std::string_view chunk) {
  if (m_kept.empty() || m_kept.back().first != name) return fail(Errc::failure, "entry collector: data for an entry not announced");
  Kept& k = m_kept.back().second;
  const std::size_t room = m_max - std::min(m_max, k.data.size());
  if (chunk.size() > room) k.cut = true;
  k.data.append(chunk.substr(0, room));
  return {};
}

const EntryCollector::Kept* EntryCollector::find(std::string_view name) const {
  for (const auto& [n, k] : m_kept) {
    if (n == name) return &k;
  }
  return nullptr;
}

Result<VerifyReport> verify_bundle(const std::string& path, EntryVisitor* visitor) {
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) return unexpected(errno_error(path));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return unexpected(errno_error(path));
  if (!S_ISREG(st.st_mode)) return fail(Errc::io, path + ": not a regular file");
  ReadSource src;
  src.fd = file.fd;
  IR_TRY(report, verify_stream(path, src, visitor));
  // libarchive stops at the end-of-archive marker; hash whatever follows (record padding, or
  // anything appended) so bundle_sha256 covers the whole file.
  for (;;) {
    const ssize_t n = ::read(file.fd, src.buf.data(), src.buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unexpected(errno_error(path));
    if (n == 0) break;
    src.hash.update({src.buf.data(), static_cast<std::size_t>(n)});
  }
  report.bundle_sha256 = src.hash.hex_digest();
  return report;
}

}  // namespace ir::evidence
