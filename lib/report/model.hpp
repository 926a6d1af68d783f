#pragma once
// What a report shows, read from an evidence bundle alone (no cluster access), in the one pass
// that verifies it (evidence::verify_bundle with an EntryVisitor).
//
// Every string in a Model that came from the pod or the API server is in util's visible form
// (util/escape.hpp: controls, invalid UTF-8 and bidi/invisible characters written as escapes), so
// a renderer only has to escape for its medium (HTML, Markdown, JSON) and never sees raw bytes.
// Everything is bounded (ReadOptions); what was left out is counted and said in Model::notes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forensics/analysis.hpp"
#include "util/result.hpp"

namespace ir::report {

// Bounds on what is read from a bundle into a Model.
struct ReadOptions {
  std::size_t max_files = 1'000'000;         // file listing entries kept (all containers)
  std::size_t max_log_lines = 1000;          // per log file: the first and last half kept
  std::size_t max_line_bytes = 2048;         // of one log line shown (then cut, said in the line)
  std::size_t max_json_bytes = 64ULL << 20;  // of one JSON document read whole (pod, processes, ...)
  std::size_t max_events = 100'000;          // timeline events kept (file mtimes excepted)
  std::size_t max_artifacts = 100'000;       // manifest rows kept for the custody table
};

// The analysis's severities (forensics::to_string and parse_severity read and write them).
using forensics::Severity;

// One finding: from the bundle's analysis documents (analysis/indicators.json, analysis/drift.json,
// format kubectl-ir-analysis/v1), or, for a bundle without indicators, from the report's own
// checks (source "report").
struct Finding {
  std::string id;    // unique within its document ("F3"); "R1".. for the report's own
  std::string kind;  // process, listening_port, connection, file, root_process, environment, config
  std::string rule;  // "exe-in-tmp", "drift.process.exe", ...
  Severity severity = Severity::info;
  std::string container;
  std::string summary;
  std::string source;   // the document it came from ("analysis/drift.json") or "report"
  std::string pod;      // "namespace/name" for another pod's document (pods/<ns>/<pod>/...), "" for the subject
  std::string seen_in;  // drift: "0 of 2 siblings" ("" otherwise)
  // What it is about, for linking: a process, a file, a connection's remote end or local port.
  std::optional<std::int64_t> pid;
  std::string path;
  std::string remote;  // "198.51.100.7:3333"
  std::optional<std::int64_t> port;
};

// How a process's start time was obtained.
enum class StartBasis {
  none,       // unknown
  elapsed,    // ps's elapsed seconds before the moment ps.json was collected (to the second)
  estimated,  // /proc/<pid>/stat ticks, counted from the container's start (pid 1 = startedAt),
              // at 100 ticks per second (USER_HZ on every mainstream Linux architecture)
};

struct Process {
  std::string container;
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::string user;  // ps's user name, else "uid N", else ""
  std::string comm;
  std::string cmdline;  // arguments joined by spaces (each already visible-escaped)
  std::string exe;
  std::string exe_sha256;  // from filesystem/hashes.json, "" when not hashed
  std::string cwd;
  std::string state;
  std::string started;  // RFC 3339 UTC, "" when unknown
  StartBasis start_basis = StartBasis::none;
  std::vector<std::string> flags;     // the parser's consistency flags (tampering signs)
  std::vector<std::size_t> findings;  // indexes into Model::findings
};

struct Connection {
  std::string container;
  std::string proto;        // tcp, tcp6, udp, udp6, raw, raw6, unix
  std::string state;        // LISTEN, ESTABLISHED, ...
  std::string local;        // "10.244.0.14:57730", or a unix socket's path
  std::string remote;       // "198.51.100.7:3333", "" for unix sockets
  std::string remote_name;  // what the bundle's API state says the remote is ("pod shop/db-0", "node node-1")
  std::vector<std::int64_t> pids;
  std::vector<std::size_t> findings;
};

// One listed file (filesystem/listing.jsonl), compact: kept for 100,000s of entries.
struct FileEntry {
  std::string path;    // visible form
  std::string target;  // symlinks
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // seconds since the epoch
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint16_t container = 0;  // index into Model::containers
  char type = '?';              // f d l b c p s ?
  bool mtime_known = false;
  bool flagged = false;  // the listing parser flagged it (cut, inconsistent, forged)
};

enum class EventKind { pod_event, container, log, file, process, action, collection };

// "Pod event", "Container started", ... (Timesketch's timestamp_desc for the kind).
const char* timestamp_desc(EventKind kind);

struct Event {
  std::int64_t time_us = 0;  // microseconds since the epoch
  EventKind kind = EventKind::action;
  std::string message;
  std::string source;  // the artifact it comes from
  std::string container;
  bool estimated = false;  // the time is an estimate (see StartBasis::estimated)
  std::size_t order = 0;   // position in its source: equal times keep the order they were written in
};

// A pod that runs the same image (siblings) or was compared with the subject (drift).
struct Sibling {
  std::string namespace_name;
  std::string name;
  std::string workload;  // "Deployment/web"
  std::string node;
  std::string phase;
  std::string relation;   // "same digest", "same-workload", "baseline-file", ...
  std::string actions;    // what responders did to it ("isolate ok")
  bool evidence = false;  // the bundle holds its evidence under pods/<ns>/<pod>/
};

// A manifest record, for the custody table.
struct ArtifactRow {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
  std::string method;
  std::string source;
  std::string collected_at;
  bool truncated = false;
  std::string note;
  std::string problem;  // what verification found wrong with it, "" when it matched
};

// One step of the collection or playbook and how it ended.
struct Step {
  std::string name;
  std::string container;
  std::string status;  // ok, failed, partial, skipped, ...
  std::string detail;
};

struct Isolation {
  std::string pod;        // "namespace/name"
  std::string direction;  // egress, ingress
  std::string state;      // contained, NOT contained, unknown, not requested
  std::string reason;
  std::string time;
};

struct Model {
  // The bundle and its verification.
  std::string bundle_name;  // the file name (no directory)
  std::string bundle_sha256;
  std::size_t entries_checked = 0;
  std::vector<std::string> problems;  // "entry: problem" from verification; empty = every hash matched
  bool verified() const { return problems.empty(); }

  // Who, what, when (acquisition.json, else playbook/run.json's acquisition, else acquisition.log).
  std::string case_id, examiner, caller, tool, host, command, context, server, started, ended, result;
  std::string acquisition_source;  // the artifact these came from
  std::string acquisition_log;     // acquisition.log as text (visible form, lines kept)
  std::string playbook;            // the playbook run, "" for collect

  // The subject.
  std::string namespace_name, pod, uid, node, pod_ip, phase, workload;
  std::vector<std::pair<std::string, std::string>> images;  // container -> imageID
  std::vector<std::string> containers;                      // containers with evidence

  std::vector<Isolation> isolation;  // verdicts, latest last
  std::vector<Step> steps;           // every step; the failed/partial ones are shown in red
  std::vector<std::string> not_collected;
  std::vector<Finding> findings;        // sorted: severity, then kind, then summary
  bool findings_from_analysis = false;  // analysis/indicators.json was present
  std::vector<std::string> analysis_gaps;

  std::vector<Process> processes;
  std::vector<Connection> connections;
  std::vector<FileEntry> files;                                  // in listing order
  std::size_t files_dropped = 0;                                 // past ReadOptions::max_files
  std::vector<std::pair<std::string, std::string>> file_hashes;  // path -> sha256 (hashes.json)
  std::vector<std::string> drift_paths;                          // files added/changed vs siblings (drift findings)
  std::vector<Event> events;                                     // sorted by time (files excepted: see FileEntry)
  std::vector<Sibling> siblings;
  std::string siblings_digest;
  std::vector<ArtifactRow> artifacts;
  std::size_t artifacts_dropped = 0;

  std::vector<std::string> notes;  // what is missing or was cut, one sentence each
};

// Reads and verifies the bundle at `path` in one pass. Fails (Errc::io, Errc::invalid) only when
// the file cannot be read as a bundle at all (not a tar.gz, no manifest); hash mismatches and
// unreadable or missing artifacts are kept in the Model (problems, notes), so a report can show
// them. Memory is bounded by `options` (the listing and logs are parsed as they stream).
Result<Model> read_bundle(const std::string& path, const ReadOptions& options = {});

}  // namespace ir::report
