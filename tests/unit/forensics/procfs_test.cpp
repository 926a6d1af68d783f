#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "support/proc_samples.hpp"
#include "forensics/procfs.hpp"
#include "util/process.hpp"

using namespace ir::forensics::procfs;
using nlohmann::json;
using ir::testing::make_stat;
using ir::testing::make_status;
using ir::testing::WalkOut;
using ir::testing::k_b;

namespace {

using namespace std::string_literals;

// Every string in a record must be printable: no C0 control, no DEL, valid UTF-8 (dump with the
// strict handler throws otherwise).
bool all_strings_safe(const json& j) {
  if (j.is_string()) {
    for (const char c : j.get_ref<const std::string&>()) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) return false;
    }
    return true;
  }
  if (j.is_array() || j.is_object()) {
    for (const auto& v : j) {
      if (!all_strings_safe(v)) return false;
    }
  }
  return true;
}

void check_safe(const Parsed& p) {
  CHECK(all_strings_safe(p.records));
  CHECK_NOTHROW((void)p.records.dump(-1, ' ', false, json::error_handler_t::strict));
  CHECK(p.parsed + p.unparsed == p.records.size());
}

// Malformed or hostile input, and how many records a parser must make of it.
struct CountCase {
  const char* what;
  std::string text;
  std::size_t parsed;
  std::size_t unparsed;
};

// Runs `parse` over each case: the records are safe and their counts are the case's.
template <class Parse>
void check_counts(std::initializer_list<CountCase> cases, Parse parse) {
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const Parsed p = parse(c.text);
    check_safe(p);
    CHECK(p.parsed == c.parsed);
    CHECK(p.unparsed == c.unparsed);
  }
}

std::vector<json> of_kind(const Parsed& p, const std::string& kind) {
  std::vector<json> out;
  for (const auto& r : p.records) {
    if (r.value("kind", "") == kind) out.push_back(r);
  }
  return out;
}

bool has_flag(const json& rec, const std::string& flag) {
  if (!rec.contains("flags")) return false;
  for (const auto& f : rec["flags"]) {
    if (f == flag) return true;
  }
  return false;
}

bool anomaly_starts(const Parsed& p, const std::string& prefix) {
  for (const auto& a : p.anomalies) {
    if (a.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string k_tcp_header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const std::string k_tcp6_header =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n";

// One /proc/net/tcp line as get_tcp4_sock prints it.
std::string inet_line(const std::string& local, const std::string& remote, const std::string& st,
                      const std::string& uid = "1000", const std::string& inode = "31337") {
  return "   0: " + local + " " + remote + " " + st + " 00000000:00000000 00:00000000 00000000  " + uid +
         "        0 " + inode + " 1 0000000000000000 100 0 0 10 0\n";
}

// /proc/<pid>/stat with 52 fields, as fs/proc/array.c do_task_stat prints it.
}  // namespace

// ---- /proc/net/{tcp,udp,raw}[6] ------------------------------------------------------------------

TEST_CASE("procfs: parse_net_inet: kernel lines decode to addresses, ports, states") {
  struct Case {
    const char* what;
    NetTable table;
    ByteOrder order;
    std::string line;
    std::string local_ip;
    int local_port;
    std::string remote_ip;
    int remote_port;
    std::string state;
    unsigned uid;
    std::uint64_t inode;
  };
  const Case cases[] = {
      {"listener from this machine", NetTable::tcp, ByteOrder::little,
       "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 512 1 "
       "00000000089c5dd7 100 0 0 10 0                       \n",
       "0.0.0.0", 2024, "0.0.0.0", 0, "LISTEN", 0, 512},
      {"pod address, little-endian", NetTable::tcp, ByteOrder::little, inet_line("0E00F40A:1F90", "0701F40A:01BB", "01"),
       "10.244.0.14", 8080, "10.244.1.7", 443, "ESTABLISHED", 1000, 31337},
      {"big-endian node (s390x)", NetTable::tcp, ByteOrder::big, inet_line("0AF4000E:1F90", "7F000001:0016", "01"),
       "10.244.0.14", 8080, "127.0.0.1", 22, "ESTABLISHED", 1000, 31337},
      {"lower-case hex", NetTable::tcp, ByteOrder::little, inet_line("0100007f:1f90", "00000000:0000", "0a"),
       "127.0.0.1", 8080, "0.0.0.0", 0, "LISTEN", 1000, 31337},
      {"closing", NetTable::tcp, ByteOrder::little, inet_line("0100007F:1F90", "0100007F:D2F4", "0B"), "127.0.0.1",
       8080, "127.0.0.1", 54004, "CLOSING", 1000, 31337},
      {"TCP 07 is CLOSE", NetTable::tcp, ByteOrder::little, inet_line("0100007F:1F90", "00000000:0000", "07"),
       "127.0.0.1", 8080, "0.0.0.0", 0, "CLOSE", 1000, 31337},
      {"unknown state code kept", NetTable::tcp, ByteOrder::little, inet_line("0100007F:1F90", "00000000:0000", "0D"),
       "127.0.0.1", 8080, "0.0.0.0", 0, "UNKNOWN_0D", 1000, 31337},
      {"TIME_WAIT: short line, inode 0", NetTable::tcp, ByteOrder::little,
       "   5: 0100007F:1F90 0100007F:D2F4 06 00000000:00000000 03:00001770 00000000     0        0 0 3 "
       "0000000000000000\n",
       "127.0.0.1", 8080, "127.0.0.1", 54004, "TIME_WAIT", 0, 0},
      {"UDP 07 is UNCONN", NetTable::udp, ByteOrder::little,
       "  512: 0A00000A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4242 2 "
       "0000000000000000 0\n",
       "10.0.0.10", 53, "0.0.0.0", 0, "UNCONN", 101, 4242},
      {"connected UDP", NetTable::udp, ByteOrder::little, inet_line("0E00F40A:A1B2", "0A00600A:0035", "01"),
       "10.244.0.14", 41394, "10.96.0.10", 53, "ESTABLISHED", 1000, 31337},
      {"raw: the local port is the protocol", NetTable::raw, ByteOrder::little,
       "   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9001 2 "
       "0000000000000000 0\n",
       "0.0.0.0", 1, "0.0.0.0", 0, "UNCONN", 0, 9001},
      {"IPv6 loopback", NetTable::tcp6, ByteOrder::little,
       inet_line("00000000000000000000000001000000:1F90", "00000000000000000000000000000000:0000", "0A"), "::1", 8080,
       "::", 0, "LISTEN", 1000, 31337},
      {"IPv4-mapped", NetTable::tcp6, ByteOrder::little,
       inet_line("0000000000000000FFFF00000E00F40A:1F90", "0000000000000000FFFF00000701F40A:01BB", "01"),
       "::ffff:10.244.0.14", 8080, "::ffff:10.244.1.7", 443, "ESTABLISHED", 1000, 31337},
      {"link-local, RFC 5952 compression", NetTable::udp6, ByteOrder::little,
       inet_line("000080FE00000000FF2E00A81FC9B6FE:0222", "B80D0120000000000000000001000000:0223", "01"),
       "fe80::a800:2eff:feb6:c91f", 546, "2001:db8::1", 547, "ESTABLISHED", 1000, 31337},
      {"IPv6 big-endian", NetTable::raw6, ByteOrder::big,
       inet_line("20010DB8000000000000000000000001:003A", "00000000000000000000000000000000:0000", "07"), "2001:db8::1",
       58, "::", 0, "UNCONN", 1000, 31337},
      {"single zero group is not compressed", NetTable::tcp6, ByteOrder::big,
       inet_line("20010DB8000000010001000100010001:0050", "00000000000000000000000000000000:0000", "0A"),
       "2001:db8:0:1:1:1:1:1", 80, "::", 0, "LISTEN", 1000, 31337},
      {"largest uid and inode", NetTable::tcp, ByteOrder::little,
       inet_line("0100007F:FFFF", "00000000:0000", "0A", "4294967295", "18446744073709551615"), "127.0.0.1", 65535,
       "0.0.0.0", 0, "LISTEN", 4294967295U, 18446744073709551615ULL},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const std::string header = c.table == NetTable::tcp6 || c.table == NetTable::udp6 || c.table == NetTable::raw6
                                   ? k_tcp6_header
                                   : k_tcp_header;
    const auto p = parse_net_inet(header + c.line, c.table, c.order);
    check_safe(p);
    REQUIRE(p.parsed == 1);
    CHECK(p.unparsed == 0);
    const auto& r = p.records[0];
    CHECK(r["kind"] == "socket");
    CHECK(r["proto"] == to_string(c.table));
    CHECK(r["local_ip"] == c.local_ip);
    CHECK(r["local_port"] == c.local_port);
    CHECK(r["remote_ip"] == c.remote_ip);
    CHECK(r["remote_port"] == c.remote_port);
    CHECK(r["state"] == c.state);
    CHECK(r["uid"] == c.uid);
    CHECK(r["inode"] == c.inode);
    CHECK(r["line"] == 2);
  }
}

TEST_CASE("procfs: parse_net_inet: malformed and hostile lines are kept unparsed, escaped and bounded") {
  const std::string good = inet_line("0100007F:1F90", "00000000:0000", "0A");
  const std::string good6 = inet_line("00000000000000000000000001000000:1F90", "00000000000000000000000000000000:0000", "0A");
  struct Case {
    const char* what;
    NetTable table;
    std::string line;  // without the final newline
    std::string reason_part;
  };
  const Case cases[] = {
      {"too few fields", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",
       "fields"},
      {"bad hex in the address", NetTable::tcp, "   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
                                                "00000000 0 0 1 1",
       "local address"},
      {"IPv6 address in the IPv4 table", NetTable::tcp,
       "   0: 00000000000000000000000001000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
       "local address"},
      {"IPv4 address in the IPv6 table", NetTable::tcp6,
       "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1", "local address"},
      {"5-digit port", NetTable::tcp, "   0: 0100007F:11F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
       "local address"},
      {"no port", NetTable::tcp, "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
       "local address"},
      {"negative uid", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1",
       "uid"},
      {"overflowing uid", NetTable::tcp,
       "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1", "uid"},
      {"overflowing inode", NetTable::tcp,
       "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 18446744073709551616", "inode"},
      {"+ sign", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 +5 0 1",
       "uid"},
      {"3-digit state", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0AA 00000000:00000000 00:00000000 00000000 0 0 1",
       "state"},
      {"bad queue", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0A 0000000:00000000 00:00000000 00000000 0 0 1",
       "tx_queue"},
      {"bad slot", NetTable::tcp, "   x: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
       "slot"},
      {"too many fields", NetTable::tcp, "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"
                                         " 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
       "too many"},
      {"terminal escape garbage", NetTable::tcp, "\x1b]0;pwned\x07\x1b[2J   0: evil", "fields"},
      {"non-UTF-8 bytes", NetTable::tcp, "\xff\xfe\x80 garbage \xc3", "fields"},
      {"NUL bytes", NetTable::tcp, "   0: 0100007F:1F90\0 00000000:0000"s, "fields"},
      {"1 MiB line", NetTable::tcp, std::string(1 << 20, 'A'), "overlong"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto& g = c.table == NetTable::tcp6 ? good6 : good;
    const auto p = parse_net_inet(k_tcp_header + g + c.line + "\n" + g, c.table);
    check_safe(p);
    const auto unparsed = of_kind(p, "unparsed");
    REQUIRE(unparsed.size() == 1);
    CHECK(p.unparsed == 1);
    CHECK(unparsed[0]["line"] == 3);
    CHECK(unparsed[0]["reason"].get<std::string>().find(c.reason_part) != std::string::npos);
    const auto raw = unparsed[0]["raw"].get<std::string>();
    CHECK(raw.size() <= 512 * 4 + 32);  // 512 bytes escaped (at most \xNN each) and the cut note
    CHECK(p.parsed == 2);  // the good lines around it still parse
  }
  SUBCASE("escaped raw keeps the bytes visibly") {
    const auto p = parse_net_inet("\x1b[31mred\xff\n", NetTable::tcp);
    REQUIRE(p.unparsed == 1);
    CHECK(p.records[0]["raw"] == "\\x1b[31mred\\xff");
  }
  SUBCASE("a final line without newline is truncated output") {
    const auto cut = good.substr(0, good.size() - 20);
    const auto p = parse_net_inet(k_tcp_header + good + cut, NetTable::tcp);
    CHECK(p.parsed == 1);
    REQUIRE(p.unparsed == 1);
    CHECK(p.records[1]["reason"].get<std::string>().rfind("truncated", 0) == 0);
  }
  SUBCASE("a line cut at a field boundary is not trusted either") {
    const auto p = parse_net_inet(k_tcp_header + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
                                                 "00000000  1000        0 313",
                                  NetTable::tcp);
    CHECK(p.parsed == 0);
    CHECK(p.unparsed == 1);
  }
  SUBCASE("empty input, header only, blank lines, concatenated files") {
    CHECK(parse_net_inet("", NetTable::tcp).records.empty());
    CHECK(parse_net_inet(k_tcp_header, NetTable::tcp).records.empty());
    const auto p = parse_net_inet(k_tcp_header + good + "\n\n" + k_tcp_header + good, NetTable::tcp);
    CHECK(p.parsed == 2);
    CHECK(p.unparsed == 0);
  }
  SUBCASE("interleaved garbage: every line accounted for, in order") {
    std::string text = k_tcp_header;
    for (int i = 0; i < 50; ++i) text += i % 2 == 0 ? good : "junk " + std::to_string(i) + "\n";
    const auto p = parse_net_inet(text, NetTable::tcp);
    check_safe(p);
    CHECK(p.parsed == 25);
    CHECK(p.unparsed == 25);
    CHECK(p.records[1]["raw"] == "junk 1");
  }
  SUBCASE("record limit: the rest is counted, not kept") {
    std::string text;
    for (int i = 0; i < 10; ++i) text += good;
    Limits limits;
    limits.max_records = 3;
    const auto p = parse_net_inet(text, NetTable::tcp, ByteOrder::little, limits);
    CHECK(p.records.size() == 3);
    CHECK(p.dropped == 7);
    CHECK_FALSE(p.anomalies.empty());
  }
}

// ---- /proc/net/unix -----------------------------------------------------------------------------

TEST_CASE("procfs: parse_net_unix: paths, abstract names, types and states") {
  const std::string header = "Num       RefCount Protocol Flags    Type St Inode Path\n";
  struct Case {
    const char* what;
    std::string line;
    std::string path;
    bool abstract;
    std::uint64_t inode;
    std::string type;
    std::string state;
  };
  const Case cases[] = {
      {"unbound (this machine)", "0000000095c17905: 00000003 00000000 00000000 0001 03   509\n", "", false, 509,
       "STREAM", "CONNECTED"},
      {"listening socket", "0000000000000000: 00000002 00000000 00010000 0001 01 21456 /run/containerd/s.sock\n",
       "/run/containerd/s.sock", false, 21456, "STREAM", "LISTEN"},
      {"abstract, NULs shown as @", "0000000000000000: 00000002 00000000 00000000 0002 01 777 @/shim/abc@x\n",
       "@/shim/abc@x", true, 777, "DGRAM", "UNCONNECTED"},
      {"seqpacket connecting", "0000000000000000: 00000002 00000000 00000000 0005 02 778 /a\n", "/a", false, 778,
       "SEQPACKET", "CONNECTING"},
      {"spaces in the path", "0000000000000000: 00000002 00000000 00000000 0001 03 779 /run/my app.sock\n",
       "/run/my app.sock", false, 779, "STREAM", "CONNECTED"},
      {"path starting with a space", "0000000000000000: 00000002 00000000 00000000 0001 03 780  lead\n", " lead",
       false, 780, "STREAM", "CONNECTED"},
      {"escape sequence in the path", "0000000000000000: 00000002 00000000 00000000 0001 03 781 /tmp/\x1b[2Jx\n",
       "/tmp/\\x1b[2Jx", false, 781, "STREAM", "CONNECTED"},
      {"non-UTF-8 path", "0000000000000000: 00000002 00000000 00000000 0001 03 782 /tmp/\xff\xfe\n", "/tmp/\\xff\\xfe",
       false, 782, "STREAM", "CONNECTED"},
      {"unknown type and state", "0000000000000000: 00000002 00000000 00000000 0009 07 783\n", "", false, 783,
       "UNKNOWN_0009", "UNKNOWN_07"},
      {"disconnecting", "0000000000000000: 00000002 00000000 00000000 0001 04 784\n", "", false, 784, "STREAM",
       "DISCONNECTING"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto p = parse_net_unix(header + c.line);
    check_safe(p);
    REQUIRE(p.parsed == 1);
    CHECK(p.unparsed == 0);
    const auto& r = p.records[0];
    CHECK(r["kind"] == "unix_socket");
    CHECK(r["path"] == c.path);
    CHECK(r["abstract"] == c.abstract);
    CHECK(r["inode"] == c.inode);
    CHECK(r["type"] == c.type);
    CHECK(r["state"] == c.state);
  }
}

TEST_CASE("procfs: parse_net_unix: malformed lines") {
  const std::string ok = "0000000000000000: 00000002 00000000 00000000 0001 03 779 /ok\n";
  check_counts(
      {
          {"a newline in a path: the tail is unparsed",
           "0000000000000000: 00000002 00000000 00000000 0001 03 779 /tmp/a\nb c d\n", 1, 1},
          {"path longer than sun_path",
           "0000000000000000: 00000002 00000000 00000000 0001 03 779 /" + std::string(120, 'p') + "\n", 0, 1},
          {"bad type", "0000000000000000: 00000002 00000000 00000000 00X1 03 779\n", 0, 1},
          {"missing inode", "0000000000000000: 00000002 00000000 00000000 0001 03\n", 0, 1},
          {"negative inode", "0000000000000000: 00000002 00000000 00000000 0001 03 -1\n", 0, 1},
          {"tab before the path", "0000000000000000: 00000002 00000000 00000000 0001 03 779\t/x\n", 0, 1},
          {"no colon after Num", "0000000000000000 00000002 00000000 00000000 0001 03 779\n", 0, 1},
          {"1 MiB line", std::string(1 << 20, '0') + "\n", 0, 1},
          {"truncated last line", ok + "0000000000000000: 00000002 00000000 00000000 0001 03 7", 1, 1},
          {"garbage interleaved", ok + "\x1b[?1049h\n" + ok + "\xff\n" + ok, 3, 2},
      },
      [](const std::string& text) { return parse_net_unix(text); });
}

// ---- /proc/<pid>/stat and status -------------------------------------------------------------------

TEST_CASE("procfs: parse_stat: comm between the first '(' and the last ')'") {
  struct Case {
    const char* what;
    std::string content;
    std::int64_t pid;
    std::string comm;
    char state;
    std::int64_t ppid;
    std::uint64_t starttime;
  };
  const Case cases[] = {
      {"plain", make_stat("1234", "nginx", "S", "1", "805984"), 1234, "nginx", 'S', 1, 805984},
      {"this machine's format",
       "17356 (cat) R 17352 17352 14764 0 -1 4194304 98 0 1 0 0 0 0 0 20 0 1 0 805984 3133440 381 "
       "18446744073709551615 94300563329024 94300563348905 140735122485328 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
       "94300563364912 94300563366528 94301170872320 140735122487945 140735122487965 140735122487965 "
       "140735122489323 0\n",
       17356, "cat", 'R', 17352, 805984},
      {"spaces", make_stat("7", "Web Content"), 7, "Web Content", 'S', 1, 805984},
      {"') 1 2 (' inside comm", make_stat("8", ") 1 2 (", "Z", "5"), 8, ") 1 2 (", 'Z', 5, 805984},
      {"comm forging whole fields", make_stat("9", "x) R 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 999"), 9,
       "x) R 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 999", 'S', 1, 805984},
      {"newline in comm", make_stat("10", "a\nb"), 10, "a\nb", 'S', 1, 805984},
      {"escape sequence in comm", make_stat("11", "\x1b]0;x\x07"), 11, "\x1b]0;x\x07", 'S', 1, 805984},
      {"non-UTF-8 comm", make_stat("12", "\xff\xfe"), 12, "\xff\xfe", 'S', 1, 805984},
      {"empty comm", make_stat("13", ""), 13, "", 'S', 1, 805984},
      {"kworker with a long name", make_stat("14", "kworker/u8:0-events_unbound", "I", "2"), 14,
       "kworker/u8:0-events_unbound", 'I', 2, 805984},
      {"no trailing newline (starttime still whole)", make_stat("15", "sh").substr(0, make_stat("15", "sh").size() - 1),
       15, "sh", 'S', 1, 805984},
      {"ppid 0", make_stat("1", "init", "S", "0"), 1, "init", 'S', 0, 805984},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    auto st = parse_stat(c.content);
    REQUIRE(st);
    CHECK(st->pid == c.pid);
    CHECK(st->comm == c.comm);
    CHECK(st->state == c.state);
    CHECK(st->ppid == c.ppid);
    CHECK(st->starttime == c.starttime);
  }
}

TEST_CASE("procfs: parse_stat: failures") {
  const std::string full = make_stat("42", "sh");
  struct Case {
    const char* what;
    std::string content;
  };
  const Case cases[] = {
      {"empty", ""},
      {"no parentheses", "42 sh S 1 2 3\n"},
      {"only '('", "42 (sh S 1\n"},
      {"')' before '('", "42 )sh( S 1\n"},
      {"negative pid", make_stat("-5", "sh")},
      {"pid 0", make_stat("0", "sh")},
      {"overflowing pid", make_stat("99999999999", "sh")},
      {"pid with +", make_stat("+5", "sh")},
      {"no space before '('", "42(sh) S 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 2\n"},
      {"two-letter state", make_stat("42", "sh", "SS")},
      {"digit state", make_stat("42", "sh", "1")},
      {"negative ppid", make_stat("42", "sh", "S", "-1")},
      {"overflowing ppid", make_stat("42", "sh", "S", "9223372036854775808")},
      {"starttime not a number", make_stat("42", "sh", "S", "1", "12x")},
      {"negative starttime", make_stat("42", "sh", "S", "1", "-12")},
      {"overflowing starttime", make_stat("42", "sh", "S", "1", "18446744073709551616")},
      {"cut before starttime", full.substr(0, full.find(" 805984"))},
      {"cut right after starttime", full.substr(0, full.find(" 3133440"))},
      {"a second line", full + "junk\n"},
      {"no fields after comm", "42 (sh)\n"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto st = parse_stat(c.content);
    CHECK_FALSE(st);
    const auto p = parse_stat_file(c.content);
    check_safe(p);
    CHECK(p.unparsed == 1);
    CHECK(p.parsed == 0);
  }
  SUBCASE("a 1 MiB stat is unparsed, bounded") {
    const auto p = parse_stat_file(make_stat("42", std::string(1 << 20, 'x')));
    CHECK(p.unparsed == 1);
    CHECK(p.records[0]["raw"].get<std::string>().size() < 1024);
  }
}

TEST_CASE("procfs: parse_stat_file: records escape comm") {
  const auto p = parse_stat_file(make_stat("77", "evil\x1b[31m\n) 1 2 ("));
  check_safe(p);
  REQUIRE(p.parsed == 1);
  const auto& r = p.records[0];
  CHECK(r["kind"] == "process");
  CHECK(r["pid"] == 77);
  CHECK(r["comm"] == "evil\\x1b[31m\\n) 1 2 (");
  CHECK(r["state"] == "S");
  CHECK(r["ppid"] == 1);
  CHECK(r["starttime"] == 805984);
}

TEST_CASE("procfs: parse_status: Uid real effective saved fs") {
  SUBCASE("kernel format") {
    const auto st = parse_status(make_status("nginx", "42", "101\t102\t103\t104"));
    REQUIRE(st);
    CHECK(st->uid == std::array<std::uint32_t, 4>{101, 102, 103, 104});
    REQUIRE(st->gid);
    CHECK((*st->gid)[0] == 1000);
    CHECK(st->pid == 42);
    CHECK(st->ppid == 1);
    CHECK(st->name == "nginx");
    CHECK(st->bad_lines == 0);
  }
  SUBCASE("this machine's own status") {
    const auto st = parse_status(read_file("/proc/self/status"));
    REQUIRE(st);
    CHECK(st->uid[0] == getuid());
    CHECK(st->uid[1] == geteuid());
    CHECK(st->pid == getpid());
  }
  struct Bad {
    const char* what;
    std::string content;
  };
  const Bad bad[] = {
      {"no Uid", "Name:\tx\nPid:\t1\n"},
      {"three uids", make_status("x", "1", "1\t2\t3")},
      {"five uids", make_status("x", "1", "1\t2\t3\t4\t5")},
      {"negative uid", make_status("x", "1", "-1\t0\t0\t0")},
      {"overflowing uid", make_status("x", "1", "4294967296\t0\t0\t0")},
      {"two Uid lines (forged)", make_status("x", "1") + "Uid:\t0\t0\t0\t0\n"},
      {"two Pid lines", make_status("x", "1") + "Pid:\t2\n"},
      {"bad Pid", make_status("x", "abc")},
  };
  for (const auto& b : bad) {
    CAPTURE(b.what);
    CHECK_FALSE(parse_status(b.content));
    const auto p = parse_status_file(b.content);
    check_safe(p);
    CHECK(p.unparsed >= 1);
  }
  SUBCASE("garbage lines are counted and kept unparsed, the record still parses") {
    const auto text = make_status("a\\nb \x1b", "5") + "\x1b[2J no colon here\n\xff\xfe\n";
    const auto st = parse_status(text);
    REQUIRE(st);
    CHECK(st->bad_lines == 2);
    const auto p = parse_status_file(text);
    check_safe(p);
    CHECK(p.parsed == 1);
    CHECK(p.unparsed == 2);
    CHECK(p.records[0]["name"] == "a\\\\nb \\x1b");
    CHECK(p.records[0]["uid"]["effective"] == 1000);
  }
}

// ---- ps ---------------------------------------------------------------------------------------------

TEST_CASE("procfs: parse_ps: busybox and procps formats by header") {
  struct Case {
    const char* what;
    std::string text;
    std::size_t parsed;
    json first;  // expected fields of the first record (subset)
  };
  const Case cases[] = {
      {"busybox default (this machine)",
       "PID   USER     COMMAND\n    1 root     /process_api --firecracker-init --addr 0.0.0.0:2024\n"
       "    2 root     [kthreadd]\n",
       2, json{{"pid", 1}, {"user", "root"}, {"args", "/process_api --firecracker-init --addr 0.0.0.0:2024"}}},
      {"busybox with TIME", "PID   USER     TIME  COMMAND\n    1 root      0:00 sh -c sleep 1000\n", 1,
       json{{"pid", 1}, {"user", "root"}, {"time", "0:00"}, {"args", "sh -c sleep 1000"}}},
      {"busybox desktop default", "  PID USER       VSZ STAT COMMAND\n    1 root      1536 S    /bin/sh\n", 1,
       json{{"pid", 1}, {"vsz", "1536"}, {"stat", "S"}, {"args", "/bin/sh"}}},
      {"busybox -o pid,ppid,user,stat,vsz,etime,args",
       "PID   PPID  USER     STAT   VSZ ELAPSED COMMAND\n   12     1 nobody   S      41m   12:05 /usr/bin/miner -o pool\n",
       1,
       json{{"pid", 12},
            {"ppid", 1},
            {"user", "nobody"},
            {"stat", "S"},
            {"vsz", "41m"},
            {"elapsed_seconds", 725},
            {"args", "/usr/bin/miner -o pool"}}},
      {"procps wide (this machine)",
       "  PID  PPID   UID USER     STAT                  STARTED ELAPSED COMMAND         COMMAND\n"
       "    1     0     0 root     S<Ll Sat Nov 21 16:28:14 2026    7922 process_api     /process_api --addr "
       "0.0.0.0:2024\n"
       "    3     2     0 root     S    Sat Nov 21 16:28:14 2026    7922 pool_workqueue_ [pool_workqueue_release]\n",
       2,
       json{{"pid", 1},
            {"ppid", 0},
            {"uid", 0},
            {"user", "root"},
            {"stat", "S<Ll"},
            {"started", "Sat Nov 21 16:28:14 2026"},
            {"elapsed_seconds", 7922},
            {"comm", "process_api"},
            {"args", "/process_api --addr 0.0.0.0:2024"}}},
      {"procps: comm with spaces",
       "  PID  PPID   UID USER     STAT                  STARTED ELAPSED COMMAND         COMMAND\n"
       "  812     1  1000 app      Sl   Sat Nov 21 16:30:00 2026     120 Web Content     /usr/lib/firefox -contentproc\n",
       1, json{{"pid", 812}, {"comm", "Web Content"}, {"args", "/usr/lib/firefox -contentproc"}, {"uid", 1000}}},
      {"procps: comm of exactly 15 bytes",
       "  PID  PPID   UID USER     STAT                  STARTED ELAPSED COMMAND         COMMAND\n"
       "    3     2     0 root     S    Sat Nov 21 16:28:14 2026    7922 pool_workqueue_ [pool_workqueue_release]\n",
       1, json{{"comm", "pool_workqueue_"}, {"args", "[pool_workqueue_release]"}}},
      {"procps: shifted columns make comm ambiguous",
       "  PID  PPID   UID USER     STAT                  STARTED ELAPSED COMMAND         COMMAND\n"
       "    9     1 1000680000 app Ss Sat Nov 21 16:30:00 2026 120 sh /bin/sh -c x\n",
       1, json{{"uid", 1000680000}, {"comm", "sh"}, {"args", "/bin/sh -c x"}, {"comm_ambiguous", true}}},
      {"procps etime and days", "  PID ELAPSED CMD\n    5 2-03:04:05 /bin/x\n", 1,
       json{{"pid", 5}, {"elapsed_seconds", 2 * 86400 + 3 * 3600 + 4 * 60 + 5}, {"args", "/bin/x"}}},
      {"hh:mm:ss", "  PID ELAPSED CMD\n    5 01:00:00 /bin/x\n", 1, json{{"elapsed_seconds", 3600}}},
      {"args with escape sequences are escaped", "PID USER COMMAND\n 66 root \x1b]0;hi\x07sh \xff\n", 1,
       json{{"args", "\\x1b]0;hi\\x07sh \\xff"}}},
      {"empty args (last column)", "PID USER COMMAND\n 66 root\n", 1, json{{"args", ""}}},
      {"token columns only", "  PID  PPID\n    1     0\n", 1, json{{"pid", 1}, {"ppid", 0}}},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto p = parse_ps(c.text);
    check_safe(p);
    CHECK(p.unparsed == 0);
    REQUIRE(p.parsed == c.parsed);
    const auto& r = p.records[0];
    CHECK(r["kind"] == "process");
    CHECK(r["source"] == "ps");
    for (const auto& item : c.first.items()) {
      const std::string key = item.key();
      CAPTURE(key);
      REQUIRE(r.contains(key));
      CHECK(r[key] == item.value());
    }
  }
}

TEST_CASE("procfs: parse_ps: hostile and malformed output") {
  const std::string bb = "PID   USER     TIME  COMMAND\n";
  check_counts(
      {
          {"unknown header: every line kept unparsed", "PID FOO COMMAND\n 1 x sh\n 2 y sh\n", 0, 3},
          {"header without PID", "USER COMMAND\nroot sh\n", 0, 2},
          {"repeated column", "PID PID COMMAND\n1 1 sh\n", 0, 2},
          {"header with escapes", "PID \x1b[2J COMMAND\n1 x sh\n", 0, 2},
          {"negative pid", bb + "   -1 root      0:00 sh\n", 0, 1},
          {"pid 0", bb + "    0 root      0:00 sh\n", 0, 1},
          {"overflowing pid", bb + " 99999999999999999999 root 0:00 sh\n", 0, 1},
          {"missing field", bb + "    1 root\n", 0, 1},
          {"extra field (no rest-of-line column)", "  PID  PPID\n    1     0 7\n", 0, 1},
          {"bad elapsed", "  PID ELAPSED CMD\n    5 1:2 /bin/x\n", 0, 1},
          {"bad minutes", "  PID ELAPSED CMD\n    5 10:75 /bin/x\n", 0, 1},
          {"lstart with 4 tokens", "  PID                  STARTED CMD\n    5 Sat Nov 21 16:28:14\n", 0, 1},
          {"lstart malformed", "  PID                  STARTED CMD\n    5 Sat Nov xx 16:28:14 2026 /x\n", 0, 1},
          {"a newline in args: the tail is unparsed", bb + "    7 root      0:00 sh -c 'a\nb c'\n", 1, 1},
          {"interleaved garbage", bb + "    1 root 0:00 init\n\x1b[31mgarbage\n    2 root 0:00 sh\n\xff\xfe\n", 2, 2},
          {"truncated last line", bb + "    1 root 0:00 init\n    2 root 0:00 s", 1, 1},
          {"1 MiB args line", bb + "    1 root 0:00 " + std::string(1 << 20, 'a') + "\n    2 root 0:00 sh\n", 1, 1},
          {"empty output", "", 0, 0},
          {"header only", bb, 0, 0},
      },
      [](const std::string& text) { return parse_ps(text); });
  SUBCASE("a forged line through a newline in args parses as a line: the documented residual risk") {
    const auto p = parse_ps(bb + "    7 root 0:00 x\n    1 root 0:00 /sbin/init\n");
    CHECK(p.parsed == 2);
  }
  SUBCASE("long fields are cut at max_field_bytes") {
    Limits limits;
    limits.max_field_bytes = 100;
    const auto p = parse_ps(bb + "    1 root 0:00 " + std::string(5000, 'a') + "\n", limits);
    REQUIRE(p.parsed == 1);
    CHECK(p.records[0]["args"].get<std::string>().find("more bytes") != std::string::npos);
    CHECK(p.records[0]["args"].get<std::string>().size() < 200);
  }
}

namespace {

// Newlines in the names and command lines of this machine's processes (the comm's own final '\n'
// aside): each may split a ps line in two, leaving an unparsed half (the residual risk parse_ps
// documents). Other test suites on a shared machine run exactly such processes (the fake
// cluster's hostile pods).
std::size_t newlines_in_process_names() {
  std::size_t n = 0;
  for (const auto& dir : std::filesystem::directory_iterator("/proc")) {
    const auto name = dir.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    for (const char* file : {"comm", "cmdline"}) {
      std::ifstream in(dir.path() / file, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (std::string_view(file) == "comm" && !text.empty() && text.back() == '\n') text.pop_back();
      n += static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    }
  }
  return n;
}

}  // namespace

TEST_CASE("procfs: parse_ps: this machine's procps and busybox output") {
  ir::util::RealProcessRunner runner;
  struct Case {
    const char* what;
    std::vector<std::string> argv;
  };
  const Case cases[] = {
      {"procps wide", {"ps", "-eo", "pid,ppid,uid,user,stat,lstart,etimes,comm,args", "-ww"}},
      {"busybox default", {"busybox", "ps"}},
      {"busybox -o", {"busybox", "ps", "-o", "pid,ppid,user,stat,vsz,args"}},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    ir::util::ProcessSpec spec;
    spec.argv = c.argv;
    spec.max_output = 16 * 1024 * 1024;
    const auto r = runner.run(spec);
    if (!r || r->exit_code != 0) {
      MESSAGE("skipped: " << c.what << " not available");
      continue;
    }
    const auto p = parse_ps(r->out);
    check_safe(p);
    CHECK(p.unparsed <= newlines_in_process_names());
    CHECK(p.parsed >= 2);
    bool found_self = false;
    for (const auto& rec : p.records) found_self = found_self || rec.value("pid", json(-1)) == getpid();
    CHECK(found_self);
  }
}

// ---- the /proc walk ----------------------------------------------------------------------------------

namespace {

const json* find_pid(const Parsed& p, std::int64_t pid) {
  for (const auto& r : p.records) {
    if (r.value("kind", "") == "process" && r["pid"] == pid) return &r;
  }
  return nullptr;
}

std::size_t count_pid(const Parsed& p, std::int64_t pid) {
  std::size_t n = 0;
  for (const auto& r : p.records) n += r.value("kind", "") == "process" && r["pid"] == pid ? 1U : 0U;
  return n;
}

}  // namespace

TEST_CASE("procfs: proc_walk_script and boundaries") {
  CHECK(is_valid_boundary(k_b));
  const auto b1 = make_boundary();
  const auto b2 = make_boundary();
  CHECK(b1.size() == 32);
  CHECK(is_valid_boundary(b1));
  CHECK(b1 != b2);
  struct Case {
    const char* what;
    std::string boundary;
    bool valid;
  };
  const Case cases[] = {
      {"too short", "abc", false},        {"16 chars", std::string(16, 'a'), true},
      {"65 chars", std::string(65, 'a'), false}, {"quote", "0123456789abcdef'", false},
      {"space", "0123456789 abcdef", false},     {"dollar", "0123456789abcdef$x", false},
      {"newline", "0123456789abcdef\n", false},  {"empty", "", false},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    CHECK(is_valid_boundary(c.boundary) == c.valid);
    const auto script = proc_walk_script(c.boundary);
    CHECK((script.find("invalid walk boundary") != std::string::npos) == !c.valid);
  }
  SUBCASE("an invalid boundary makes a script that fails without output") {
    ir::util::RealProcessRunner runner;
    ir::util::ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", proc_walk_script("bad'; rm -rf /; '")};
    const auto r = runner.run(spec);
    REQUIRE(r);
    CHECK(r->exit_code == 2);
    CHECK(r->out.empty());
  }
}

TEST_CASE("procfs: parse_proc_walk: well-formed output") {
  WalkOut w;
  w.begin(" 1 42").proc("1", "init", "/sbin/init\0"s, "3 socket:[555]\n7 socket:[556]\n");
  w.proc("42", "evil\x1b[2J name", "/tmp/.x/miner\0-o\0pool:\xff\0"s).end("2");
  const auto p = parse_proc_walk(w.s, k_b);
  check_safe(p);
  CHECK(p.anomalies.empty());
  CHECK(p.unparsed == 0);
  REQUIRE(p.parsed == 2);
  const auto* init = find_pid(p, 1);
  REQUIRE(init);
  CHECK((*init)["comm"] == "init");
  CHECK((*init)["state"] == "S");
  CHECK((*init)["ppid"] == 1);
  CHECK((*init)["starttime"] == 805984);
  CHECK((*init)["uid"]["real"] == 1000);
  CHECK((*init)["cmdline"] == json::array({"/sbin/init"}));
  CHECK((*init)["exe"] == "/bin/busybox");
  CHECK((*init)["cwd"] == "/");
  CHECK((*init)["sockets"] == json::parse(R"([{"fd":3,"inode":555},{"fd":7,"inode":556}])"));
  CHECK((*init)["flags"].empty());
  const auto* evil = find_pid(p, 42);
  REQUIRE(evil);
  CHECK((*evil)["comm"] == "evil\\x1b[2J name");
  CHECK((*evil)["cmdline"] == json::array({"/tmp/.x/miner", "-o", "pool:\\xff"}));
}

TEST_CASE("procfs: parse_proc_walk: section contents") {
  struct Case {
    const char* what;
    std::string cmdline;
    json expected;
  };
  const Case cases[] = {
      {"kernel thread: empty", "", json::array()},
      {"rewritten args without NUL", "nginx: worker process", json::array({"nginx: worker process"})},
      {"empty argument kept", "a\0\0b\0"s, json::array({"a", "", "b"})},
      {"newline and boundary-like text in an argument", "x\n" + k_b.substr(0, 20) + " pid 1\0"s,
       json::array({"x\\n" + k_b.substr(0, 20) + " pid 1"})},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    WalkOut w;
    w.begin(" 5").proc("5", "x", c.cmdline).end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.anomalies.empty());
    const auto* r = find_pid(p, 5);
    REQUIRE(r);
    CHECK((*r)["cmdline"] == c.expected);
  }
  SUBCASE("more than 256 args are cut and counted") {
    std::string many;
    for (int i = 0; i < 300; ++i) many += "a" + std::string(1, '\0');
    WalkOut w;
    w.begin(" 5").proc("5", "x", many).end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    const auto* r = find_pid(p, 5);
    REQUIRE(r);
    CHECK((*r)["cmdline"].size() == 256);
    CHECK((*r)["cmdline_args_total"] == 300);
  }
  SUBCASE("failed reads are errors, not records") {
    WalkOut w;
    w.begin(" 5").marker("pid 5").section("stat", "", "1").section("status", "", "1").section("cmdline", "", "1");
    w.section("exe", "", "1").section("cwd", "", "2").section("fds", "", "0").end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.anomalies.empty());
    const auto* r = find_pid(p, 5);
    REQUIRE(r);
    CHECK((*r)["errors"]["stat"] == "exit status 1");
    CHECK((*r)["errors"]["cwd"] == "exit status 2");
    CHECK_FALSE(r->contains("comm"));
    CHECK((*r)["flags"].empty());
  }
  SUBCASE("bad stat and bad fd lines are unparsed records") {
    WalkOut w;
    w.begin(" 5").marker("pid 5").section("stat", "garbage \x1b[2J\n").section("status", make_status("x", "5"));
    w.section("cmdline", "x").section("exe", "/x\n").section("cwd", "/\n");
    w.section("fds", "3 socket:[1]\n4 /etc/passwd\nx socket:[2]\n5 socket:[-1]\n").end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.unparsed == 4);
    const auto* r = find_pid(p, 5);
    REQUIRE(r);
    CHECK((*r)["sockets"] == json::parse(R"([{"fd":3,"inode":1}])"));
    CHECK((*r)["errors"].contains("stat"));
  }
  SUBCASE("readlink missing is reported") {
    WalkOut w;
    w.begin(" 5", "no").marker("pid 5").section("stat", make_stat("5", "x")).section("status", make_status("x", "5"));
    w.section("cmdline", "x").section("exe unavailable", "", "127").section("cwd", "/app\n");
    w.section("fds unavailable", "", "127").end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(anomaly_starts(p, "readlink is missing"));
    const auto* r = find_pid(p, 5);
    REQUIRE(r);
    CHECK((*r)["errors"]["exe"] == "readlink missing in the image");
    CHECK((*r)["cwd"] == "/app");
    CHECK((*r)["flags"].empty());
  }
}

TEST_CASE("procfs: parse_proc_walk: LD_PRELOAD from the environ section, nothing else") {
  SUBCASE("set, unset, unreadable, no tr") {
    WalkOut w;
    w.begin_v2(" 5 6 7 8").proc_env("5", "app", "LD_PRELOAD=/tmp/.l/libhide.so\n");
    w.proc_env("6", "app", "").proc_env("7", "app", "", "1");
    w.proc("8", "app").section("environ unavailable", "", "127").end("4");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.unparsed == 0);
    CHECK(anomaly_starts(p, "tr is missing"));
    CHECK((*find_pid(p, 5))["ld_preload"] == "/tmp/.l/libhide.so");
    CHECK((*find_pid(p, 6))["ld_preload"].is_null());
    CHECK_FALSE(find_pid(p, 7)->contains("ld_preload"));
    CHECK((*find_pid(p, 7))["errors"]["environ"] == "exit status 1");
    CHECK_FALSE(find_pid(p, 8)->contains("ld_preload"));
    CHECK((*find_pid(p, 8))["errors"]["environ"] == "tr missing in the image: LD_PRELOAD not read");
    for (int pid : {5, 6, 7, 8}) CHECK((*find_pid(p, pid))["flags"].empty());
  }
  SUBCASE("a newline inside the value comes back; control characters are escaped") {
    WalkOut w;
    w.begin_v2(" 5").proc_env("5", "app", "LD_PRELOAD=/a.so\001/b\x1b[2J.so\n").end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK((*find_pid(p, 5))["ld_preload"] == "/a.so\\n/b\\x1b[2J.so");
  }
  SUBCASE("lines the filter never prints are dropped, not kept") {
    WalkOut w;
    w.begin_v2(" 5").proc_env("5", "app", "SECRET=hunter2\nLD_PRELOAD=/x.so\nLD_PRELOAD=/y.so\n").end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.records.dump().find("hunter2") == std::string::npos);
    const auto* r = find_pid(p, 5);
    CHECK((*r)["ld_preload"] == "/x.so");
    CHECK(has_flag(*r, "environ_unexpected"));
    CHECK((*r)["errors"]["environ"].get<std::string>().find("dropped") != std::string::npos);
  }
  SUBCASE("a version 2 record cut before its environ section is incomplete; version 1 is not") {
    WalkOut v2;
    v2.begin_v2(" 5").proc("5", "app").end("1");
    CHECK(has_flag(*find_pid(parse_proc_walk(v2.s, k_b), 5), "incomplete"));
    WalkOut v1;
    v1.begin(" 5").proc("5", "app").end("1");
    const auto p1 = parse_proc_walk(v1.s, k_b);
    CHECK((*find_pid(p1, 5))["flags"].empty());
    CHECK_FALSE(find_pid(p1, 5)->contains("ld_preload"));
  }
}

TEST_CASE("procfs: parse_proc_walk: forged markers are detected") {
  struct Case {
    const char* what;
    std::string output;
    bool tampered;
    std::int64_t flagged_pid;  // a record that must carry `flag`
    std::string flag;
  };
  std::vector<Case> cases;
  {
    // A process that learned the boundary starts a fake record for pid 1 inside its cmdline.
    WalkOut w;
    w.begin(" 1 42").proc("1", "init").proc("42", "x", "evil\0\n"s + k_b + " pid 1\n"s).end("2");
    cases.push_back({"forged duplicate record in cmdline", w.s, true, 1, "duplicate_pid"});
  }
  {
    // A perfect-looking tail: it closes its own record and forges a whole one for an unlisted pid,
    // letting our real markers complete it.
    WalkOut forged;
    forged.marker("rc 0").section("exe", "/bin/sh\n").section("cwd", "/\n").section("fds", "");
    forged.marker("pid 31337").section("stat", make_stat("31337", "innocent")).section("status", make_status("x", "31337"));
    forged.marker("cmdline");
    WalkOut w;
    w.begin(" 42").proc("42", "x", "a\0"s + forged.s).end("1");
    cases.push_back({"forged unlisted pid", w.s, true, 31337, "unlisted_pid"});
  }
  {
    WalkOut w;
    w.begin(" 1 42").proc("42").proc("1").end("2");
    cases.push_back({"out of the listing's order", w.s, true, 1, "out_of_order"});
  }
  {
    // The boundary inside a process name (stat comm): splits the stat section.
    WalkOut w;
    w.begin(" 1 42").proc("1").proc("42", "x\n" + k_b + " pid 1\n").end("2");
    cases.push_back({"forged boundary in a process name", w.s, true, 42, "incomplete"});
  }
  {
    WalkOut w;
    w.begin(" 42").marker("pid 42").section("stat", make_stat("42", "x")).marker("rc 0").end("1");
    cases.push_back({"unexpected extra rc", w.s, true, 42, "unexpected_marker"});
  }
  {
    WalkOut w;
    w.begin(" 42").proc("42").end("1").proc("42").end("2");
    cases.push_back({"markers after end", w.s, true, -1, ""});
  }
  {
    WalkOut w;
    w.begin(" 42").proc("42", "x", "x\0"s + "\n" + k_b + " pids 1 2 3\n").end("1");
    cases.push_back({"second pid listing", w.s, true, 42, "unexpected_marker"});
  }
  {
    WalkOut w;
    w.begin(" 42").marker("pid 42").section("stat", make_stat("43", "x")).section("status", make_status("x", "42"));
    w.section("cmdline", "").section("exe", "").section("cwd", "").section("fds", "").end("1");
    cases.push_back({"stat names another pid", w.s, false, 42, "stat_pid_mismatch"});
  }
  {
    WalkOut w;
    w.begin(" 1 42").proc("1");
    w.marker("pid 42").section("stat", make_stat("42", "x")).marker("status").raw("Name:\tx\nUi");
    cases.push_back({"truncated output", w.s, false, 42, "incomplete"});
  }
  {
    // Without the boundary a process cannot forge anything: its text is just content.
    WalkOut fake;
    fake.b = "ffffffffffffffffffffffffffffffff";
    fake.marker("pid 1").section("stat", make_stat("1", "fake"));
    WalkOut w;
    w.begin(" 1 42").proc("1").proc("42", "x", fake.s).end("2");
    cases.push_back({"wrong boundary is inert", w.s, false, 0, ""});
  }
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto p = parse_proc_walk(c.output, k_b);
    check_safe(p);
    CHECK(anomaly_starts(p, "tampering suspected") == c.tampered);
    if (c.tampered && !p.anomalies.empty()) CHECK(p.anomalies[0].rfind("tampering suspected", 0) == 0);
    if (c.flagged_pid < 0) continue;
    if (c.flagged_pid == 0) {
      CHECK(p.anomalies.empty());
      for (const auto& r : of_kind(p, "process")) CHECK(r["flags"].empty());
      continue;
    }
    bool found = false;
    for (const auto& r : of_kind(p, "process")) found = found || (r["pid"] == c.flagged_pid && has_flag(r, c.flag));
    CHECK(found);
  }
  SUBCASE("a duplicate flags both records") {
    const auto p = parse_proc_walk(cases[0].output, k_b);
    CHECK(count_pid(p, 1) == 2);
    for (const auto& r : of_kind(p, "process")) {
      if (r["pid"] == 1) CHECK(has_flag(r, "duplicate_pid"));
    }
  }
  SUBCASE("the forged socket holder is suspect, not trusted") {
    WalkOut forged;
    forged.marker("rc 0").section("exe", "/bin/sh\n").section("cwd", "/\n").section("fds", "");
    forged.marker("pid 31337").section("stat", make_stat("31337", "innocent")).section("status", make_status("x", "31337"));
    forged.section("cmdline", "").section("exe", "").section("cwd", "").marker("fds").raw("9 socket:[4242]");
    WalkOut w;
    w.begin(" 42").proc("42", "x", "a\0"s + forged.s).end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    const auto owners = socket_owners(p.records);
    REQUIRE(owners.count(4242) == 1);
    CHECK(owners.at(4242)[0].pid == 31337);
    CHECK(owners.at(4242)[0].suspect);
    const auto sockets = attach_socket_owners(
        json::array({json{{"kind", "socket"}, {"inode", 4242}}, json{{"kind", "socket"}, {"inode", 0}}}), owners);
    CHECK(sockets[0]["suspect_pids"] == json::array({31337}));
    CHECK(sockets[0]["pids"].empty());
    CHECK_FALSE(sockets[1].contains("pids"));
  }
}

TEST_CASE("procfs: parse_proc_walk: garbage around the markers") {
  struct Case {
    const char* what;
    std::string output;
    std::string anomaly_prefix;
    std::size_t unparsed;
  };
  WalkOut ok;
  ok.begin(" 5").proc("5").end("1");
  const Case cases[] = {
      {"empty output", "", "no walk markers", 0},
      {"no markers", "sh: cat: not found\n", "no walk markers", 1},
      {"a preamble", "motd \x1b[2J" + ok.s, "output before the first walk marker", 1},
      {"data after end", ok.s + "trailing\xff", "output after the end marker", 1},
      {"no begin marker", ok.s.substr(ok.s.find("\n" + k_b + " pids")), "tampering suspected", 0},
      {"cut in the middle of a marker line", ok.s.substr(0, ok.s.rfind(" end")), "output between walk markers", 1},
      {"1 MiB of garbage in a section", [] {
         WalkOut w;
         w.begin(" 5").proc("5", "x", std::string(1 << 20, '\n')).end("1");
         return w.s;
       }(), "", 0},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto p = parse_proc_walk(c.output, k_b);
    check_safe(p);
    if (c.anomaly_prefix.empty()) {
      CHECK(p.anomalies.empty());
    } else {
      CHECK(anomaly_starts(p, c.anomaly_prefix));
    }
    CHECK(p.unparsed == c.unparsed);
  }
  SUBCASE("many forged markers: the anomaly list stays bounded and starts with the tampering") {
    WalkOut w;
    w.begin(" 5").marker("pid 5");
    for (int i = 0; i < 200; ++i) w.marker("bogus" + std::to_string(i));
    w.end("1");
    const auto p = parse_proc_walk(w.s, k_b);
    check_safe(p);
    CHECK(p.anomalies.size() <= 65);
    REQUIRE_FALSE(p.anomalies.empty());
    CHECK(p.anomalies[0].rfind("tampering suspected", 0) == 0);
    CHECK(p.anomalies.back() == "(further anomalies not listed)");
  }
  SUBCASE("an invalid boundary parses nothing") {
    const auto p = parse_proc_walk(ok.s, "short");
    CHECK(p.parsed == 0);
    CHECK(p.unparsed == 1);
  }
  SUBCASE("the record limit bounds the walk") {
    WalkOut w;
    std::string pids;
    for (int i = 1; i <= 20; ++i) pids += " " + std::to_string(i);
    w.begin(pids);
    for (int i = 1; i <= 20; ++i) w.proc(std::to_string(i));
    w.end("20");
    Limits limits;
    limits.max_records = 5;
    const auto p = parse_proc_walk(w.s, k_b, limits);
    CHECK(p.records.size() == 5);
    CHECK(p.dropped == 15);
  }
}

// ---- the walk for real, against this machine's /proc --------------------------------------------------

namespace {

ir::Result<ir::util::ProcessResult> run_script(const std::string& shell, const std::string& script,
                                               std::vector<std::pair<std::string, std::string>> env = {}) {
  ir::util::RealProcessRunner runner;
  ir::util::ProcessSpec spec;
  spec.argv = {shell, "-c", script};
  spec.env_add = std::move(env);
  spec.timeout = std::chrono::seconds(60);
  spec.max_output = 32 * 1024 * 1024;
  if (shell == "busybox") spec.argv = {"busybox", "sh", "-c", script};
  return runner.run(spec);
}

}  // namespace

TEST_CASE("procfs: proc_walk_script: runs under dash and busybox sh against /proc, bounded to 50 pids") {
  for (const std::string shell : {"/bin/sh", "/usr/bin/dash", "busybox"}) {
    CAPTURE(shell);
    if (shell != "busybox" && !std::filesystem::exists(shell)) continue;
    const auto boundary = make_boundary();
    WalkOptions options;
    options.max_pids = 50;
    const auto r = run_script(shell, proc_walk_script(boundary, options));
    if (!r) {
      MESSAGE("skipped: " << shell << ": " << r.error().message);
      continue;
    }
    CHECK(r->exit_code == 0);
    const auto p = parse_proc_walk(r->out, boundary);
    check_safe(p);
    for (const auto& a : p.anomalies) MESSAGE(a);
    CHECK_FALSE(anomaly_starts(p, "tampering suspected"));
    CHECK_FALSE(anomaly_starts(p, "no end marker"));
    CHECK(p.unparsed == 0);
    CHECK(p.parsed >= 1);
    CHECK(p.parsed <= 50);
    for (const auto& rec : p.records) {
      CAPTURE(rec.dump());
      CHECK(rec["flags"].empty());
    }
    // pid 1 is always listed first ("/proc/1" sorts first) and its stat is world-readable.
    const auto* init = find_pid(p, 1);
    REQUIRE(init);
    CHECK_FALSE((*init)["comm"].get<std::string>().empty());
    CHECK(init->contains("uid"));
    CHECK(init->contains("starttime"));
  }
}

TEST_CASE("procfs: proc_walk_script: sockets of a real process join to its pid") {
  // A listening TCP socket held by this test process.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  const auto tcp = parse_net_inet(read_file("/proc/self/net/tcp"), NetTable::tcp);
  check_safe(tcp);
  CHECK(tcp.unparsed == 0);
  std::uint64_t inode = 0;
  for (const auto& s : tcp.records) {
    if (s["local_port"] == port && s["state"] == "LISTEN") inode = s["inode"].get<std::uint64_t>();
  }
  REQUIRE(inode != 0);

  SUBCASE("through the walk") {
    const auto boundary = make_boundary();
    WalkOptions options;
    options.pids = {getpid(), 1};
    const auto r = run_script("/bin/sh", proc_walk_script(boundary, options));
    REQUIRE(r);
    const auto walk = parse_proc_walk(r->out, boundary);
    check_safe(walk);
    const auto* self = find_pid(walk, getpid());
    REQUIRE(self);
    CHECK((*self)["flags"].empty());
    CHECK((*self)["exe"].get<std::string>().find("ir_unit_tests") != std::string::npos);
    CHECK((*self)["cwd"] == std::filesystem::current_path().string());
    const auto owners = socket_owners(walk.records);
    REQUIRE(owners.count(inode) == 1);
    CHECK(owners.at(inode)[0].pid == getpid());
    CHECK_FALSE(owners.at(inode)[0].suspect);
    const auto joined = attach_socket_owners(tcp.records, owners);
    bool found = false;
    for (const auto& s : joined) found = found || (s["inode"] == inode && s["pids"] == json::array({getpid()}));
    CHECK(found);
  }
  SUBCASE("through ls -l /proc/*/fd") {
    ir::util::RealProcessRunner runner;
    ir::util::ProcessSpec spec;
    spec.argv = {"ls", "-l", "/proc/" + std::to_string(getpid()) + "/fd", "/proc/self/fd"};
    const auto r = runner.run(spec);
    REQUIRE(r);
    const auto fds = parse_ls_fd(r->out);
    check_safe(fds);
    const auto owners = socket_owners(fds.records);
    REQUIRE(owners.count(inode) == 1);
    CHECK(owners.at(inode)[0].pid == getpid());
  }
  ::close(fd);
}

TEST_CASE("procfs: proc_walk_script: reads LD_PRELOAD and no other variable of a real process") {
  // A child whose environment holds LD_PRELOAD (a library that does not exist: ld.so says so and
  // runs the program), a secret, and a value that hides "LD_PRELOAD=" after a newline.
  std::vector<std::string> env_text = {"LD_PRELOAD=/nonexistent/libir-test.so", "IR_TEST_SECRET=hunter2",
                                       "IR_TEST_TRICK=x\nLD_PRELOAD=/evil.so", "PATH=/usr/bin:/bin"};
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string sleep_path = std::filesystem::exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep";
  std::string arg = "30";
  char* argv[] = {sleep_path.data(), arg.data(), nullptr};
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execve(argv[0], argv, envp.data());
    ::_exit(127);
  }
  // Wait until the child runs sleep (its exe is no longer this test binary).
  for (int i = 0; i < 200; ++i) {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(child) + "/exe", ec);
    if (!ec && exe.string().find("sleep") != std::string::npos) break;
    ::usleep(10'000);
  }
  for (const std::string shell : {"/bin/sh", "/usr/bin/dash", "busybox"}) {
    CAPTURE(shell);
    if (shell != "busybox" && !std::filesystem::exists(shell)) continue;
    const auto boundary = make_boundary();
    WalkOptions options;
    options.pids = {child, getpid()};
    const auto r = run_script(shell, proc_walk_script(boundary, options));
    if (!r) {
      MESSAGE("skipped: " << shell << ": " << r.error().message);
      continue;
    }
    CHECK(r->out.find("hunter2") == std::string::npos);
    CHECK(r->out.find("IR_TEST") == std::string::npos);
    CHECK(r->out.find("/evil.so") == std::string::npos);
    const auto p = parse_proc_walk(r->out, boundary);
    check_safe(p);
    const auto* c = find_pid(p, child);
    REQUIRE(c);
    CHECK((*c)["flags"].empty());
    CHECK((*c)["ld_preload"] == "/nonexistent/libir-test.so");
    const auto* self = find_pid(p, getpid());
    REQUIRE(self);
    if (std::getenv("LD_PRELOAD") == nullptr) CHECK((*self)["ld_preload"].is_null());
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST_CASE("procfs: proc_walk_script: an image without readlink") {
  // PATH holds only cat: exe and fds are marked unavailable, cwd still comes from cd -P / pwd -P.
  const auto dir = std::filesystem::temp_directory_path() / ("procfs_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string cat = std::filesystem::exists("/usr/bin/cat") ? "/usr/bin/cat" : "/bin/cat";
  std::filesystem::remove(dir / "cat");
  std::filesystem::create_symlink(cat, dir / "cat");
  const auto boundary = make_boundary();
  WalkOptions options;
  options.pids = {getpid()};
  const auto r = run_script("/bin/sh", proc_walk_script(boundary, options), {{"PATH", dir.string()}});
  std::filesystem::remove_all(dir);
  REQUIRE(r);
  const auto p = parse_proc_walk(r->out, boundary);
  check_safe(p);
  CHECK(anomaly_starts(p, "readlink is missing"));
  const auto* self = find_pid(p, getpid());
  REQUIRE(self);
  CHECK((*self)["errors"]["exe"] == "readlink missing in the image");
  CHECK((*self)["cwd"] == std::filesystem::current_path().string());
  CHECK((*self)["comm"] == "ir_unit_tests");
  CHECK((*self)["flags"].empty());
}

// ---- ls -l /proc/*/fd and the join ---------------------------------------------------------------------

TEST_CASE("procfs: parse_ls_fd: coreutils and busybox listings") {
  struct Case {
    const char* what;
    std::string text;
    std::size_t parsed;
    std::size_t unparsed;
  };
  const Case cases[] = {
      {"coreutils",
       "/proc/1/fd:\ntotal 0\nlrwx------ 1 root root 64 Jan  5 10:00 0 -> /dev/null\n"
       "lrwx------ 1 root root 64 Jan  5 10:00 3 -> socket:[12345]\nl-wx------ 1 root root 64 Jan  5 10:00 4 -> "
       "pipe:[99]\n\n/proc/42/fd:\ntotal 0\nlrwx------ 1 app app 64 Jan  5 10:00 5 -> socket:[777]\n",
       2, 0},
      {"busybox", "/proc/7/fd:\nlrwx------    1 root     root            64 Jan  5 10:00 3 -> socket:[1]\n", 1, 0},
      {"hostile user name containing '->'", "/proc/7/fd:\nlrwx------ 1 -> socket:[9] 64 Jan  5 10:00 3 -> /tmp/x\n", 0,
       1},
      {"hostile user name '->' before a real socket", "/proc/7/fd:\nlrwx------ 1 -> socket:[9] 64 Jan 5 10:00 3 -> socket:[8]\n",
       0, 1},
      {"file named like a socket", "/proc/7/fd:\nlrwx------ 1 root root 64 Jan  5 10:00 3 -> /tmp/socket:[5]\n", 0, 0},
      {"file with -> in its name", "/proc/7/fd:\nlrwx------ 1 root root 64 Jan 5 10:00 3 -> /x -> socket:[5]\n", 0, 1},
      {"link before any directory line", "lrwx------ 1 root root 64 Jan  5 10:00 3 -> socket:[12345]\n", 0, 1},
      {"bad directory line", "/proc/x/fd:\n", 0, 1},
      {"error text in stdout", "ls: /proc/1/fd: Permission denied\n", 0, 1},
      {"overflowing inode", "/proc/7/fd:\nl 1 r r 64 J 5 1 3 -> socket:[18446744073709551616]\n", 0, 1},
      {"truncated", "/proc/7/fd:\nlrwx------ 1 root root 64 Jan  5 10:00 3 -> socket:[12", 0, 1},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    const auto p = parse_ls_fd(c.text);
    check_safe(p);
    CHECK(p.parsed == c.parsed);
    CHECK(p.unparsed == c.unparsed);
  }
  const auto p = parse_ls_fd(cases[0].text);
  REQUIRE(p.parsed == 2);
  CHECK(p.records[0] == json::parse(R"({"kind":"fd","line":4,"pid":1,"fd":3,"inode":12345})"));
  const auto owners = socket_owners(p.records);
  CHECK(owners.size() == 2);
  CHECK(owners.at(777)[0].pid == 42);
}

TEST_CASE("procfs: socket_owners and attach_socket_owners") {
  const json records = json::parse(R"([
    {"kind":"process","pid":10,"flags":[],"sockets":[{"fd":3,"inode":100},{"fd":4,"inode":101}]},
    {"kind":"process","pid":11,"flags":[],"sockets":[{"fd":3,"inode":100}]},
    {"kind":"fd","pid":10,"fd":3,"inode":100},
    {"kind":"fd","pid":12,"fd":9,"inode":0},
    {"kind":"process","pid":13,"flags":["duplicate_pid"],"sockets":[{"fd":3,"inode":102}]},
    {"kind":"unparsed","raw":"x"},
    {"kind":"process","pid":"x","sockets":[{"inode":103}]},
    {"kind":"process","pid":14,"sockets":"nope"},
    {"kind":"fd","pid":-3,"inode":104},
    {"kind":"fd","pid":15,"inode":-1},
    42, null, "str"
  ])");
  const auto owners = socket_owners(records);
  REQUIRE(owners.size() == 3);
  REQUIRE(owners.at(100).size() == 2);
  CHECK(owners.at(100)[0].pid == 10);
  CHECK(owners.at(100)[1].pid == 11);
  CHECK(owners.at(102)[0].suspect);
  const auto sockets = attach_socket_owners(json::parse(R"([
    {"kind":"socket","inode":100},{"kind":"unix_socket","inode":101},{"kind":"socket","inode":102},
    {"kind":"socket","inode":0},{"kind":"unparsed","inode":100},{"kind":"socket"},7
  ])"),
                                            owners);
  CHECK(sockets[0]["pids"] == json::array({10, 11}));
  CHECK(sockets[1]["pids"] == json::array({10}));
  CHECK(sockets[2]["suspect_pids"] == json::array({13}));
  CHECK_FALSE(sockets[3].contains("pids"));
  CHECK_FALSE(sockets[4].contains("pids"));
  CHECK(socket_owners(json::object()).empty());
  CHECK(attach_socket_owners(json("x"), owners) == json("x"));
}

TEST_CASE("procfs: dump_json never throws on invalid UTF-8") {
  const json j = {{"bad", std::string("\xff\xfe")}};
  CHECK_NOTHROW((void)dump_json(j));
  CHECK(dump_json(j).find("\xef\xbf\xbd") != std::string::npos);
}
