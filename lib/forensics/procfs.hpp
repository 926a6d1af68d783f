#pragma once
// Pure parsers for what `kubectl ir collect` reads inside a suspicious container: /proc/net/{tcp,
// tcp6,udp,udp6,raw,raw6,unix}, /proc/<pid>/stat and status, `ps` output (busybox and procps), a
// /proc walk done with shell built-ins and `cat` (the script and its parser), and the join of
// sockets to the processes that hold them.
//
// Threat model: a compromised container controls every byte these functions read (it can replace
// `ps`, `cat` and `sh`, name a process anything, bind sockets to any path). So every parser:
//   - never crashes and never throws on any input (fuzzed: tests/fuzz/procfs_fuzz.cpp);
//   - works in time linear in the input and keeps at most Limits::max_records records, each of
//     bounded size (longer fields are cut, with the cut said in the field);
//   - keeps what it cannot parse as an explicit record {"kind":"unparsed", "line" (1-based) or
//     "section", "reason", "raw"} instead of dropping or trusting it, and counts it;
//   - treats a final line without '\n' as truncated output (unparsed, reason "truncated"): every
//     format here is written line by line by the kernel or by ps, so a missing newline means the
//     output was cut and the last field may be cut too.
//
// JSON strings: every string that came from the container (comm, args, user, paths, raw lines) is
// stored escaped with util::escape_for_terminal (C0/C1 controls, DEL and bytes that are not UTF-8
// become \xNN, '\n' becomes \n, backslash is doubled). The stored form is valid UTF-8 and safe to
// print, so dumping never throws, and it is reversible (no information lost, except where a field
// was cut at its limit). The exact bytes are the raw artifact the collector keeps beside the JSON.
// Numbers are validated and range-checked; anything that does not fit makes the line unparsed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ir::forensics::procfs {

// Bounds on what one parse keeps. Defaults suit one container's worth of processes and sockets
// and keep a parse under ~32 MiB: a record costs ~1.5 KiB as nlohmann::json.
struct Limits {
  std::size_t max_records = 20'000;   // records kept (parsed + unparsed); further lines are only
                                      // counted in Parsed::dropped (and said in anomalies)
  std::size_t max_raw_bytes = 512;    // bytes of an unparsed line kept (then escaped)
  std::size_t max_field_bytes = 4096; // bytes of one string field kept (args, paths, comm)
  std::size_t max_line_bytes = 256 * 1024;  // longer ps lines are unparsed ("overlong")
};

// What a parser returns. Owns its JSON; no references into the input survive the call.
struct Parsed {
  // Records in input order: parsed ones ({"kind": "socket" | "unix_socket" | "process" | "fd"
  // | ...}) and {"kind":"unparsed"} ones, interleaved where they occurred (for the walk, a
  // record's unparsed sections come just before it).
  nlohmann::json records = nlohmann::json::array();
  std::size_t parsed = 0;    // records other than "unparsed"
  std::size_t unparsed = 0;  // "unparsed" records
  std::size_t dropped = 0;   // lines or sections past Limits::max_records: counted, not kept
  // Findings about the input as a whole (truncation, tampering, missing tools), one sentence
  // each; any container bytes quoted in them are escaped.
  std::vector<std::string> anomalies;
};

// Dumps JSON as UTF-8 text; never throws: invalid UTF-8 (which the parsers never store, see
// above) is replaced with U+FFFD. indent < 0 means one line.
std::string dump_json(const nlohmann::json& value, int indent = -1);

// ---------------------------------------------------------------------------------------------
// /proc/net/{tcp,tcp6,udp,udp6,raw,raw6}

enum class NetTable { tcp, tcp6, udp, udp6, raw, raw6 };

// "tcp", "tcp6", ... (the record's "proto").
const char* to_string(NetTable table);

// How the node's kernel printed each 32-bit address word: "%08X" of a value in host byte order
// (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c get_tcp6_sock). x86-64 and arm64 nodes
// are little-endian; s390x is big-endian.
enum class ByteOrder { little, big };

// Parses one /proc/net/<table> file (man 5 proc, "/proc/net/tcp"):
//   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ...
//    0: 0E00F40A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 ...
// Lines whose first field is "sl" are headers and are skipped (so concatenated files parse).
// Each socket becomes {"kind":"socket", "proto", "local_ip", "local_port", "remote_ip",
// "remote_port", "state", "tx_queue", "rx_queue", "uid", "inode"}: IPv4 as dotted quad, IPv6 as
// RFC 5952 text (inet_ntop, so "::ffff:10.0.0.1" for mapped addresses), ports in decimal (for raw
// sockets the local "port" is the IP protocol number), state by name ("LISTEN", "ESTABLISHED",
// ...; UDP and raw sockets in state 07 are "UNCONN"; an unknown code is "UNKNOWN_<hex>"), inode 0
// for sockets no longer attached to a file (TIME_WAIT). A line with the wrong number of fields,
// an address of the wrong width for the table, bad hex or decimal, a value out of range, or more
// than 512 bytes is unparsed. Empty lines are skipped.
Parsed parse_net_inet(std::string_view text, NetTable table, ByteOrder order = ByteOrder::little,
                      const Limits& limits = {});

// Parses /proc/net/unix (man 5 proc; net/unix/af_unix.c unix_seq_show):
//   Num       RefCount Protocol Flags    Type St Inode Path
//   0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/app.sock
// Each socket becomes {"kind":"unix_socket", "proto":"unix", "path", "abstract", "inode", "type"
// ("STREAM", "DGRAM", "SEQPACKET" or "UNKNOWN_<hex>"), "state" ("LISTEN" when the ACCEPTCON flag
// is set, else "UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING" or "UNKNOWN_<hex>"),
// "refcount"}. The path is every byte after the single space that follows the inode (it may hold
// spaces; "" when unbound), escaped; "abstract" is true when it starts with '@' (the kernel
// prints the leading NUL of an abstract name, and any NUL in it, as '@'; a relative file name
// starting with '@' looks the same). A path longer than sun_path (108 bytes) is unparsed. Residual
// risk: a socket path may contain '\n'; its tail then shows as a separate line, unparsed unless it
// was crafted to look like a whole socket line, which no text parser can tell apart.
Parsed parse_net_unix(std::string_view text, const Limits& limits = {});

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/stat and /proc/<pid>/status

// The fields of /proc/<pid>/stat that triage uses (man 5 proc: (1) pid, (2) comm, (3) state,
// (4) ppid, (22) starttime).
struct ProcStat {
  std::int64_t pid = 0;
  std::string comm;  // raw bytes between the first '(' and the last ')': may hold anything
  char state = '?';  // one letter: R S D Z T t W X x K P I
  std::int64_t ppid = 0;
  std::uint64_t starttime = 0;  // clock ticks after boot (divide by sysconf(_SC_CLK_TCK))
};

// Parses one /proc/<pid>/stat file. comm is taken between the first '(' and the LAST ')', so a
// name like "x) R 1 (" cannot shift the fields after it. Fails (Errc::protocol, message says why)
// unless: pid is a decimal in 1..2^31-1, state one letter, ppid a decimal in 0..2^31-1, and
// fields (3) through (23) are present (so starttime was not cut by truncation).
Result<ProcStat> parse_stat(std::string_view content);

// The fields of /proc/<pid>/status that triage uses ("Key:\tvalue" lines; man 5 proc).
struct ProcStatus {
  std::string name;                 // "Name:" as the kernel escaped it; "" if absent
  std::optional<std::int64_t> pid;  // "Pid:"
  std::optional<std::int64_t> ppid; // "PPid:"
  std::array<std::uint32_t, 4> uid{};  // "Uid:" real, effective, saved set, file system
  std::optional<std::array<std::uint32_t, 4>> gid;  // "Gid:" in the same order, if present
  std::size_t bad_lines = 0;        // lines that are not "Key:value" (the kernel prints none)
};

// Parses one /proc/<pid>/status file. Fails (Errc::protocol) when there is no Uid line, when it
// has not exactly four decimal uids in 0..2^32-1, or when Uid, Gid, Pid or PPid appears twice
// (a sign of tampering). Other keys are ignored.
Result<ProcStatus> parse_status(std::string_view content);

// parse_stat as records: one {"kind":"process", "source":"stat", "pid", "comm" (escaped),
// "state", "ppid", "starttime"} or one unparsed record with the reason.
Parsed parse_stat_file(std::string_view content, const Limits& limits = {});

// parse_status as records: one {"kind":"process_status", "pid", "ppid", "name" (escaped), "uid":
// {"real","effective","saved","fs"}, "gid": {...}} (absent keys omitted) or one unparsed record.
// Lines that are not "Key:value" are also kept as unparsed records.
Parsed parse_status_file(std::string_view content, const Limits& limits = {});

// ---------------------------------------------------------------------------------------------
// ps

// Parses `ps` output by its header. Understood headers (procps-ng and busybox spellings):
//   PID PPID PGID SID UID                 → "pid", "ppid", "pgid", "sid", "uid" (numbers)
//   USER RUSER GROUP STAT S TT TTY NI TIME VSZ RSS
//                                         → "user", "ruser", "group", "stat", "tty", "nice", "time",
//                                           "vsz", "rss" (escaped text: busybox prints "41m")
//   ELAPSED (etimes: seconds; etime: [[dd-]hh:]mm:ss) → "elapsed_seconds"
//   STARTED (lstart: 5 tokens "Sat Nov 21 16:28:14 2026") → "started"
//   COMMAND CMD ARGS COMM                 → "args" when last (it takes the rest of the line),
//                                           "comm" otherwise
// e.g. busybox `ps` ("PID USER TIME COMMAND" or "PID USER VSZ STAT COMMAND"), busybox
// `ps -o pid,ppid,user,stat,vsz,etime,args`, procps `ps -eo pid,ppid,uid,user,stat,lstart,etimes,
// comm,args -ww`. A comm column just before the last column may contain spaces: it is cut at the
// header's column boundary when that is unambiguous, else it is taken as one token and the record
// gets "comm_ambiguous": true. Records: {"kind":"process", "source":"ps", ...columns}; "pid" must
// be 1..2^31-1. The first non-empty line is the header; if it has a label not listed above or no
// PID, every line (the header too) is unparsed but kept. Lines that do not fit the columns, and
// lines longer than Limits::max_line_bytes, are unparsed. Residual risk: ps prints one line per
// process, so a name with a newline (procps and busybox print '?', a fake ps need not) can forge
// a line; prefer the /proc walk below, whose framing detects that.
Parsed parse_ps(std::string_view text, const Limits& limits = {});

// ---------------------------------------------------------------------------------------------
// The /proc walk: a POSIX sh script using only built-ins (echo, test, cd, pwd, command, case, for)
// and `cat` (plus `readlink` when the image has it), and its parser.

struct WalkOptions {
  std::size_t max_pids = 4096;         // pids walked at most (the listing says when capped)
  std::size_t max_fds_per_pid = 1024;  // fd links read per pid at most (each costs a fork of
                                       // readlink: the caller's exec timeout bounds the total)
  // Walk exactly these pids (e.g. the target's processes) instead of every /proc/<digits>.
  std::vector<std::int64_t> pids;
};

// A fresh boundary token: 32 lower-case hex digits (128 bits from std::random_device).
std::string make_boundary();

// True when `boundary` is 16..64 characters of [A-Za-z0-9]: safe to embed in the script without
// quoting, and long enough that nobody guesses it.
bool is_valid_boundary(std::string_view boundary);

// The text for `sh -c`. Output format (every marker line is preceded by an empty line that belongs
// to the framing, so section content is exact bytes, including NULs and trailing newlines):
//
//   <B> begin 2 max=<max_pids> listed=<n> capped=<yes|no> readlink=<yes|no> tr=<yes|no>
//   <B> pids <pid> <pid> ...             the pids to be walked, printed before any process data
//   then per pid, in that order:
//   <B> pid <pid>
//   <B> stat           + cat /proc/<pid>/stat        + <B> rc <cat's exit status>
//   <B> status         + cat /proc/<pid>/status      + <B> rc <n>
//   <B> cmdline        + cat /proc/<pid>/cmdline     + <B> rc <n>
//   <B> exe            + readlink /proc/<pid>/exe    + <B> rc <n>
//       ("<B> exe unavailable" + "<B> rc 127" when the image has no readlink)
//   <B> cwd            + cd -P /proc/<pid>/cwd && pwd -P (built-ins) + <B> rc <n>
//   <B> fds            + "<fd> socket:[<inode>]" lines, one per socket fd (readlink)
//                      + <B> rc <0|truncated>    ("<B> fds unavailable" + "<B> rc 127" w/o readlink)
//   <B> environ        + the LD_PRELOAD variable only, filtered inside the container: environ
//                        through `tr '\000\n' '\n\001'` (one variable per line, newlines in values
//                        made \001) into a `read` loop that prints only lines starting
//                        "LD_PRELOAD=" + <B> rc <0|1> (1: environ could not be opened: another
//                        user's process) ("<B> environ unavailable" + "<B> rc 127" without tr).
//                        Nothing else of the environment leaves the container.
//   <B> end <n walked>
//
// `boundary` must pass is_valid_boundary and should come from make_boundary(), new for each run:
// only a process that knows it can forge a marker. Residual risk: the script, boundary included,
// is our shell's argv, so a process already running in the container can read it from
// /proc/<our sh>/cmdline and put markers into its own cmdline (or name) before we cat it. The
// parser detects that (see parse_proc_walk); it cannot prevent it. The walk also trusts the
// container's sh and cat; use a trusted image (ephemeral container) when those are suspect.
// The script cannot bound what cat prints (a cmdline can be megabytes) nor a read that blocks
// (cmdline of a process stuck on its mm lock): the caller bounds the exec's bytes and time, and
// the parser reports a cut output ("no end marker", "incomplete" records). stderr is left alone
// (the collector keeps it). With an invalid boundary the script prints nothing to stdout,
// "kubectl-ir: invalid walk boundary" to stderr and exits 2. Pids in options.pids outside
// 1..2^31-1 are ignored.
std::string proc_walk_script(const std::string& boundary, const WalkOptions& options = {});

// Parses the walk's stdout. One record per walked pid: {"kind":"process", "source":"walk",
// "pid", "comm", "state", "ppid", "starttime", "uid": {"real","effective","saved","fs"}, "gid",
// "cmdline": [args escaped], "exe", "cwd", "sockets": [{"fd","inode"}], "ld_preload" (the value,
// escaped, \001 turned back into newlines; null when environ was read and has no LD_PRELOAD;
// absent when it could not be read), "errors": {section: rc or reason}, "flags": [...]}; fields
// that could not be read are absent. Lines of the environ section that are not "LD_PRELOAD=..."
// (only a forged or broken filter prints them) are counted, never kept, and flag the record
// "environ_unexpected". Output of a version 1 walk ("begin 1", before the environ section) parses
// too, without ld_preload. A section that does
// not parse also yields an unparsed record {"kind":"unparsed", "pid", "section", "reason", "raw"}.
// Consistency checks, each adding a flag to the record and an anomaly to the result:
//   "unlisted_pid"       the pid is not in the "pids" listing (which precedes all process data)
//   "duplicate_pid"      a second record for the same pid
//   "out_of_order"       records must follow the listing's order
//   "unexpected_marker"  a marker out of the fixed sequence above (a forged marker)
//   "stat_pid_mismatch"  /proc/<pid>/stat or status names another pid
//   "incomplete"         the record ends before its last section (output truncated or forged)
// Any of the first four means someone who knew the boundary wrote markers: the result's anomalies
// then start with "tampering suspected". Bytes outside any section (before the first marker, after
// the end, between markers), a missing begin or end, and listed pids without a record are also
// reported (and the bytes kept unparsed). `boundary` must be the one the script was made with; an
// invalid one parses nothing. Sections are bounded: stat 4 KiB, status 64 KiB, exe and cwd
// Limits::max_field_bytes, cmdline 256 args of max_field_bytes each ("cmdline_args_total" gives
// the real count when cut). Memory is linear in the output (one small entry per marker).
Parsed parse_proc_walk(std::string_view output, std::string_view boundary,
                       const Limits& limits = {});

// ---------------------------------------------------------------------------------------------
// Sockets ↔ processes

// Parses `ls -l /proc/*/fd` (GNU coreutils or busybox): "/proc/<pid>/fd:" lines name the
// directory; a link line "<mode> ... <fd> -> socket:[<inode>]" becomes {"kind":"fd", "pid", "fd",
// "inode"}. The fd is the token just before the first "->" token, and the target must be exactly
// "socket:[<digits>]" to the end of the line, so user, group or file names cannot forge a socket
// link; a line with a second " -> " (a name holding one) is unparsed as ambiguous. Other links
// (files, pipes), "total" lines and empty lines are skipped; lines that look like neither are
// unparsed, as are socket links seen before any directory line (or after a bad one).
Parsed parse_ls_fd(std::string_view text, const Limits& limits = {});

// Who holds a socket inode.
struct SocketHolder {
  std::int64_t pid = 0;
  bool suspect = false;  // the record it came from carries consistency flags (see parse_proc_walk)
};
using SocketOwners = std::map<std::uint64_t, std::vector<SocketHolder>>;

// Builds inode → holders from records of parse_proc_walk ("process" records with "sockets") and
// parse_ls_fd ("fd" records); other records are ignored. Each pid appears once per inode, sorted.
SocketOwners socket_owners(const nlohmann::json& records);

// Returns `sockets` (records of parse_net_inet / parse_net_unix) with "pids": [...] added to each
// socket whose inode has holders, and "suspect_pids": [...] for holders from flagged records.
// Inode 0 is never matched. Other records pass unchanged.
nlohmann::json attach_socket_owners(nlohmann::json sockets, const SocketOwners& owners);

}  // namespace ir::forensics::procfs
