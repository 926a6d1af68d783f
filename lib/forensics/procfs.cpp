#include "forensics/procfs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <charconv>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::forensics::procfs {

using nlohmann::json;

namespace {

// A /proc/net/{tcp,udp,raw}[6] line is at most ~180 bytes (the kernel pads IPv4 lines to 149,
// seq_setwidth in tcp4_seq_show); anything far longer is not the kernel's.
constexpr std::size_t k_max_net_line = 512;
// /proc/net/unix: the fixed fields take ~60 bytes, the path at most sizeof(sun_path).
constexpr std::size_t k_sun_path_max = 108;
constexpr std::size_t k_max_unix_line = 256;
// /proc/<pid>/stat is one line of 52 numbers and a comm of at most 64 bytes; status ~1.5 KiB.
constexpr std::size_t k_max_stat_bytes = 4096;
constexpr std::size_t k_max_status_bytes = 64 * 1024;
constexpr std::size_t k_max_cmdline_args = 256;
constexpr std::size_t k_max_sockets_per_pid = 65'536;
constexpr std::size_t k_max_anomalies = 64;
// Pids are positive ints (PID_MAX_LIMIT is 2^22; accept anything a pid_t can hold).
constexpr std::int64_t k_max_pid = 2'147'483'647;

std::string esc(std::string_view s, std::size_t max_bytes) { return util::escape_for_terminal(s, max_bytes); }

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

std::string_view rtrim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}
std::string_view ltrim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

// The next token of `s` from `pos` (tokens are separated by runs of ' ' and '\t'); "" at the end.
// Advances `pos` to just past the token.
std::string_view next_token(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && is_blank(s[pos])) ++pos;
  const std::size_t start = pos;
  while (pos < s.size() && !is_blank(s[pos])) ++pos;
  return s.substr(start, pos - start);
}

// Splits `s` into at most `max_tokens` tokens; false (and `out` incomplete) if there are more.
bool tokenize(std::string_view s, std::size_t max_tokens, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t pos = 0;
  for (;;) {
    const auto tok = next_token(s, pos);
    if (tok.empty()) return true;
    if (out.size() == max_tokens) return false;
    out.push_back(tok);
  }
}

// Decimal integer of type T: the whole token, digits only (a '-' only for signed T); no '+',
// no blanks. Out-of-range values fail (std::from_chars reports them).
template <class T>
std::optional<T> parse_dec(std::string_view s) {
  if (s.empty()) return std::nullopt;
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 10);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Hexadecimal of min..max digits (upper or lower case, no "0x").
std::optional<std::uint64_t> parse_hex(std::string_view s, std::size_t min_digits, std::size_t max_digits) {
  if (s.size() < min_digits || s.size() > max_digits || s.size() > 16) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), is_hex)) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_pid(std::string_view s, std::int64_t min = 1) {
  const auto v = parse_dec<std::int64_t>(s);
  if (!v || *v < min || *v > k_max_pid) return std::nullopt;
  return v;
}

// One line of a text and where it came from.
struct Line {
  std::string_view text;
  std::size_t number = 0;   // 1-based
  bool terminated = false;  // ended with '\n' (false: the output was cut in this line)
};

// Iterates over the lines of a text without copying. A final '\n' does not start another line.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : m_rest(text) {}
  bool next(Line& line) {
    if (m_rest.empty()) return false;
    ++m_number;
    const auto nl = m_rest.find('\n');
    if (nl == std::string_view::npos) {
      line = Line{m_rest, m_number, false};
      m_rest = {};
    } else {
      line = Line{m_rest.substr(0, nl), m_number, true};
      m_rest.remove_prefix(nl + 1);
    }
    return true;
  }

 private:
  std::string_view m_rest;
  std::size_t m_number = 0;
};

// Accumulates records under the limits.
class Collector {
 public:
  explicit Collector(const Limits& limits) : m_limits(limits) {}

  [[nodiscard]] bool full() const { return m_out.records.size() >= m_limits.max_records; }

  void add(json record) {
    if (full()) {
      ++m_out.dropped;
      return;
    }
    m_out.records.push_back(std::move(record));
    ++m_out.parsed;
  }

  // An unparsed record: `where` already holds "line" or "pid"/"section".
  void unparsed(json where, std::string_view reason, std::string_view raw) {
    if (full()) {
      ++m_out.dropped;
      return;
    }
    where["kind"] = "unparsed";
    where["reason"] = std::string(reason);
    where["raw"] = esc(raw, m_limits.max_raw_bytes);
    m_out.records.push_back(std::move(where));
    ++m_out.unparsed;
  }

  // A record built elsewhere (by the walk parser, which keeps records until it has seen them all).
  void push(json record) {
    if (full()) {
      ++m_out.dropped;
      return;
    }
    const bool is_unparsed = record.is_object() && record.value("kind", "") == "unparsed";
    m_out.records.push_back(std::move(record));
    ++(is_unparsed ? m_out.unparsed : m_out.parsed);
  }

  void unparsed_line(const Line& line, std::string_view reason) {
    unparsed(json{{"line", line.number}}, reason, line.text);
  }

  void anomaly(std::string text) {
    if (m_out.anomalies.size() < k_max_anomalies) {
      m_out.anomalies.push_back(std::move(text));
    } else if (m_out.anomalies.size() == k_max_anomalies) {
      m_out.anomalies.emplace_back("(further anomalies not listed)");
    }
  }
  // Puts `text` first; the list stays within k_max_anomalies + 1 (the last real one gives way).
  void anomaly_first(std::string text) {
    m_out.anomalies.insert(m_out.anomalies.begin(), std::move(text));
    if (m_out.anomalies.size() > k_max_anomalies + 1) {
      m_out.anomalies.erase(m_out.anomalies.end() - 2);
    }
  }

  Parsed take() {
    if (m_out.dropped > 0) {
      anomaly(fmt::format("{} lines or sections beyond the limit of {} records were not kept", m_out.dropped,
                          m_limits.max_records));
    }
    return std::move(m_out);
  }

  [[nodiscard]] const Limits& limits() const { return m_limits; }

 private:
  Limits m_limits;
  Parsed m_out;
};

// Common line loop: empty lines are skipped; a final line without '\n' is unparsed
// ("truncated"); other lines go to `on_line`, which returns "" when it kept a record, else the
// reason for an unparsed record.
template <class F>
void for_each_line(LineCursor& lines, Collector& out, F&& on_line) {
  Line line;
  while (lines.next(line)) {
    if (util::trim(line.text).empty()) continue;
    if (out.full()) {
      out.add(json{});  // counted as dropped
      continue;
    }
    if (!line.terminated) {
      out.unparsed_line(line, "truncated: the output ends inside this line");
      continue;
    }
    const std::string reason = on_line(line);
    if (!reason.empty()) out.unparsed_line(line, reason);
  }
}

template <class F>
void for_each_line(std::string_view text, Collector& out, F&& on_line) {
  LineCursor lines(text);
  for_each_line(lines, out, std::forward<F>(on_line));
}

// ---- /proc/net/{tcp,udp,raw}[6] -------------------------------------------------------------

bool is_v6(NetTable t) { return t == NetTable::tcp6 || t == NetTable::udp6 || t == NetTable::raw6; }
bool is_tcp(NetTable t) { return t == NetTable::tcp || t == NetTable::tcp6; }

// include/net/tcp_states.h. UDP and raw sockets reuse TCP_ESTABLISHED (connected) and TCP_CLOSE
// (07: not connected, which ss prints as UNCONN).
std::string state_name(std::uint64_t st, NetTable table) {
  static const char* const k_tcp[] = {"",          "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
                                      "FIN_WAIT2", "TIME_WAIT",   "CLOSE",    "CLOSE_WAIT", "LAST_ACK",
                                      "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
  if (!is_tcp(table) && st == 7) return "UNCONN";
  if (st >= 1 && st <= 12) return k_tcp[st];
  return fmt::format("UNKNOWN_{:02X}", st);
}

// Decodes "ADDR:PORT" as the kernel prints it: each 32-bit word of the address is "%08X" of the
// value in the node's byte order (so on little-endian nodes 127.0.0.1 is "0100007F"), the port
// "%04X" in host order (already converted with ntohs).
std::optional<std::pair<std::string, std::uint16_t>> decode_endpoint(std::string_view s, bool v6, ByteOrder order) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto addr_hex = s.substr(0, colon);
  const auto port = parse_hex(s.substr(colon + 1), 4, 4);
  if (!port) return std::nullopt;
  const std::size_t words = v6 ? 4 : 1;
  if (addr_hex.size() != words * 8) return std::nullopt;
  unsigned char bytes[16] = {};
  for (std::size_t w = 0; w < words; ++w) {
    const auto value = parse_hex(addr_hex.substr(w * 8, 8), 8, 8);
    if (!value) return std::nullopt;
    for (std::size_t b = 0; b < 4; ++b) {
      const std::size_t shift = order == ByteOrder::little ? 8 * b : 8 * (3 - b);
      bytes[w * 4 + b] = static_cast<unsigned char>((*value >> shift) & 0xFFU);
    }
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text) == nullptr) return std::nullopt;
  return std::make_pair(std::string(text), static_cast<std::uint16_t>(*port));
}

// Splits "A:B" into two hex numbers of the given widths.
bool hex_pair(std::string_view s, std::size_t min_a, std::size_t max_a, std::size_t min_b, std::size_t max_b,
              std::uint64_t& a, std::uint64_t& b) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  const auto x = parse_hex(s.substr(0, colon), min_a, max_a);
  const auto y = parse_hex(s.substr(colon + 1), min_b, max_b);
  if (!x || !y) return false;
  a = *x;
  b = *y;
  return true;
}

// Returns "" and fills `rec`, or the reason the line is not a socket line.
std::string parse_inet_line(std::string_view text, NetTable table, ByteOrder order, std::size_t line_no, json& rec) {
  // Field layout (man 5 proc; get_tcp4_sock, udp4_format_sock, raw_sock_seq_show and the IPv6
  // twins): sl local rem st tx:rx tr:when retrnsmt uid timeout inode [ref pointer ...]. TIME_WAIT
  // lines stop after the pointer; TCP lines carry 17 fields on current kernels.
  constexpr std::size_t k_min_fields = 10;
  constexpr std::size_t k_max_fields = 24;
  std::vector<std::string_view> f;
  if (!tokenize(text, k_max_fields, f)) return "too many fields";
  if (f.size() < k_min_fields) return fmt::format("{} fields, expected at least {}", f.size(), k_min_fields);
  const auto sl = f[0];
  if (sl.size() < 2 || sl.back() != ':' || !all_digits(sl.substr(0, sl.size() - 1))) return "bad slot number";
  const bool v6 = is_v6(table);
  const auto local = decode_endpoint(f[1], v6, order);
  if (!local) return v6 ? "bad local address (expected 32 hex digits:4 hex digits)"
                        : "bad local address (expected 8 hex digits:4 hex digits)";
  const auto remote = decode_endpoint(f[2], v6, order);
  if (!remote) return "bad remote address";
  const auto st = parse_hex(f[3], 2, 2);
  if (!st) return "bad state";
  std::uint64_t tx = 0;
  std::uint64_t rx = 0;
  if (!hex_pair(f[4], 8, 8, 8, 8, tx, rx)) return "bad tx_queue:rx_queue";
  std::uint64_t tr = 0;
  std::uint64_t when = 0;
  if (!hex_pair(f[5], 2, 2, 8, 16, tr, when)) return "bad tr:tm->when";
  if (!parse_hex(f[6], 8, 8)) return "bad retrnsmt";
  const auto uid = parse_dec<std::uint32_t>(f[7]);
  if (!uid) return "bad uid";
  if (!parse_dec<std::int32_t>(f[8])) return "bad timeout";
  const auto inode = parse_dec<std::uint64_t>(f[9]);
  if (!inode) return "bad inode";
  rec = json{{"kind", "socket"},
             {"line", line_no},
             {"proto", to_string(table)},
             {"local_ip", local->first},
             {"local_port", local->second},
             {"remote_ip", remote->first},
             {"remote_port", remote->second},
             {"state", state_name(*st, table)},
             {"tx_queue", tx},
             {"rx_queue", rx},
             {"uid", *uid},
             {"inode", *inode}};
  return "";
}

// ---- /proc/net/unix ---------------------------------------------------------------------------

std::string unix_type(std::uint64_t t) {
  switch (t) {  // SOCK_* in include/linux/net.h
    case 1: return "STREAM";
    case 2: return "DGRAM";
    case 5: return "SEQPACKET";
    default: return fmt::format("UNKNOWN_{:04X}", t);
  }
}

std::string unix_state(std::uint64_t flags, std::uint64_t st) {
  constexpr std::uint64_t k_so_acceptcon = 0x10000;  // __SO_ACCEPTCON, include/uapi/linux/net.h
  if ((flags & k_so_acceptcon) != 0) return "LISTEN";
  switch (st) {  // socket_state, include/uapi/linux/net.h
    case 0: return "FREE";
    case 1: return "UNCONNECTED";
    case 2: return "CONNECTING";
    case 3: return "CONNECTED";
    case 4: return "DISCONNECTING";
    default: return fmt::format("UNKNOWN_{:02X}", st);
  }
}

std::string parse_unix_line(std::string_view text, std::size_t line_no, std::size_t max_field, json& rec) {
  // unix_seq_show: "%pK: %08X %08X %08X %04X %02X %5lu" then, if bound, ' ' and the path.
  std::size_t pos = 0;
  const auto num = next_token(text, pos);
  if (num.size() < 2 || num.back() != ':' || !parse_hex(num.substr(0, num.size() - 1), 1, 16)) return "bad Num";
  const auto refcount = parse_hex(next_token(text, pos), 8, 8);
  if (!refcount) return "bad RefCount";
  if (!parse_hex(next_token(text, pos), 8, 8)) return "bad Protocol";
  const auto flags = parse_hex(next_token(text, pos), 8, 8);
  if (!flags) return "bad Flags";
  const auto type = parse_hex(next_token(text, pos), 4, 4);
  if (!type) return "bad Type";
  const auto st = parse_hex(next_token(text, pos), 2, 2);
  if (!st) return "bad St";
  const auto inode = parse_dec<std::uint64_t>(next_token(text, pos));
  if (!inode) return "bad Inode";
  std::string_view path;
  const auto rest = text.substr(pos);
  if (!rest.empty()) {
    if (rest.front() != ' ') return "bad separator before the path";
    path = rest.substr(1);
    if (path.size() > k_sun_path_max) return "path longer than sun_path (108 bytes)";
  }
  rec = json{{"kind", "unix_socket"},
             {"line", line_no},
             {"proto", "unix"},
             {"path", esc(path, max_field)},
             {"abstract", !path.empty() && path.front() == '@'},
             {"inode", *inode},
             {"type", unix_type(*type)},
             {"state", unix_state(*flags, *st)},
             {"refcount", *refcount}};
  return "";
}

// ---- /proc/<pid>/status -------------------------------------------------------------------------

// "Key:\tvalue" → key and the raw value (everything after ':'); nullopt if not that shape.
std::optional<std::pair<std::string_view, std::string_view>> status_kv(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto key = line.substr(0, colon);
  for (const char c : key) {
    if (!is_alpha(c) && !is_digit(c) && c != '_') return std::nullopt;
  }
  return std::make_pair(key, line.substr(colon + 1));
}

std::optional<std::array<std::uint32_t, 4>> four_ids(std::string_view value) {
  std::vector<std::string_view> f;
  if (!tokenize(value, 4, f) || f.size() != 4) return std::nullopt;
  std::array<std::uint32_t, 4> ids{};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto v = parse_dec<std::uint32_t>(f[i]);
    if (!v) return std::nullopt;
    ids[i] = *v;
  }
  return ids;
}

json ids_json(const std::array<std::uint32_t, 4>& ids) {
  return json{{"real", ids[0]}, {"effective", ids[1]}, {"saved", ids[2]}, {"fs", ids[3]}};
}

// ---- ps ------------------------------------------------------------------------------------------

enum class ColumnKind { pid, id, uid, text, elapsed, lstart, command };

struct Column {
  ColumnKind kind = ColumnKind::text;
  std::string key;
  std::size_t offset = 0;  // byte offset of the label in the header line
};

std::optional<Column> column_for(std::string_view label) {
  struct Known {
    const char* label;
    ColumnKind kind;
    const char* key;
  };
  static const Known k_known[] = {
      {"PID", ColumnKind::pid, "pid"},         {"PPID", ColumnKind::id, "ppid"},
      {"PGID", ColumnKind::id, "pgid"},        {"SID", ColumnKind::id, "sid"},
      {"UID", ColumnKind::uid, "uid"},         {"USER", ColumnKind::text, "user"},
      {"RUSER", ColumnKind::text, "ruser"},    {"GROUP", ColumnKind::text, "group"},
      {"STAT", ColumnKind::text, "stat"},      {"S", ColumnKind::text, "state"},
      {"TT", ColumnKind::text, "tty"},         {"TTY", ColumnKind::text, "tty"},
      {"NI", ColumnKind::text, "nice"},        {"TIME", ColumnKind::text, "time"},
      {"VSZ", ColumnKind::text, "vsz"},        {"RSS", ColumnKind::text, "rss"},
      {"ELAPSED", ColumnKind::elapsed, "elapsed_seconds"},
      {"STARTED", ColumnKind::lstart, "started"},
      {"COMMAND", ColumnKind::command, ""},    {"CMD", ColumnKind::command, ""},
      {"ARGS", ColumnKind::command, ""},       {"COMM", ColumnKind::command, ""},
  };
  for (const auto& k : k_known) {
    if (label == k.label) return Column{k.kind, k.key, 0};
  }
  return std::nullopt;
}

// etimes (seconds) or etime "[[dd-]hh:]mm:ss" (procps; busybox prints "mm:ss" with mm unbounded).
std::optional<std::uint64_t> parse_elapsed(std::string_view s) {
  if (all_digits(s)) return parse_dec<std::uint64_t>(s);
  std::uint64_t days = 0;
  const auto dash = s.find('-');
  if (dash != std::string_view::npos) {
    const auto d = parse_dec<std::uint64_t>(s.substr(0, dash));
    if (!d || *d > 1'000'000) return std::nullopt;
    days = *d;
    s = s.substr(dash + 1);
  }
  const auto parts = util::split(s, ':');
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!all_digits(parts[i]) || parts[i].size() > 9) return std::nullopt;
    const auto v = parse_dec<std::uint64_t>(parts[i]);
    if (!v) return std::nullopt;
    const bool first = i == 0;
    if (!first && (parts[i].size() != 2 || *v > 59)) return std::nullopt;
    if (first && dash != std::string_view::npos && *v > 23) return std::nullopt;
    total = total * 60 + *v;
  }
  return days * 86'400 + total;
}

// lstart: "Sat Nov 21 16:28:14 2026" (weekday and month may be localised: only their shape is
// checked).
bool valid_lstart(const std::string_view (&t)[5]) {
  const auto word = [](std::string_view w) { return !w.empty() && w.size() <= 16 && std::all_of(w.begin(), w.end(), is_alpha); };
  const auto day = parse_dec<unsigned>(t[2]);
  return word(t[0]) && word(t[1]) && day && *day >= 1 && *day <= 31 && t[3].find(':') != std::string_view::npos &&
         std::all_of(t[3].begin(), t[3].end(), [](char c) { return is_digit(c) || c == ':'; }) && t[4].size() == 4 &&
         all_digits(t[4]);
}

}  // namespace

// ================================================================================================

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

const char* to_string(NetTable table) {
  switch (table) {
    case NetTable::tcp: return "tcp";
    case NetTable::tcp6: return "tcp6";
    case NetTable::udp: return "udp";
    case NetTable::udp6: return "udp6";
    case NetTable::raw: return "raw";
    case NetTable::raw6: return "raw6";
  }
  return "?";
}

Parsed parse_net_inet(std::string_view text, NetTable table, ByteOrder order, const Limits& limits) {
  Collector out(limits);
  for_each_line(text, out, [&](const Line& line) -> std::string {
    if (line.text.size() > k_max_net_line) return fmt::format("overlong: {} bytes", line.text.size());
    std::size_t pos = 0;
    if (next_token(line.text, pos) == "sl") return "";  // the header (repeated if files were concatenated)
    json rec;
    auto reason = parse_inet_line(line.text, table, order, line.number, rec);
    if (reason.empty()) out.add(std::move(rec));
    return reason;
  });
  return out.take();
}

Parsed parse_net_unix(std::string_view text, const Limits& limits) {
  Collector out(limits);
  for_each_line(text, out, [&](const Line& line) -> std::string {
    if (line.text.size() > k_max_unix_line) return fmt::format("overlong: {} bytes", line.text.size());
    std::size_t pos = 0;
    if (next_token(line.text, pos) == "Num") return "";  // header
    json rec;
    auto reason = parse_unix_line(line.text, line.number, limits.max_field_bytes, rec);
    if (reason.empty()) out.add(std::move(rec));
    return reason;
  });
  return out.take();
}

Result<ProcStat> parse_stat(std::string_view content) {
  // man 5 proc, /proc/pid/stat: "%d (%s) %c %d %d ..." — comm is printed raw (it may hold spaces,
  // parentheses and newlines), so it ends at the LAST ')'.
  const auto open = content.find('(');
  const auto close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return fail(Errc::protocol, "no (comm)");
  }
  if (open < 2 || content[open - 1] != ' ') return fail(Errc::protocol, "bad pid");
  const auto pid = parse_pid(content.substr(0, open - 1));
  if (!pid) return fail(Errc::protocol, "bad pid");
  auto rest = content.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  if (rest.empty() || rest.front() != ' ') return fail(Errc::protocol, "no fields after comm");
  if (rest.find('\n') != std::string_view::npos) return fail(Errc::protocol, "more than one line after comm");
  // Fields (3) state .. (52) exit_code on current kernels; require up to (23) vsize so that a cut
  // cannot leave a partial starttime (22). Allow room for fields future kernels may add.
  constexpr std::size_t k_needed = 21;
  constexpr std::size_t k_max_fields = 128;
  std::vector<std::string_view> f;
  if (!tokenize(rest, k_max_fields, f)) return fail(Errc::protocol, "too many fields after comm");
  if (f.size() < k_needed) {
    return fail(Errc::protocol, fmt::format("{} fields after comm, expected at least {}", f.size(), k_needed));
  }
  if (f[0].size() != 1 || !is_alpha(f[0][0])) return fail(Errc::protocol, "bad state");
  const auto ppid = parse_pid(f[1], 0);
  if (!ppid) return fail(Errc::protocol, "bad ppid");
  const auto starttime = parse_dec<std::uint64_t>(f[19]);
  if (!starttime) return fail(Errc::protocol, "bad starttime");
  ProcStat st;
  st.pid = *pid;
  st.comm = std::string(content.substr(open + 1, close - open - 1));
  st.state = f[0][0];
  st.ppid = *ppid;
  st.starttime = *starttime;
  return st;
}

Result<ProcStatus> parse_status(std::string_view content) {
  ProcStatus st;
  bool have_uid = false;
  bool have_pid = false;
  bool have_ppid = false;
  LineCursor lines(content);
  Line line;
  while (lines.next(line)) {
    if (line.text.empty()) continue;
    const auto kv = status_kv(line.text);
    if (!kv) {
      ++st.bad_lines;
      continue;
    }
    const auto [key, raw_value] = *kv;
    const auto value = util::trim(raw_value);
    if (key == "Uid") {
      if (have_uid) return fail(Errc::protocol, "two Uid lines");
      const auto ids = four_ids(value);
      if (!ids) return fail(Errc::protocol, "bad Uid line (expected four decimal uids)");
      st.uid = *ids;
      have_uid = true;
    } else if (key == "Gid") {
      if (st.gid) return fail(Errc::protocol, "two Gid lines");
      const auto ids = four_ids(value);
      if (!ids) return fail(Errc::protocol, "bad Gid line (expected four decimal gids)");
      st.gid = *ids;
    } else if (key == "Pid" || key == "PPid") {
      bool& seen = key == "Pid" ? have_pid : have_ppid;
      if (seen) return fail(Errc::protocol, fmt::format("two {} lines", key));
      const auto v = parse_pid(value, key == "Pid" ? 1 : 0);
      if (!v) return fail(Errc::protocol, fmt::format("bad {} line", key));
      (key == "Pid" ? st.pid : st.ppid) = *v;
      seen = true;
    } else if (key == "Name") {
      // "Name:\t<comm>" (escaped by the kernel); keep leading and trailing spaces of the name.
      auto name = raw_value;
      if (!name.empty() && name.front() == '\t') name.remove_prefix(1);
      st.name = std::string(name);
    }
  }
  if (!have_uid) return fail(Errc::protocol, "no Uid line");
  return st;
}

// A file that holds one record (/proc/<pid>/stat, status): unparsed whole when larger than
// `max_bytes` or when `parse` fails on it; else `add` records what it parsed.
template <class Parse, class Add>
Parsed parse_one_record(std::string_view content, const Limits& limits, std::size_t max_bytes, Parse parse, Add add) {
  Collector out(limits);
  if (content.size() > max_bytes) {
    out.unparsed(json{{"line", 1}}, fmt::format("overlong: {} bytes", content.size()), content);
    return out.take();
  }
  const auto parsed = parse(content);
  if (!parsed) {
    out.unparsed(json{{"line", 1}}, parsed.error().message, content);
  } else {
    add(out, *parsed);
  }
  return out.take();
}

Parsed parse_stat_file(std::string_view content, const Limits& limits) {
  return parse_one_record(content, limits, k_max_stat_bytes, parse_stat, [&](Collector& out, const ProcStat& st) {
    out.add(json{{"kind", "process"},
                 {"source", "stat"},
                 {"pid", st.pid},
                 {"comm", esc(st.comm, limits.max_field_bytes)},
                 {"state", std::string(1, st.state)},
                 {"ppid", st.ppid},
                 {"starttime", st.starttime}});
  });
}

Parsed parse_status_file(std::string_view content, const Limits& limits) {
  return parse_one_record(content, limits, k_max_status_bytes, parse_status, [&](Collector& out, const ProcStatus& st) {
    json rec{{"kind", "process_status"}, {"name", esc(st.name, limits.max_field_bytes)}, {"uid", ids_json(st.uid)}};
    if (st.pid) rec["pid"] = *st.pid;
    if (st.ppid) rec["ppid"] = *st.ppid;
    if (st.gid) rec["gid"] = ids_json(*st.gid);
    out.add(std::move(rec));
    LineCursor lines(content);
    Line line;
    while (lines.next(line)) {
      if (!line.text.empty() && !status_kv(line.text)) out.unparsed_line(line, "not a Key: value line");
    }
  });
}

Parsed parse_ps(std::string_view text, const Limits& limits) {
  Collector out(limits);
  LineCursor lines(text);
  Line line;
  // The header: the first non-empty line.
  bool have_header = false;
  while (!have_header && lines.next(line)) have_header = !util::trim(line.text).empty();
  if (!have_header) return out.take();

  std::vector<Column> cols;
  std::string bad_label;
  if (line.text.size() > 4096) bad_label = "(overlong header)";
  for (std::size_t pos = 0; bad_label.empty();) {
    const auto label = next_token(line.text, pos);
    if (label.empty()) break;
    auto col = column_for(label);
    if (!col || cols.size() >= 64) {
      bad_label = esc(label, 64);
      break;
    }
    col->offset = static_cast<std::size_t>(label.data() - line.text.data());
    cols.push_back(std::move(*col));
  }
  // Command columns: the last one is "args" when it is the last column; others are "comm".
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].kind == ColumnKind::command) cols[i].key = i + 1 == cols.size() ? "args" : "comm";
  }
  std::set<std::string> keys;
  bool has_pid = false;
  for (const auto& c : cols) {
    has_pid = has_pid || c.kind == ColumnKind::pid;
    if (bad_label.empty() && !keys.insert(c.key).second) bad_label = "(repeated column " + c.key + ")";
  }
  if (!bad_label.empty() || !has_pid) {
    const std::string why = !bad_label.empty() ? "unknown ps header label " + bad_label : "ps header without PID";
    out.anomaly(why + ": every line kept unparsed");
    out.unparsed_line(line, why);
    while (lines.next(line)) {
      if (!util::trim(line.text).empty()) out.unparsed_line(line, why);
    }
    return out.take();
  }

  const std::size_t n = cols.size();
  // Remaining lines: one process each.
  auto parse_line = [&](const Line& row, json& rec) -> std::string {
    const std::string_view s = row.text;
    rec = json{{"kind", "process"}, {"source", "ps"}, {"line", row.number}};
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& col = cols[i];
      const bool last = i + 1 == n;
      if (col.kind == ColumnKind::command && last) {
        rec[col.key] = esc(ltrim_blanks(s.substr(std::min(pos, s.size()))), limits.max_field_bytes);
        return "";
      }
      if (col.kind == ColumnKind::command && i + 2 == n && cols[n - 1].kind == ColumnKind::command) {
        // comm (may contain spaces) then args: cut at the header's column boundary when the line
        // has a blank exactly there and the cut piece has no inner run of blanks (which would be
        // padding, i.e. the columns have shifted); else one token and say so.
        while (pos < s.size() && is_blank(s[pos])) ++pos;
        const auto r = s.substr(pos);
        if (r.empty()) return "missing field " + std::string(col.key);
        const std::size_t width = cols[n - 1].offset > col.offset ? cols[n - 1].offset - col.offset - 1 : 0;
        std::string_view comm;
        std::string_view args;
        bool ambiguous = false;
        const auto head = rtrim_blanks(r.substr(0, std::min(width, r.size())));
        const bool inner_gap = head.find("  ") != std::string_view::npos;
        if (width > 0 && !inner_gap && !head.empty() && r.size() > width && is_blank(r[width])) {
          comm = head;
          args = ltrim_blanks(r.substr(width + 1));
        } else {
          std::size_t p = 0;
          comm = next_token(r, p);
          args = ltrim_blanks(r.substr(p));
          ambiguous = true;
        }
        rec["comm"] = esc(comm, limits.max_field_bytes);
        rec["args"] = esc(args, limits.max_field_bytes);
        if (ambiguous) rec["comm_ambiguous"] = true;
        return "";
      }
      if (col.kind == ColumnKind::lstart) {
        std::string_view t[5];
        for (auto& tok : t) tok = next_token(s, pos);
        if (t[4].empty()) return "missing field started";
        if (!valid_lstart(t)) return "bad STARTED (lstart)";
        rec[col.key] = fmt::format("{} {} {} {} {}", t[0], t[1], t[2], t[3], t[4]);
        continue;
      }
      const auto tok = next_token(s, pos);
      if (tok.empty()) return "missing field " + col.key;
      switch (col.kind) {
        case ColumnKind::pid: {
          const auto v = parse_pid(tok);
          if (!v) return "bad PID";
          rec[col.key] = *v;
          break;
        }
        case ColumnKind::id: {
          const auto v = parse_pid(tok, 0);
          if (!v) return "bad " + col.key;
          rec[col.key] = *v;
          break;
        }
        case ColumnKind::uid: {
          const auto v = parse_dec<std::uint32_t>(tok);
          if (!v) return "bad uid";
          rec[col.key] = *v;
          break;
        }
        case ColumnKind::elapsed: {
          const auto v = parse_elapsed(tok);
          if (!v) return "bad ELAPSED";
          rec[col.key] = *v;
          break;
        }
        case ColumnKind::text:
        case ColumnKind::command:
        case ColumnKind::lstart:
          rec[col.key] = esc(tok, limits.max_field_bytes);
          break;
      }
    }
    if (!next_token(s, pos).empty()) return "more fields than the header";
    return "";
  };

  for_each_line(lines, out, [&](const Line& row) -> std::string {
    if (row.text.size() > limits.max_line_bytes) return fmt::format("overlong: {} bytes", row.text.size());
    json rec;
    auto reason = parse_line(row, rec);
    if (reason.empty()) out.add(std::move(rec));
    return reason;
  });
  return out.take();
}

// ---- the /proc walk ------------------------------------------------------------------------------

std::string make_boundary() {
  std::random_device rd;
  std::string b;
  for (int i = 0; i < 4; ++i) b += fmt::format("{:08x}", static_cast<std::uint32_t>(rd()));
  return b;
}

bool is_valid_boundary(std::string_view boundary) {
  return boundary.size() >= 16 && boundary.size() <= 64 &&
         std::all_of(boundary.begin(), boundary.end(), [](char c) { return is_alpha(c) || is_digit(c); });
}

std::string proc_walk_script(const std::string& boundary, const WalkOptions& options) {
  if (!is_valid_boundary(boundary)) return "echo 'kubectl-ir: invalid walk boundary' >&2; exit 2\n";
  // Only built-ins (echo, [, cd, pwd, command, case, for) and cat; readlink where present. Every
  // marker is "echo; echo MARKER": the empty line before it is framing, so section content is
  // exactly what cat printed. The pid list is built (and printed) before any process data, so it
  // cannot be forged by a process; names are read with cat only, never interpreted by the shell.
  std::string pid_source = "/proc/[0-9]*";
  if (!options.pids.empty()) {
    pid_source.clear();
    for (const auto pid : options.pids) {
      if (pid < 1 || pid > k_max_pid) continue;
      pid_source += fmt::format("{}/proc/{}", pid_source.empty() ? "" : " ", pid);
    }
    if (pid_source.empty()) pid_source = "/proc/none";
  }
  return fmt::format(
      R"(B={b}
M={max_pids}
F={max_fds}
RL=no
command -v readlink >/dev/null 2>&1 && RL=yes
TR=no
command -v tr >/dev/null 2>&1 && TR=yes
P=
n=0
c=no
for d in {source}; do
  p=${{d#/proc/}}
  case $p in ''|*[!0-9]*) continue;; esac
  [ -d "$d" ] || continue
  if [ "$n" -ge "$M" ]; then c=yes; break; fi
  n=$((n+1))
  P="$P $p"
done
echo; echo "$B begin 2 max=$M listed=$n capped=$c readlink=$RL tr=$TR"
echo; echo "$B pids$P"
w=0
for p in $P; do
  d=/proc/$p
  w=$((w+1))
  echo; echo "$B pid $p"
  for s in stat status cmdline; do
    echo; echo "$B $s"; cat "$d/$s"; r=$?; echo; echo "$B rc $r"
  done
  if [ "$RL" = yes ]; then
    echo; echo "$B exe"; readlink "$d/exe"; r=$?; echo; echo "$B rc $r"
  else
    echo; echo "$B exe unavailable"; echo; echo "$B rc 127"
  fi
  echo; echo "$B cwd"; (cd -P "$d/cwd" && pwd -P); r=$?; echo; echo "$B rc $r"
  if [ "$RL" = yes ]; then
    echo; echo "$B fds"; r=0; k=0
    for f in "$d"/fd/*; do
      if [ "$k" -ge "$F" ]; then r=truncated; break; fi
      k=$((k+1))
      t=$(readlink "$f" 2>/dev/null) || continue
      case $t in 'socket:['*']') echo "${{f##*/}} $t";; esac
    done
    echo; echo "$B rc $r"
  else
    echo; echo "$B fds unavailable"; echo; echo "$B rc 127"
  fi
  if [ "$TR" = yes ]; then
    echo; echo "$B environ"
    if (: < "$d/environ") 2>/dev/null; then
      tr '\000\n' '\n\001' < "$d/environ" 2>/dev/null | while IFS= read -r l || [ -n "$l" ]; do
        case $l in LD_PRELOAD=*) printf '%s\n' "$l";; esac
      done
      r=0
    else
      r=1
    fi
    echo; echo "$B rc $r"
  else
    echo; echo "$B environ unavailable"; echo; echo "$B rc 127"
  fi
done
echo; echo "$B end $w"
)",
      fmt::arg("b", boundary), fmt::arg("max_pids", options.max_pids), fmt::arg("max_fds", options.max_fds_per_pid),
      fmt::arg("source", pid_source));
}

namespace {

// One marker line of the walk: "<B> <tag> <args...>" at the start of a line.
struct Marker {
  std::size_t begin = 0;     // offset of the marker line
  std::size_t line_end = 0;  // offset just past its '\n' (or the end of the output)
  std::string_view tag;
  std::string_view args;     // the rest of the line after the tag (may be long: the pid list)
};

// The fixed sequence of markers inside one pid's record.
// "environ" (LD_PRELOAD only) comes last; walks of version 1 (before it existed) end after "fds".
constexpr std::string_view k_sequence[] = {"stat", "rc", "status", "rc", "cmdline", "rc",   "exe",
                                           "rc",   "cwd", "rc",    "fds", "rc",     "environ", "rc"};
constexpr std::size_t k_sequence_size = std::size(k_sequence);
constexpr std::size_t k_sequence_v1 = 12;

class WalkParser {
 public:
  WalkParser(std::string_view output, std::string_view boundary, const Limits& limits)
      : m_out(output), m_boundary(boundary), m_limits(limits), m_collect(limits) {}

  Parsed run() {
    if (!is_valid_boundary(m_boundary)) {
      m_collect.anomaly("invalid boundary: the walk output cannot be parsed");
      m_collect.unparsed(json{{"section", "output"}}, "invalid boundary", m_out);
      return m_collect.take();
    }
    find_markers();
    if (m_markers.empty()) {
      if (!m_out.empty()) m_collect.unparsed(json{{"section", "output"}}, "no walk markers", m_out);
      m_collect.anomaly("no walk markers: the script did not run (or its output is not this run's)");
      return m_collect.take();
    }
    // Bytes before the first marker: the script prints nothing there but the framing newline.
    const auto pre = content_before(0);
    if (!pre.empty()) {
      keep_unparsed(json{{"section", "preamble"}}, "output before the first marker", pre);
      m_collect.anomaly("output before the first walk marker");
    }
    for (std::size_t i = 0; i < m_markers.size(); ++i) on_marker(i);
    finish_record();
    finish();
    return m_collect.take();
  }

 private:
  void find_markers() {
    const std::string pattern = "\n" + std::string(m_boundary) + " ";
    std::vector<std::size_t> starts;
    if (m_out.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(1)) starts.push_back(0);
    // Memory stays linear in the output: a marker takes at least boundary + 2 bytes of it.
    for (std::size_t pos = m_out.find(pattern); pos != std::string_view::npos; pos = m_out.find(pattern, pos + 1)) {
      starts.push_back(pos + 1);
    }
    for (const auto begin : starts) {
      Marker m;
      m.begin = begin;
      const auto nl = m_out.find('\n', begin);
      const auto end_of_text = nl == std::string_view::npos ? m_out.size() : nl;
      m.line_end = nl == std::string_view::npos ? m_out.size() : nl + 1;
      const auto body = m_out.substr(begin + m_boundary.size() + 1, end_of_text - begin - m_boundary.size() - 1);
      std::size_t p = 0;
      m.tag = next_token(body, p);
      m.args = ltrim_blanks(body.substr(p));
      m_markers.push_back(m);
    }
  }

  // The content of marker i: from the end of its line to the framing '\n' before the next marker.
  std::string_view content_of(std::size_t i) const {
    const auto start = m_markers[i].line_end;
    if (i + 1 == m_markers.size()) return m_out.substr(start);
    const auto next = m_markers[i + 1].begin;
    if (next <= start) return {};  // the next marker follows without its framing empty line
    return m_out.substr(start, next - 1 - start);
  }
  std::string_view content_before(std::size_t i) const {
    const auto next = m_markers[i].begin;
    return next == 0 ? std::string_view{} : m_out.substr(0, next - 1);
  }

  // Unparsed bytes, kept in order with the records (a record's unparsed sections just before it).
  void keep_unparsed(json where, std::string_view reason, std::string_view raw) {
    if (m_items.size() >= m_limits.max_records) {
      ++m_dropped_items;
      return;
    }
    where["kind"] = "unparsed";
    where["reason"] = std::string(reason);
    where["raw"] = esc(raw, m_limits.max_raw_bytes);
    m_items.push_back(std::move(where));
  }

  // A marker that the script would not have written there: someone who knows the boundary wrote it.
  void tamper(const std::string& what) {
    m_tampered = true;
    m_collect.anomaly(what);
  }

  void flag(const std::string& f) {
    auto& flags = m_rec["flags"];
    for (const auto& existing : flags) {
      if (existing == f) return;
    }
    flags.push_back(f);
  }

  void on_marker(std::size_t i) {
    const auto& m = m_markers[i];
    const auto content = content_of(i);
    if (i + 1 < m_markers.size() && m_markers[i + 1].begin <= m.line_end) {
      tamper("a walk marker without its framing empty line (forged)");
      if (m_open) flag("unexpected_marker");
    }
    if (m_ended) {
      tamper(fmt::format("walk marker '{}' after the end marker", esc(m.tag, 32)));
      keep_unparsed(json{{"section", "after_end"}}, "after the end marker", m_out.substr(m.begin, content.size() + (m.line_end - m.begin)));
      return;
    }
    // After begin, pids, pid and rc the script writes nothing but the next marker's framing.
    const bool section = m.tag != "begin" && m.tag != "pids" && m.tag != "pid" && m.tag != "rc" && m.tag != "end";
    if (!section && m.tag != "end" && !content.empty()) {
      keep_unparsed(json{{"pid", m_open ? m_pid : 0}, {"section", "between_markers"}}, "output between walk markers",
                    content);
      m_collect.anomaly("output between walk markers (truncated or forged)");
    }
    if (m.tag == "begin") {
      if (i != 0) {
        tamper("a second begin marker");
        if (m_open) flag("unexpected_marker");
        return;
      }
      std::size_t pos = 0;
      m_version_2 = next_token(m.args, pos) == "2";
      return;
    }
    if (m.tag == "pids") {
      on_pids(m, i);
      return;
    }
    if (m.tag == "pid") {
      finish_record();
      start_record(m.args);
      return;
    }
    if (m.tag == "end") {
      finish_record();
      m_ended = true;
      if (!content.empty()) {
        keep_unparsed(json{{"section", "after_end"}}, "output after the end marker", content);
        m_collect.anomaly("output after the end marker");
      }
      return;
    }
    if (!m_open) {
      tamper(fmt::format("walk marker '{}' outside a pid record", esc(m.tag, 32)));
      keep_unparsed(json{{"section", "orphan"}}, "marker outside a pid record", content);
      return;
    }
    if (m_step >= k_sequence_size || m.tag != k_sequence[m_step]) {
      flag("unexpected_marker");
      tamper(fmt::format("unexpected walk marker '{}' in the record of pid {}", esc(m.tag, 32), m_pid));
      keep_unparsed(json{{"pid", m_pid}, {"section", esc(m.tag, 32)}}, "unexpected marker", content);
      return;
    }
    ++m_step;
    if (m.tag == "rc") {
      apply_section(m.args);
      return;
    }
    m_section = std::string(m.tag);
    m_section_args = m.args;
    m_section_content = content;
  }

  void on_pids(const Marker& m, std::size_t i) {
    if (m_have_listing || i != 1) {
      tamper("a second or misplaced pids marker");
      if (m_open) flag("unexpected_marker");
      return;
    }
    m_have_listing = true;
    std::size_t pos = 0;
    for (;;) {
      const auto tok = next_token(m.args, pos);
      if (tok.empty()) break;
      const auto pid = parse_pid(tok);
      if (!pid) {
        m_collect.anomaly(fmt::format("bad pid '{}' in the walk's pid listing", esc(tok, 32)));
        continue;
      }
      if (m_listed.size() >= m_limits.max_records) {
        m_collect.anomaly("the walk's pid listing is longer than the record limit");
        break;
      }
      m_listed_index.emplace(*pid, m_listed.size());
      m_listed.push_back(*pid);
    }
  }

  void start_record(std::string_view args) {
    const auto pid = parse_pid(args);
    m_open = true;
    m_step = 0;
    m_section.clear();
    m_pid = pid.value_or(0);
    m_rec = json{{"kind", "process"}, {"source", "walk"}, {"pid", m_pid}, {"flags", json::array()}};
    if (!pid) {
      flag("bad_pid");
      tamper(fmt::format("a pid marker with a bad pid '{}'", esc(args, 32)));
      return;
    }
    if (m_have_listing) {
      const auto it = m_listed_index.find(*pid);
      if (it == m_listed_index.end()) {
        flag("unlisted_pid");
        tamper(fmt::format("a record for pid {}, which is not in the pid listing", *pid));
      } else {
        if (m_last_index && it->second <= *m_last_index) {
          flag("out_of_order");
          tamper(fmt::format("the record for pid {} is out of the listing's order", *pid));
        }
        m_last_index = std::max(m_last_index.value_or(0), it->second);
      }
    } else {
      flag("unlisted_pid");
    }
    if (const auto seen = m_seen.find(*pid); seen != m_seen.end()) {
      flag("duplicate_pid");
      tamper(fmt::format("a second record for pid {}", *pid));
      if (seen->second < m_items.size()) {
        auto& first = m_items[seen->second]["flags"];
        if (std::find(first.begin(), first.end(), "duplicate_pid") == first.end()) first.push_back("duplicate_pid");
      }
    }
  }

  void set_error(const std::string& section, const std::string& what) { m_rec["errors"][section] = what; }

  void unparsed_section(const std::string& reason, std::string_view raw) {
    set_error(m_section, reason);
    keep_unparsed(json{{"pid", m_pid}, {"section", m_section}}, reason, raw);
  }

  // Applies the section that just ended with "<B> rc <rc>".
  void apply_section(std::string_view rc) {
    const auto content = m_section_content;
    const bool ok = rc == "0";
    const bool unavailable = m_section_args == "unavailable";
    if (unavailable && m_section == "environ") {
      set_error(m_section, "tr missing in the image: LD_PRELOAD not read");
      m_tr_missing = true;
    } else if (unavailable) {
      set_error(m_section, "readlink missing in the image");
      m_readlink_missing = true;
    } else if (!ok) {
      set_error(m_section, rc == "truncated" ? std::string("truncated at max_fds_per_pid")
                                             : "exit status " + esc(rc, 16));
    }
    if (unavailable || (content.empty() && !ok)) return;
    if (m_section == "stat") {
      apply_stat(content);
    } else if (m_section == "status") {
      apply_status(content);
    } else if (m_section == "cmdline") {
      apply_cmdline(content);
    } else if (m_section == "exe" || m_section == "cwd") {
      auto target = content;
      if (!target.empty() && target.back() == '\n') target.remove_suffix(1);  // readlink's / pwd's
      if (!target.empty()) m_rec[m_section] = esc(target, m_limits.max_field_bytes);
    } else if (m_section == "fds") {
      apply_fds(content);
    } else if (m_section == "environ") {
      apply_environ(content);
    }
  }

  // The environ section holds only what the script let through its filter: "LD_PRELOAD=<value>"
  // lines, newlines inside the value turned into \001 by tr (so a line can only start at a
  // variable's start). Anything else is unparsed (and not kept raw: it may be environment).
  void apply_environ(std::string_view content) {
    constexpr std::string_view k_prefix = "LD_PRELOAD=";
    LineCursor lines(content);
    Line line;
    std::optional<std::string> value;
    std::size_t others = 0;
    std::size_t extra = 0;
    while (lines.next(line)) {
      if (line.text.size() < k_prefix.size() || line.text.substr(0, k_prefix.size()) != k_prefix) {
        if (!line.text.empty()) ++others;
        continue;
      }
      if (value) {
        ++extra;
        continue;
      }
      std::string v(line.text.substr(k_prefix.size()));
      std::replace(v.begin(), v.end(), '\001', '\n');
      value = esc(v, m_limits.max_field_bytes);
    }
    std::vector<std::string> problems;
    if (others > 0) {
      // Not what the filter prints: never keep it (it could be any variable), only say so.
      problems.push_back(fmt::format("{} lines that are not LD_PRELOAD= (dropped)", others));
      flag("environ_unexpected");
      m_collect.anomaly(fmt::format("the environ section of pid {} holds lines the filter does not print", m_pid));
    }
    if (extra > 0) problems.push_back(fmt::format("LD_PRELOAD appears {} times: the first is kept", extra + 1));
    if (!problems.empty()) set_error("environ", util::join(problems, "; "));
    m_rec["ld_preload"] = value ? json(*value) : json(nullptr);
  }

  void apply_stat(std::string_view content) {
    if (content.size() > k_max_stat_bytes) return unparsed_section("stat too long", content);
    const auto st = parse_stat(content);
    if (!st) return unparsed_section(st.error().message, content);
    if (st->pid != m_pid) {
      flag("stat_pid_mismatch");
      m_collect.anomaly(fmt::format("the stat of pid {} names pid {}", m_pid, st->pid));
    }
    m_rec["comm"] = esc(st->comm, m_limits.max_field_bytes);
    m_rec["state"] = std::string(1, st->state);
    m_rec["ppid"] = st->ppid;
    m_rec["starttime"] = st->starttime;
  }

  void apply_status(std::string_view content) {
    if (content.size() > k_max_status_bytes) return unparsed_section("status too long", content);
    const auto st = parse_status(content);
    if (!st) return unparsed_section(st.error().message, content);
    if (st->pid && *st->pid != m_pid) {
      flag("stat_pid_mismatch");
      m_collect.anomaly(fmt::format("the status of pid {} names pid {}", m_pid, *st->pid));
    }
    m_rec["uid"] = ids_json(st->uid);
    if (st->gid) m_rec["gid"] = ids_json(*st->gid);
    if (st->bad_lines > 0) set_error("status", fmt::format("{} lines not Key: value", st->bad_lines));
  }

  void apply_cmdline(std::string_view content) {
    // man 5 proc, /proc/pid/cmdline: arguments each terminated by '\0' (a process that rewrote
    // its arguments may leave one string without the final NUL).
    json args = json::array();
    std::size_t count = 0;
    std::size_t start = 0;
    while (start < content.size()) {
      auto end = content.find('\0', start);
      if (end == std::string_view::npos) end = content.size();
      if (count < k_max_cmdline_args) args.push_back(esc(content.substr(start, end - start), m_limits.max_field_bytes));
      ++count;
      start = end + 1;
    }
    m_rec["cmdline"] = std::move(args);
    if (count > k_max_cmdline_args) m_rec["cmdline_args_total"] = count;
  }

  void apply_fds(std::string_view content) {
    json sockets = json::array();
    LineCursor lines(content);
    Line line;
    while (lines.next(line)) {
      if (line.text.empty()) continue;
      // "<fd> socket:[<inode>]", written by the script for kernel-made link targets only.
      const auto sp = line.text.find(' ');
      const auto fd = sp == std::string_view::npos ? std::nullopt : parse_pid(line.text.substr(0, sp), 0);
      const auto target = sp == std::string_view::npos ? std::string_view{} : line.text.substr(sp + 1);
      constexpr std::string_view k_prefix = "socket:[";
      std::optional<std::uint64_t> inode;
      if (target.size() > k_prefix.size() + 1 && target.substr(0, k_prefix.size()) == k_prefix && target.back() == ']') {
        inode = parse_dec<std::uint64_t>(target.substr(k_prefix.size(), target.size() - k_prefix.size() - 1));
      }
      if (!fd || !inode) {
        keep_unparsed(json{{"pid", m_pid}, {"section", "fds"}}, "not an '<fd> socket:[<inode>]' line", line.text);
        continue;
      }
      if (sockets.size() >= k_max_sockets_per_pid) {
        set_error("fds", "too many socket fds: not all kept");
        break;
      }
      sockets.push_back(json{{"fd", *fd}, {"inode", *inode}});
    }
    m_rec["sockets"] = std::move(sockets);
  }

  void finish_record() {
    if (!m_open) return;
    m_open = false;
    if (m_step < (m_version_2 ? k_sequence_size : k_sequence_v1)) {
      flag("incomplete");
      if (!m_ended) m_incomplete++;
    }
    const bool keep = m_items.size() < m_limits.max_records;
    if (m_pid > 0 && m_seen.find(m_pid) == m_seen.end()) m_seen.emplace(m_pid, keep ? m_items.size() : SIZE_MAX);
    if (!keep) {
      ++m_dropped_items;
      return;
    }
    m_items.push_back(std::move(m_rec));
  }

  void finish() {
    if (m_markers.front().tag != "begin") tamper("the walk output does not start with its begin marker");
    if (!m_have_listing) m_collect.anomaly("no pid listing: records cannot be checked against it");
    if (m_readlink_missing) {
      m_collect.anomaly("readlink is missing in the image: exe links and socket fds were not collected");
    }
    if (m_tr_missing) m_collect.anomaly("tr is missing in the image: LD_PRELOAD was not read");
    if (!m_ended) m_collect.anomaly("no end marker: the walk output is truncated");
    if (m_incomplete > 0) m_collect.anomaly(fmt::format("{} records are incomplete", m_incomplete));
    std::size_t missing = 0;
    for (const auto pid : m_listed) {
      if (m_seen.find(pid) == m_seen.end()) ++missing;
    }
    if (missing > 0) m_collect.anomaly(fmt::format("{} listed pids have no record", missing));
    if (m_tampered) {
      m_collect.anomaly_first(
          "tampering suspected: the output holds walk markers the script did not write (a process that read "
          "the boundary from our shell's command line can do that); see the records' flags");
    }
    for (auto& r : m_items) m_collect.push(std::move(r));
    for (std::size_t i = 0; i < m_dropped_items; ++i) m_collect.add(json{});  // counted as dropped
  }

  std::string_view m_out;
  std::string_view m_boundary;
  Limits m_limits;
  Collector m_collect;
  std::vector<Marker> m_markers;

  bool m_have_listing = false;
  std::vector<std::int64_t> m_listed;
  std::unordered_map<std::int64_t, std::size_t> m_listed_index;
  std::optional<std::size_t> m_last_index;
  std::unordered_map<std::int64_t, std::size_t> m_seen;  // pid → index in m_items (SIZE_MAX: dropped)

  std::vector<json> m_items;  // process and unparsed records, in output order
  std::size_t m_dropped_items = 0;
  bool m_open = false;
  bool m_ended = false;
  bool m_tampered = false;
  bool m_readlink_missing = false;
  bool m_tr_missing = false;
  bool m_version_2 = false;  // "begin 2": records end with the environ section
  std::size_t m_incomplete = 0;

  json m_rec;
  std::int64_t m_pid = 0;
  std::size_t m_step = 0;
  std::string m_section;
  std::string_view m_section_args;
  std::string_view m_section_content;
};

}  // namespace

Parsed parse_proc_walk(std::string_view output, std::string_view boundary, const Limits& limits) {
  return WalkParser(output, boundary, limits).run();
}

// ---- sockets ↔ processes --------------------------------------------------------------------------

Parsed parse_ls_fd(std::string_view text, const Limits& limits) {
  Collector out(limits);
  std::optional<std::int64_t> pid;
  for_each_line(text, out, [&](const Line& line) -> std::string {
    if (line.text.size() > 8192) return fmt::format("overlong: {} bytes", line.text.size());
    const auto s = rtrim_blanks(line.text);
    // "/proc/<pid>/fd:" starts a directory (ls prints it when listing several).
    constexpr std::string_view k_dir_prefix = "/proc/";
    constexpr std::string_view k_dir_suffix = "/fd:";
    if (s.size() > k_dir_prefix.size() + k_dir_suffix.size() && s.substr(0, k_dir_prefix.size()) == k_dir_prefix &&
        s.substr(s.size() - k_dir_suffix.size()) == k_dir_suffix) {
      pid = parse_pid(s.substr(k_dir_prefix.size(), s.size() - k_dir_prefix.size() - k_dir_suffix.size()));
      return pid ? "" : "bad pid in a directory line";
    }
    std::size_t pos = 0;
    const auto first = next_token(s, pos);
    if (first == "total") return "";
    std::string_view prev;
    std::string_view tok = first;
    while (!tok.empty() && tok != "->") {
      prev = tok;
      tok = next_token(s, pos);
    }
    if (tok != "->") return "not a link line";
    const auto fd = parse_pid(prev, 0);
    if (!fd) return "bad fd number";
    const auto target = s.substr(std::min(pos + 1, s.size()));
    // A second "->" means a name (user, group or link target) holds one: which one is the link
    // separator cannot be told, so the line is not trusted.
    if (target.find(" -> ") != std::string_view::npos || target.substr(0, 3) == "-> ") return "ambiguous link line (two '->')";
    constexpr std::string_view k_prefix = "socket:[";
    if (target.size() <= k_prefix.size() + 1 || target.substr(0, k_prefix.size()) != k_prefix || target.back() != ']') {
      return "";  // a file, pipe or anon inode: not a socket
    }
    const auto inode = parse_dec<std::uint64_t>(target.substr(k_prefix.size(), target.size() - k_prefix.size() - 1));
    if (!inode) return "bad socket inode";
    if (!pid) return "socket link before any /proc/<pid>/fd: line";
    out.add(json{{"kind", "fd"}, {"line", line.number}, {"pid", *pid}, {"fd", *fd}, {"inode", *inode}});
    return "";
  });
  return out.take();
}

namespace {

// A positive inode from a record, whether nlohmann stored it signed or unsigned.
std::optional<std::uint64_t> as_inode(const json& v) {
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > 0) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() > 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

}  // namespace

SocketOwners socket_owners(const nlohmann::json& records) {
  SocketOwners owners;
  if (!records.is_array()) return owners;
  const auto add = [&](const json& inode, const json& pid, bool suspect) {
    const auto ino = as_inode(inode);
    if (!ino || !pid.is_number_integer()) return;
    const auto p = pid.get<std::int64_t>();
    if (p <= 0) return;
    auto& holders = owners[*ino];
    const auto it = std::find_if(holders.begin(), holders.end(), [&](const SocketHolder& h) { return h.pid == p; });
    if (it != holders.end()) {
      it->suspect = it->suspect || suspect;
      return;
    }
    holders.push_back(SocketHolder{p, suspect});
    std::sort(holders.begin(), holders.end(), [](const SocketHolder& a, const SocketHolder& b) { return a.pid < b.pid; });
  };
  for (const auto& rec : records) {
    if (!rec.is_object()) continue;
    const auto kind = rec.find("kind");
    if (kind == rec.end() || !kind->is_string()) continue;
    const auto pid = rec.find("pid");
    if (pid == rec.end()) continue;
    if (*kind == "fd") {
      if (const auto inode = rec.find("inode"); inode != rec.end()) add(*inode, *pid, false);
    } else if (*kind == "process") {
      const auto sockets = rec.find("sockets");
      if (sockets == rec.end() || !sockets->is_array()) continue;
      const auto flags = rec.find("flags");
      const bool suspect = flags != rec.end() && flags->is_array() && !flags->empty();
      for (const auto& s : *sockets) {
        if (!s.is_object()) continue;
        if (const auto inode = s.find("inode"); inode != s.end()) add(*inode, *pid, suspect);
      }
    }
  }
  return owners;
}

nlohmann::json attach_socket_owners(nlohmann::json sockets, const SocketOwners& owners) {
  if (!sockets.is_array()) return sockets;
  for (auto& rec : sockets) {
    if (!rec.is_object()) continue;
    const auto kind = rec.find("kind");
    if (kind == rec.end() || !(*kind == "socket" || *kind == "unix_socket")) continue;
    const auto inode = rec.find("inode");
    if (inode == rec.end()) continue;
    const auto ino = as_inode(*inode);
    if (!ino) continue;
    const auto it = owners.find(*ino);
    if (it == owners.end()) continue;
    json pids = json::array();
    json suspect = json::array();
    for (const auto& h : it->second) (h.suspect ? suspect : pids).push_back(h.pid);
    rec["pids"] = std::move(pids);
    if (!suspect.empty()) rec["suspect_pids"] = std::move(suspect);
  }
  return sockets;
}

}  // namespace ir::forensics::procfs
