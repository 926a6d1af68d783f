#pragma once
// Byte sinks: where streamed output goes (a file, a hash, a bundle entry, bounded memory), so large
// outputs never have to be held in memory whole.

#include <cstddef>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "util/crypto.hpp"
#include "util/result.hpp"

namespace ir::util {

class Sink {
 public:
  virtual ~Sink() = default;
  // Takes the next bytes. An error stops the producer, which reports it.
  virtual Result<void> write(std::string_view data) = 0;
  // Called once after the last write (flush, close). Default: nothing.
  virtual Result<void> finish() { return {}; }
};

// Discards everything (counting bytes).
class NullSink final : public Sink {
 public:
  Result<void> write(std::string_view data) override {
    bytes += data.size();
    return {};
  }
  std::size_t bytes = 0;
};

// Keeps at most `limit` bytes in memory; the rest is counted and dropped (`overflowed`).
class MemorySink final : public Sink {
 public:
  explicit MemorySink(std::size_t limit = 1024 * 1024) : m_limit(limit) {}
  Result<void> write(std::string_view data) override;
  [[nodiscard]] const std::string& data() const { return m_data; }
  // Moves the kept bytes out (the sink is empty afterwards; overflowed() is unchanged).
  std::string take() { return std::move(m_data); }
  [[nodiscard]] bool overflowed() const { return m_overflowed; }

 private:
  std::size_t m_limit;
  std::string m_data;
  bool m_overflowed = false;
};

// Writes to a file descriptor it does not own (stdout) or a file it creates and owns.
class FileSink final : public Sink {
 public:
  // Creates (truncates) `path` with mode 0600; fails with Errc::io.
  static Result<std::unique_ptr<FileSink>> create(const std::string& path);
  // Wraps an open descriptor (not closed by the sink).
  explicit FileSink(int fd, bool owned = false) : m_fd(fd), m_owned(owned) {}
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  Result<void> write(std::string_view data) override;
  Result<void> finish() override;

 private:
  int m_fd;
  bool m_owned;
};

// Writes to a std::ostream it does not own (the CLI's injected stdout/stderr).
class OstreamSink final : public Sink {
 public:
  explicit OstreamSink(std::ostream& os) : m_os(os) {}
  Result<void> write(std::string_view data) override {
    m_os.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!m_os) return fail(Errc::io, "write to output failed");
    return {};
  }
  Result<void> finish() override {
    m_os.flush();
    return {};
  }

 private:
  std::ostream& m_os;
};

// Passes bytes to `inner` while hashing them (SHA-256) and counting.
class HashingSink final : public Sink {
 public:
  explicit HashingSink(Sink& inner) : m_inner(inner) {}
  Result<void> write(std::string_view data) override {
    m_hash.update(data);
    m_bytes += data.size();
    return m_inner.write(data);
  }
  Result<void> finish() override { return m_inner.finish(); }
  // The digest of everything written; call once, after the last write.
  std::string hex_digest() { return m_hash.hex_digest(); }
  [[nodiscard]] std::size_t bytes() const { return m_bytes; }

 private:
  Sink& m_inner;
  Sha256 m_hash;
  std::size_t m_bytes = 0;
};

// Passes every write to each of `sinks` in order (e.g. a bundle entry and a parser). Stops at the
// first error. finish() finishes each.
class TeeSink final : public Sink {
 public:
  explicit TeeSink(std::vector<Sink*> sinks) : m_sinks(std::move(sinks)) {}
  Result<void> write(std::string_view data) override {
    for (Sink* s : m_sinks) IR_CHECK(s->write(data));
    return {};
  }
  Result<void> finish() override {
    for (Sink* s : m_sinks) IR_CHECK(s->finish());
    return {};
  }

 private:
  std::vector<Sink*> m_sinks;
};

// Escapes untrusted bytes for a terminal on their way to `inner` (util::escape_for_terminal with
// line breaks and tabs kept), holding back a UTF-8 sequence split across writes.
class TerminalSink final : public Sink {
 public:
  explicit TerminalSink(Sink& inner) : m_inner(inner) {}
  Result<void> write(std::string_view data) override;
  Result<void> finish() override;

 private:
  Sink& m_inner;
  std::string m_carry;
};

}  // namespace ir::util
