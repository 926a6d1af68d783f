#include "forensics/fslist.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "forensics/procfs.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace ir::forensics::fslist {

namespace {

// Input is parsed in slices of at most this size, so one huge write() cannot grow the carry-over
// buffer beyond max_record_bytes plus one slice.
constexpr std::size_t k_slice = 64 * 1024;
// JSON lines are passed to the output sink in batches of about this size (one write per line
// would be one system call per file for a file-backed sink).
constexpr std::size_t k_flush_bytes = 64 * 1024;
// A GNU header ("l 7777 4294967295 4294967295 18446744073709551615 -9223372036854775808.0123456789")
// is under 100 bytes; a longer field is not a header.
constexpr std::size_t k_max_header = 128;
constexpr std::size_t k_max_anomalies = 64;
constexpr std::size_t k_max_root = 4096;
// The GNU find -printf format: see listing_command in the header. find expands "\0" to NUL.
constexpr std::string_view k_gnu_format = "%y %m %U %G %s %T@\\0%p\\0%l\\0";

// POSIX st_mode type bits (<sys/stat.h> S_IFMT and friends; the values are fixed by every Unix).
constexpr std::uint32_t k_ifmt = 0170000;
constexpr std::uint32_t k_perm_mask = 07777;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

template <class T>
std::optional<T> parse_number(std::string_view s, int base) {
  if (s.empty()) return std::nullopt;
  if constexpr (std::is_unsigned_v<T>) {
    if (s.front() == '-') return std::nullopt;
  }
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Splits `s` at single spaces into exactly `n` non-empty fields; false otherwise.
bool split_fields(std::string_view s, std::size_t n, std::string_view* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 1 < n) {
      const auto sp = s.find(' ');
      if (sp == std::string_view::npos) return false;
      out[i] = s.substr(0, sp);
      s.remove_prefix(sp + 1);
    } else {
      if (s.find(' ') != std::string_view::npos) return false;
      out[i] = s;
    }
    if (out[i].empty()) return false;
  }
  return true;
}

// GNU find %T@: "<seconds>.<fraction>" with an optional '-'; floored to whole seconds.
std::optional<std::int64_t> parse_gnu_time(std::string_view s) {
  const auto dot = s.find('.');
  const auto frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (dot != std::string_view::npos && (frac.empty() || !std::all_of(frac.begin(), frac.end(), is_digit))) {
    return std::nullopt;
  }
  const auto whole = s.substr(0, dot);
  auto seconds = parse_number<std::int64_t>(whole, 10);
  if (!seconds) return std::nullopt;
  const bool fractional = std::any_of(frac.begin(), frac.end(), [](char c) { return c != '0'; });
  if (whole.front() == '-' && fractional) {
    if (*seconds == INT64_MIN) return std::nullopt;
    --*seconds;
  }
  return seconds;
}

char gnu_type(std::string_view letter) {
  if (letter.size() != 1) return '\0';
  switch (letter[0]) {
    case 'f': case 'd': case 'l': case 'b': case 'c': case 'p': case 's': return letter[0];
    default: return (letter[0] >= 'A' && letter[0] <= 'Z') || (letter[0] >= 'a' && letter[0] <= 'z') ? '?' : '\0';
  }
}

char mode_type(std::uint32_t mode) {
  switch (mode & k_ifmt) {
    case 0100000: return 'f';
    case 0040000: return 'd';
    case 0120000: return 'l';
    case 0060000: return 'b';
    case 0020000: return 'c';
    case 0010000: return 'p';
    case 0140000: return 's';
    default: return '?';
  }
}

const char* type_name(char type) {
  switch (type) {
    case 'f': return "file";
    case 'd': return "dir";
    case 'l': return "symlink";
    case 'b': return "block";
    case 'c': return "char";
    case 'p': return "fifo";
    case 's': return "socket";
    default: return "unknown";
  }
}

// Appends `s` as a JSON string. `s` comes from escape_for_terminal (valid UTF-8, no control
// bytes) or from this file, so only '"' and '\\' need escaping; control bytes are escaped anyway.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20U) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  out += '"';
}

// One entry as a framer found it; the views point into the framer's buffer.
struct RawEntry {
  std::string_view path;
  std::string_view target;
  char type = '?';
  std::uint64_t size = 0;
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime = 0;
  std::uint32_t flags = 0;
};

constexpr std::uint32_t bit(Flag f) { return static_cast<std::uint32_t>(f); }
constexpr Flag k_all_flags[] = {Flag::path_cut,     Flag::target_cut,     Flag::outside_prefix,
                                Flag::inconsistent, Flag::target_unknown, Flag::boundary_in_name};

// Everything the parser reports: JSON lines (batched to the sink), the entry callback, counters,
// anomalies, and the first sink error (after which everything is ignored).
class Output {
 public:
  Output(util::Sink& out, ListingParser::OnEntry on_entry, const ListingOptions& options, std::string boundary)
      : m_out(out), m_on_entry(std::move(on_entry)), m_limits(options.limits), m_boundary(std::move(boundary)) {
    std::string_view prefix = options.strip_prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    m_prefix = prefix;
  }

  [[nodiscard]] const ListingLimits& limits() const { return m_limits; }

  void add_entry(const RawEntry& raw) {
    std::uint32_t flags = raw.flags;
    if (!m_boundary.empty() &&
        (raw.path.find(m_boundary) != std::string_view::npos || raw.target.find(m_boundary) != std::string_view::npos)) {
      flags |= bit(Flag::boundary_in_name);
    }
    if ((flags & (bit(Flag::boundary_in_name) | bit(Flag::inconsistent))) != 0) tampering(raw.path);
    if (entries >= m_limits.max_entries) {
      if (dropped++ == 0) {
        add_anomaly(fmt::format("more than {} entries: the rest were parsed and counted but not kept",
                                m_limits.max_entries));
      }
      return;
    }
    std::string_view path = raw.path;
    if (!m_prefix.empty()) {
      if (path == m_prefix) {
        path = "/";
      } else if (path.size() > m_prefix.size() && path.substr(0, m_prefix.size()) == m_prefix &&
                 path[m_prefix.size()] == '/') {
        path.remove_prefix(m_prefix.size());
      } else {
        flags |= bit(Flag::outside_prefix);
      }
    }
    const std::size_t max_path = m_limits.max_path_bytes;
    if (path.size() > max_path) flags |= bit(Flag::path_cut);
    if (raw.target.size() > max_path) flags |= bit(Flag::target_cut);
    ++entries;

    auto& o = m_lines;
    o += R"({"kind":"entry","path":)";
    append_json_string(o, util::escape_for_terminal(path, max_path));
    o += R"(,"type":")";
    o += type_name(raw.type);
    const auto mtime = util::format_rfc3339_seconds(raw.mtime);
    o += fmt::format(R"(","size":{},"mode":"{:04o}","uid":{},"gid":{},"mtime":)", raw.size, raw.mode, raw.uid,
                     raw.gid);
    if (mtime) {
      append_json_string(o, *mtime);
    } else {
      o += fmt::format(R"(null,"mtime_epoch":{})", raw.mtime);
    }
    if (raw.type == 'l' && (flags & bit(Flag::target_unknown)) == 0) {
      o += R"(,"target":)";
      append_json_string(o, util::escape_for_terminal(raw.target, max_path));
    }
    if (flags != 0) {
      o += R"(,"flags":[)";
      const char* sep = "";
      for (const auto f : k_all_flags) {
        if ((flags & bit(f)) == 0) continue;
        o += fmt::format(R"({}"{}")", sep, to_string(f));
        sep = ",";
      }
      o += ']';
    }
    o += "}\n";
    maybe_flush();

    if (m_on_entry) {
      Entry e;
      e.path = path.substr(0, max_path);
      e.type = raw.type;
      e.size = raw.size;
      e.mode = raw.mode;
      e.uid = raw.uid;
      e.gid = raw.gid;
      e.mtime = raw.mtime;
      if (raw.type == 'l') e.target = raw.target.substr(0, max_path);
      e.flags = flags;
      m_on_entry(e);
    }
  }

  void add_unparsed(std::string_view reason, std::uint64_t offset, std::uint64_t bytes, std::string_view raw) {
    if (unparsed++ >= m_limits.max_unparsed_kept) {
      if (unparsed == m_limits.max_unparsed_kept + 1) {
        add_anomaly(fmt::format("more than {} unparsed records: the rest were counted but not kept",
                            m_limits.max_unparsed_kept));
      }
      return;
    }
    auto& o = m_lines;
    o += R"({"kind":"unparsed","reason":)";
    append_json_string(o, reason);
    o += fmt::format(R"(,"offset":{},"bytes":{},"raw":)", offset, bytes);
    // `raw` may be the first bytes of a longer run: say how many more there were.
    const auto shown = raw.substr(0, m_limits.max_raw_bytes);
    std::string text = util::escape_for_terminal(shown);
    if (bytes > shown.size()) text += fmt::format("...({} more bytes)", bytes - shown.size());
    append_json_string(o, text);
    o += "}\n";
    maybe_flush();
  }

  void add_anomaly(std::string text) {
    if (anomalies.size() < k_max_anomalies) {
      anomalies.push_back(std::move(text));
    } else if (anomalies.size() == k_max_anomalies) {
      anomalies.emplace_back("(further anomalies not listed)");
    }
  }

  // The first forged-looking entry puts "tampering suspected" at the head of the anomalies.
  void tampering(std::string_view path) {
    if (m_tampering) return;
    m_tampering = true;
    anomalies.insert(anomalies.begin(),
                     fmt::format("tampering suspected: entry \"{}\" carries the run's boundary or is "
                                 "inconsistent (see its flags); any entry of this listing may be forged "
                                 "or hidden",
                                 util::escape_for_terminal(path, 256)));
    if (anomalies.size() > k_max_anomalies + 1) anomalies.erase(anomalies.end() - 2);
  }

  // Sends the batched lines to the sink; remembers the first error.
  void flush() {
    if (m_lines.empty() || m_error) return;
    auto r = m_out.write(m_lines);
    m_lines.clear();
    if (!r) m_error = r.error();
  }

  [[nodiscard]] bool failed() const { return m_error.has_value(); }
  [[nodiscard]] Result<void> status() const {
    if (m_error) return unexpected(*m_error);
    return {};
  }
  Result<void> finish_sink() {
    flush();
    if (m_error) return unexpected(*m_error);
    auto r = m_out.finish();
    if (!r) m_error = r.error();
    return r;
  }

  std::size_t entries = 0;   // written
  std::size_t unparsed = 0;  // written or not
  std::size_t dropped = 0;   // entries past max_entries
  std::vector<std::string> anomalies;

 private:
  void maybe_flush() {
    if (m_lines.size() >= k_flush_bytes) flush();
  }

  util::Sink& m_out;
  ListingParser::OnEntry m_on_entry;
  ListingLimits m_limits;
  std::string m_boundary;  // checked in every path and target ("" for GNU find: NUL framing)
  std::string m_prefix;
  std::string m_lines;
  std::optional<Error> m_error;
  bool m_tampering = false;
};

// A run of consecutive bytes that belong to no record (or to a skipped one), reported as one
// unparsed record when it ends: its offset, total size and first max_raw_bytes bytes.
class UnparsedRun {
 public:
  explicit UnparsedRun(Output& out) : m_out(out) {}
  void add(std::string_view reason, std::uint64_t offset, std::string_view bytes) {
    if (bytes.empty()) return;
    if (m_bytes == 0) {
      m_reason = reason;
      m_offset = offset;
    }
    m_bytes += bytes.size();
    const auto room = m_out.limits().max_raw_bytes - std::min(m_raw.size(), m_out.limits().max_raw_bytes);
    m_raw.append(bytes.substr(0, room));
  }
  void flush() {
    if (m_bytes == 0) return;
    m_out.add_unparsed(m_reason, m_offset, m_bytes, m_raw);
    m_bytes = 0;
    m_raw.clear();
  }
  [[nodiscard]] bool active() const { return m_bytes != 0; }

 private:
  Output& m_out;
  std::string_view m_reason;  // always a string literal
  std::uint64_t m_offset = 0;
  std::uint64_t m_bytes = 0;
  std::string m_raw;
};

constexpr std::string_view k_outside = "bytes outside any record";
constexpr std::string_view k_overlong = "overlong record";
constexpr std::string_view k_truncated = "truncated";
constexpr std::string_view k_bad_header = "bad header";

class Framer {
 public:
  virtual ~Framer() = default;
  // Parses the next slice (at most k_slice bytes).
  virtual void feed(std::string_view slice) = 0;
  // End of input.
  virtual void end() = 0;
  // Whether the input ended inside a record.
  [[nodiscard]] bool truncated() const { return m_truncated; }

 protected:
  bool m_truncated = false;
};

// GNU find -printf "%y %m %U %G %s %T@\0%p\0%l\0": three NUL-terminated fields per file. A path
// cannot contain NUL, so the framing is exact; only a replaced find can break it. Resynchronises
// after garbage on the next NUL-terminated field that parses as a header.
class GnuFramer final : public Framer {
 public:
  explicit GnuFramer(Output& out) : m_out(out), m_run(out) {}

  void feed(std::string_view slice) override {
    while (!slice.empty()) {
      const void* nul = std::memchr(slice.data(), '\0', slice.size());
      const std::size_t n = nul == nullptr ? slice.size() : static_cast<std::size_t>(static_cast<const char*>(nul) - slice.data());
      take(slice.substr(0, n));
      m_offset += n;
      slice.remove_prefix(n);
      if (nul != nullptr) {
        end_field();
        ++m_offset;
        slice.remove_prefix(1);
      }
    }
  }

  void end() override {
    if (m_state == State::header && !m_field.empty()) {
      // A last field without its NUL: a cut header, or garbage.
      m_run.flush();
      m_out.add_unparsed(k_truncated, m_record_offset, m_field.size(), m_field);
      m_truncated = true;
    } else if (m_state == State::garbage) {
      m_run.flush();
    } else if (m_state != State::header) {
      m_run.flush();
      m_out.add_unparsed(k_truncated, m_record_offset, m_offset - m_record_offset, m_raw);
      m_truncated = true;
    }
    m_run.flush();
  }

 private:
  enum class State { header, garbage, path, target };

  // Bytes of the current field (no NUL in them).
  void take(std::string_view bytes) {
    if (bytes.empty()) return;
    switch (m_state) {
      case State::header:
        if (m_field.empty()) m_record_offset = m_offset;
        if (m_field.size() + bytes.size() <= k_max_header) {
          m_field.append(bytes);
          return;
        }
        // Too long for a header: garbage up to the next NUL.
        m_run.add(k_outside, m_record_offset, m_field);
        m_run.add(k_outside, m_offset, bytes);
        m_field.clear();
        m_state = State::garbage;
        return;
      case State::garbage:
        m_run.add(k_outside, m_offset, bytes);
        return;
      case State::path:
      case State::target:
        if (!m_overlong && m_raw.size() + bytes.size() > m_out.limits().max_record_bytes) {
          m_overlong = true;
          m_raw.resize(std::min(m_raw.size(), m_out.limits().max_raw_bytes));
        }
        if (m_overlong) {
          const auto room = m_out.limits().max_raw_bytes - std::min(m_raw.size(), m_out.limits().max_raw_bytes);
          m_raw.append(bytes.substr(0, room));
        } else {
          m_raw.append(bytes);
        }
        return;
    }
  }

  // A NUL: the current field is complete.
  void end_field() {
    switch (m_state) {
      case State::header:
        if (m_field.empty()) m_record_offset = m_offset;
        if (parse_header(m_field)) {
          m_run.flush();
          m_raw = m_field;
          m_raw += '\0';
          m_path_start = m_raw.size();
          m_state = State::path;
          m_overlong = false;
        } else {
          m_run.add(k_outside, m_record_offset, m_field);
          m_run.add(k_outside, m_offset, std::string_view("\0", 1));
        }
        m_field.clear();
        return;
      case State::garbage:
        m_run.add(k_outside, m_offset, std::string_view("\0", 1));
        m_state = State::header;
        return;
      case State::path:
        m_path_end = m_raw.size();
        if (!m_overlong) m_raw += '\0';
        m_state = State::target;
        return;
      case State::target:
        if (m_overlong) {
          m_out.add_unparsed(k_overlong, m_record_offset, m_offset + 1 - m_record_offset, m_raw);
        } else {
          emit();
        }
        m_raw.clear();
        m_state = State::header;
        return;
    }
  }

  // "%y %m %U %G %s %T@" into m_entry.
  bool parse_header(std::string_view h) {
    std::string_view f[6];
    if (!split_fields(h, 6, f)) return false;
    const char type = gnu_type(f[0]);
    if (f[1].size() > 5) return false;  // more octal digits than a mode has
    const auto perms = parse_number<std::uint32_t>(f[1], 8);
    const auto uid = parse_number<std::uint32_t>(f[2], 10);
    const auto gid = parse_number<std::uint32_t>(f[3], 10);
    const auto size = parse_number<std::uint64_t>(f[4], 10);
    const auto mtime = parse_gnu_time(f[5]);
    if (type == '\0' || !perms || *perms > k_perm_mask || !uid || !gid || !size || !mtime) return false;
    m_entry = RawEntry{};
    m_entry.type = type;
    m_entry.mode = *perms;
    m_entry.uid = *uid;
    m_entry.gid = *gid;
    m_entry.size = *size;
    m_entry.mtime = *mtime;
    return true;
  }

  void emit() {
    const std::string_view raw = m_raw;
    m_entry.path = raw.substr(m_path_start, m_path_end - m_path_start);
    m_entry.target = raw.substr(m_path_end + 1);
    if (m_entry.type == 'l' && m_entry.target.empty()) m_entry.flags |= bit(Flag::target_unknown);
    if (m_entry.type != 'l' && !m_entry.target.empty()) m_entry.flags |= bit(Flag::inconsistent);
    if (m_entry.path.empty()) {
      m_out.add_unparsed("empty path", m_record_offset, raw.size(), raw);
      return;
    }
    m_out.add_entry(m_entry);
  }

  Output& m_out;
  UnparsedRun m_run;
  State m_state = State::header;
  std::uint64_t m_offset = 0;         // stream offset of the next byte
  std::uint64_t m_record_offset = 0;  // of the current header (or record)
  std::string m_field;                // the header field so far (at most k_max_header)
  std::string m_raw;                  // the record so far: header NUL path NUL target
  std::size_t m_path_start = 0;
  std::size_t m_path_end = 0;
  bool m_overlong = false;            // the record passed max_record_bytes: only counted
  RawEntry m_entry;
};

// busybox: per file "\n<B> e %f %u %g %s %Y\n%n\n<B> l\n%N\n". Records start at "\n<B> e "; the
// name runs to the first "\n<B> l\n"; %N runs to the record's final '\n'. Only someone who knows
// the boundary can forge a marker, and forging leaves a trace:
//   - %N must repeat the name (busybox prints a non-link's name bare, coreutils stat quotes it, a
//     link is 'name' -> 'target'). A name is printed twice, so markers in it split both copies:
//     the record straddling the two copies then has a %N holding the second copy's link marker,
//     hence the boundary (flagged), or the first record has no link marker (unparsed);
//   - a link's size (lstat: the target's length) must be the parsed target's length, so a target
//     carrying markers (printed once, so otherwise undetectable) makes its record inconsistent;
//   - the boundary itself must not appear in any name, target or %N.
class BusyboxFramer final : public Framer {
 public:
  BusyboxFramer(Output& out, const std::string& boundary)
      : m_out(out),
        m_run(out),
        m_valid(procfs::is_valid_boundary(boundary)),
        m_boundary(boundary),
        m_start("\n" + boundary + " e "),
        m_link("\n" + boundary + " l\n") {
    if (!m_valid) m_out.add_anomaly("invalid boundary: the listing cannot be parsed");
  }

  void feed(std::string_view slice) override {
    if (!m_valid) {
      m_run.add("invalid boundary", m_base, slice);
      m_base += slice.size();
      return;
    }
    m_buf.append(slice);
    for (;;) {
      const auto at = m_buf.find(m_start, m_scan);
      if (at == std::string::npos) break;
      if (m_in_record) {
        record(at);
      } else {
        m_run.add(k_outside, m_base + m_pos, std::string_view(m_buf).substr(m_pos, at - m_pos));
        m_run.flush();
      }
      m_in_record = true;
      m_pos = at;
      m_scan = at + m_start.size();
    }
    // A record start may be split across slices: the last `hold` bytes may be its beginning.
    const std::size_t hold = m_start.size() - 1;
    // The record has no end yet; what it holds beyond `hold` is surely its own (the same test as
    // record() applies to a complete one, so the result does not depend on how input is split).
    if (m_in_record && m_buf.size() > m_pos + m_start.size() + hold + m_out.limits().max_record_bytes) {
      m_in_record = false;
      m_run.add(k_overlong, m_base + m_pos, std::string_view(m_buf).substr(m_pos, m_buf.size() - m_pos - hold));
      m_pos = m_buf.size() - hold;
    }
    if (!m_in_record && m_buf.size() > m_pos + hold) {
      const auto upto = m_buf.size() - hold;
      m_run.add(k_outside, m_base + m_pos, std::string_view(m_buf).substr(m_pos, upto - m_pos));
      m_pos = upto;
    }
    m_scan = std::max(m_scan, m_buf.size() > hold ? m_buf.size() - hold : 0);
    // Forget what is consumed (amortised: once per slice).
    m_buf.erase(0, m_pos);
    m_base += m_pos;
    m_scan -= m_pos;
    m_pos = 0;
  }

  void end() override {
    const std::string_view rest = std::string_view(m_buf).substr(m_pos);
    if (m_in_record) {
      last_record();
    } else if (!m_run.active() && !rest.empty() && m_start.compare(0, rest.size(), rest) == 0) {
      // Cut inside the first record's start marker.
      m_truncated = true;
      m_out.add_unparsed(k_truncated, m_base + m_pos, rest.size(), rest);
    } else {
      m_run.add(k_outside, m_base + m_pos, rest);
    }
    m_run.flush();
    m_buf.clear();
  }

 private:
  // A record: its entry, or why it has none.
  struct Parsed {
    std::optional<RawEntry> entry;
    std::string_view reason;
  };

  // The complete record starting at m_pos (its "\n<B> e ") and ending at `end`.
  void record(std::size_t end) {
    m_run.flush();
    const std::string_view whole = std::string_view(m_buf).substr(m_pos, end - m_pos);
    const auto r = parse_record(whole);
    if (r.entry) {
      m_out.add_entry(*r.entry);
    } else {
      m_out.add_unparsed(r.reason, m_base + m_pos, whole.size(), whole);
    }
  }

  // The record at the end of the input, which may have been cut anywhere: even after a '\n'
  // (the record then looks complete but %N no longer repeats the name: "inconsistent"), or just
  // after its end, in the first bytes of the next record's start marker. So: the whole of it if
  // that is a consistent record; else the longest prefix that is, the rest being the cut start
  // of the next record; else all of it is "truncated".
  void last_record() {
    m_run.flush();
    const std::string_view whole = std::string_view(m_buf).substr(m_pos);
    const std::uint64_t offset = m_base + m_pos;
    const auto consistent = [](const Parsed& r) { return r.entry && (r.entry->flags & bit(Flag::inconsistent)) == 0; };
    auto r = parse_record(whole);
    if (consistent(r)) {
      m_out.add_entry(*r.entry);
      return;
    }
    m_truncated = true;
    for (std::size_t k = std::min(m_start.size() - 1, whole.size() - m_start.size()); k > 0; --k) {
      const auto head = whole.substr(0, whole.size() - k);
      if (whole.substr(head.size()) != std::string_view(m_start).substr(0, k)) continue;
      r = parse_record(head);
      if (!consistent(r)) continue;
      m_out.add_entry(*r.entry);
      m_out.add_unparsed(k_truncated, offset + head.size(), k, whole.substr(head.size()));
      return;
    }
    m_out.add_unparsed(k_truncated, offset, whole.size(), whole);
  }

  Parsed parse_record(std::string_view whole) const {
    std::string_view body = whole.substr(m_start.size());
    if (body.size() > m_out.limits().max_record_bytes) return {std::nullopt, k_overlong};
    if (body.empty() || body.back() != '\n') return {std::nullopt, "malformed record"};
    body.remove_suffix(1);  // stat's own '\n' after the format
    const auto eol = body.find('\n');
    RawEntry e;
    if (eol == std::string_view::npos || !parse_header(body.substr(0, eol), e)) return {std::nullopt, k_bad_header};
    const std::string_view rest = body.substr(eol + 1);
    const auto mark = rest.find(m_link);
    if (mark == std::string_view::npos) return {std::nullopt, "no link marker"};
    const std::string_view name = rest.substr(0, mark);
    const std::string_view quoted = rest.substr(mark + m_link.size());  // %N
    if (name.empty()) return {std::nullopt, "empty path"};
    e.path = name;
    if (e.type == 'l') {
      e.target = link_target(name, quoted);
      if (quoted.empty()) {
        e.flags |= bit(Flag::target_unknown);  // stat could not read the link (it said so on stderr)
      } else if (e.target.data() == nullptr) {
        e.flags |= bit(Flag::target_unknown) | bit(Flag::inconsistent);
      } else if (e.size != e.target.size()) {
        e.flags |= bit(Flag::inconsistent);
      }
    } else if (!repeats_name(name, quoted)) {
      e.flags |= bit(Flag::inconsistent);
    }
    // Output::add_entry checks the name and the target; %N as a whole is checked here.
    if (quoted.find(m_boundary) != std::string_view::npos) e.flags |= bit(Flag::boundary_in_name);
    return {e, {}};
  }

  // "%f %u %g %s %Y": raw mode in hex, uid, gid, size, mtime seconds.
  static bool parse_header(std::string_view h, RawEntry& e) {
    std::string_view f[5];
    if (!split_fields(h, 5, f)) return false;
    const auto mode = f[0].size() <= 8 ? parse_number<std::uint32_t>(f[0], 16) : std::nullopt;
    const auto uid = parse_number<std::uint32_t>(f[1], 10);
    const auto gid = parse_number<std::uint32_t>(f[2], 10);
    const auto size = parse_number<std::uint64_t>(f[3], 10);
    const auto mtime = parse_number<std::int64_t>(f[4], 10);
    if (!mode || *mode > 0177777 || !uid || !gid || !size || !mtime) return false;
    e.type = mode_type(*mode);
    e.mode = *mode & k_perm_mask;
    e.uid = *uid;
    e.gid = *gid;
    e.size = *size;
    e.mtime = *mtime;
    return true;
  }

  // busybox prints a link's %N as 'name' -> 'target' without escaping quotes; the name is known
  // exactly from %n, so the target is what lies between "'name' -> '" and the final "'". A view
  // with a null data() when %N has another shape.
  static std::string_view link_target(std::string_view name, std::string_view quoted) {
    constexpr std::string_view arrow = "' -> '";
    if (quoted.size() < name.size() + arrow.size() + 2 || quoted.front() != '\'' || quoted.back() != '\'' ||
        quoted.substr(1, name.size()) != name || quoted.substr(1 + name.size(), arrow.size()) != arrow) {
      return {};
    }
    const auto start = 1 + name.size() + arrow.size();
    return quoted.substr(start, quoted.size() - 1 - start);
  }

  // %N of a non-link: the name (busybox), or the name in quotes (coreutils stat, names that need
  // no escaping).
  static bool repeats_name(std::string_view name, std::string_view quoted) {
    if (quoted == name) return true;
    return quoted.size() == name.size() + 2 && (quoted.front() == '\'' || quoted.front() == '"') &&
           quoted.back() == quoted.front() && quoted.substr(1, name.size()) == name;
  }

  Output& m_out;
  UnparsedRun m_run;
  bool m_valid;
  std::string m_boundary;
  std::string m_start;  // "\n<B> e "
  std::string m_link;   // "\n<B> l\n"
  std::string m_buf;    // unconsumed input; m_buf[0] is stream offset m_base
  std::uint64_t m_base = 0;
  std::size_t m_pos = 0;   // first byte not yet consumed (a record's start when m_in_record)
  std::size_t m_scan = 0;  // where the next search for a record start begins
  bool m_in_record = false;
};

}  // namespace

const char* to_string(Flag flag) {
  switch (flag) {
    case Flag::path_cut: return "path_cut";
    case Flag::target_cut: return "target_cut";
    case Flag::outside_prefix: return "outside_prefix";
    case Flag::inconsistent: return "inconsistent";
    case Flag::target_unknown: return "target_unknown";
    case Flag::boundary_in_name: return "boundary_in_name";
  }
  return "?";
}

Result<std::vector<std::string>> listing_command(Dialect dialect, const std::string& root,
                                                 const std::string& boundary) {
  if (root.empty() || root.front() != '/') return fail(Errc::invalid, "listing root must be an absolute path");
  if (root.find('\0') != std::string::npos || root.size() > k_max_root) {
    return fail(Errc::invalid, "listing root must be at most 4096 bytes without NUL");
  }
  // A trailing '/' makes find enter a symlinked root (/proc/1/root) instead of listing the link.
  const std::string start = root.back() == '/' ? root : root + "/";
  if (dialect == Dialect::gnu_find) {
    return std::vector<std::string>{"find", start, "-xdev", "-printf", std::string(k_gnu_format)};
  }
  if (!procfs::is_valid_boundary(boundary)) {
    return fail(Errc::invalid, "listing boundary must be 16-64 characters of [A-Za-z0-9]");
  }
  return std::vector<std::string>{
      "find", start, "-xdev", "-exec", "stat", "-c", "\n" + boundary + " e %f %u %g %s %Y\n%n\n" + boundary + " l\n%N",
      "{}",   "+"};
}

struct ListingParser::Impl {
  Impl(Dialect dialect, std::string boundary, util::Sink& out, OnEntry on_entry, const ListingOptions& options)
      : output(out, std::move(on_entry), options, dialect == Dialect::busybox_stat ? boundary : std::string()) {
    if (dialect == Dialect::gnu_find) {
      framer = std::make_unique<GnuFramer>(output);
    } else {
      framer = std::make_unique<BusyboxFramer>(output, boundary);
    }
  }
  Output output;
  std::unique_ptr<Framer> framer;
  std::uint64_t bytes = 0;
  bool finished = false;
};

ListingParser::ListingParser(Dialect dialect, std::string boundary, util::Sink& jsonl_out, OnEntry on_entry,
                             ListingOptions options)
    : m_impl(std::make_unique<Impl>(dialect, std::move(boundary), jsonl_out, std::move(on_entry), options)) {}

ListingParser::~ListingParser() = default;

Result<void> ListingParser::write(std::string_view chunk) {
  auto& impl = *m_impl;
  if (impl.finished) return fail(Errc::failure, "listing parser: write after finish");
  while (!chunk.empty() && !impl.output.failed()) {
    const auto slice = chunk.substr(0, k_slice);
    impl.framer->feed(slice);
    impl.bytes += slice.size();
    chunk.remove_prefix(slice.size());
  }
  impl.output.flush();
  return impl.output.status();
}

Result<void> ListingParser::finish() {
  auto& impl = *m_impl;
  if (impl.finished) return impl.output.status();
  impl.finished = true;
  if (impl.output.failed()) return impl.output.status();
  impl.framer->end();
  if (impl.framer->truncated()) impl.output.add_anomaly("the listing ends inside a record: output was cut");
  if (impl.bytes == 0) {
    impl.output.add_anomaly("empty listing: find printed nothing, not even the root");
  } else if (impl.output.entries == 0 && impl.output.dropped == 0) {
    impl.output.add_anomaly("no entry could be parsed: the command's output is not a listing");
  }
  return impl.output.finish_sink();
}

std::size_t ListingParser::entries() const { return m_impl->output.entries; }
std::size_t ListingParser::unparsed() const { return m_impl->output.unparsed; }
std::size_t ListingParser::dropped() const { return m_impl->output.dropped; }
const std::vector<std::string>& ListingParser::anomalies() const { return m_impl->output.anomalies; }

}  // namespace ir::forensics::fslist
