#pragma once
// The observed state of a pod's containers, as the analysis (indicators.hpp, drift.hpp,
// baseline.hpp) reads it: processes, sockets and files, built from the parsed artifacts
// `kubectl ir collect` writes for each container (paths relative to the container's directory
// `containers/<name>/` in a bundle):
//   processes/processes.json   the /proc walk (procfs::parse_proc_walk records)
//   processes/proc-walk.sh     the walk script (to recognise the collector's own shell)
//   processes/ps.json          ps (procfs::parse_ps records): used only when there is no walk
//   network/sockets.json       /proc/net/* with owning pids (procfs::attach_socket_owners)
//   filesystem/listing.jsonl   the file listing (fslist::ListingParser records)
//   filesystem/hashes.json     SHA-256 of the executables of processes and of files under the roots
//
// Missing or unreadable artifacts are explicit: each category has an Availability, and the
// snapshot's `gaps` say what could not be read and why, so "nothing there" is never mistaken for
// "not looked at".
//
// The artifacts are as hostile as the pod (a bundle can be tampered with, a sibling can be
// compromised too): JSON is parsed without exceptions and with bounded nesting, every count is
// bounded (SnapshotLimits), and every string is kept as stored when it is printable UTF-8 of
// bounded length, else escaped again (util::escape_for_terminal) and cut. Strings stay in their
// escaped form (procfs.hpp): never unescape them, never use them as local paths.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "forensics/analysis.hpp"
#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::forensics {

// Bounds on one container snapshot.
struct SnapshotLimits {
  std::size_t max_processes = 20'000;
  std::size_t max_sockets = 50'000;
  std::size_t max_files = 1'000'000;
  std::size_t max_hashes = 200'000;            // hashes.json entries read
  std::size_t max_string_bytes = 4096;         // one string (path, argument, comm) kept
  std::size_t max_argv = 256;                  // arguments of one process kept
  std::size_t max_json_bytes = 64ULL << 20;    // one JSON artifact (processes, ps, sockets, hashes)
  std::size_t max_listing_bytes = 1ULL << 30;  // listing.jsonl read
  std::size_t max_line_bytes = 64 * 1024;      // one listing.jsonl line
  std::size_t max_depth = 32;                  // JSON nesting accepted
};

// How much of one category was read.
enum class Coverage {
  collected,  // the artifact was read whole and parsed
  partial,    // read, but cut, capped, or its producer reported problems (see the gaps)
  missing,    // not in the bundle, unreadable, or not JSON: nothing is known
};
// "collected", "partial", "missing".
const char* to_string(Coverage coverage);

// The categories of a snapshot.
enum class Category {
  processes,    // which processes run (walk or ps)
  executables,  // their exe paths (the walk's readlink; ps has none)
  exe_hashes,   // SHA-256 of the executables (hashes.json "executables")
  sockets,      // /proc/net
  listing,      // the file listing
  file_hashes,  // SHA-256 of files under the hashed roots (hashes.json "files")
};
inline constexpr std::size_t k_categories = 6;
// "processes", "executables", "executable hashes", "sockets", "file listing", "file hashes".
const char* to_string(Category category);

enum class ProcessSource { walk, ps };
// Whether LD_PRELOAD of a process was read (the walk reads that one variable only, never the rest
// of the environment: its record carries "ld_preload": the escaped value, or null when unset; an
// absent key means it was not read).
enum class Preload { not_read, unset, set };

struct SocketFd {
  std::int64_t fd = 0;
  std::uint64_t inode = 0;
};

// One process. Strings are escaped (see above).
struct Process {
  std::size_t index = 0;  // position in its artifact's "records"
  ProcessSource source = ProcessSource::walk;
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::optional<std::uint32_t> uid;       // effective uid (walk), or ps's UID column
  std::optional<std::uint32_t> real_uid;  // walk only
  std::string user;                       // ps USER column ("" unknown)
  std::string comm;                       // "" unknown
  std::string state;
  std::optional<std::uint64_t> start_time;  // clock ticks after boot (walk)
  std::vector<std::string> argv;            // walk: cmdline; ps: args split at spaces
  std::string exe;                          // readlink of /proc/<pid>/exe; "" unknown
  std::string exe_sha256;                   // from hashes.json; "" unknown
  std::string cwd;
  Preload ld_preload = Preload::not_read;
  std::string ld_preload_value;    // when set
  std::vector<SocketFd> sockets;   // socket fds (walk)
  std::vector<std::string> flags;  // the walk's consistency flags
  // kubectl-ir's own process (the walk's `sh -c` or ps), recognised by its exact command line and
  // a parent outside the container (ppid 0): left out of the analysis.
  bool collector = false;
};

// One inet socket (unix sockets are counted, not kept).
struct Socket {
  std::size_t index = 0;  // position in sockets.json "sockets"
  std::string proto;      // "tcp", "tcp6", "udp", "udp6", "raw", "raw6"
  std::string local_ip;
  std::uint32_t local_port = 0;
  std::string remote_ip;
  std::uint32_t remote_port = 0;
  std::string state;  // "LISTEN", "ESTABLISHED", "UNCONN", ...
  std::uint64_t inode = 0;
  std::uint32_t uid = 0;
  std::vector<std::int64_t> pids;  // holders in this container, if known
};

// One listed file.
struct FileEntry {
  std::size_t line = 0;  // 1-based line in listing.jsonl
  std::string path;      // absolute, as listed (escaped)
  char type = '?';       // 'f' 'd' 'l' 'b' 'c' 'p' 's' '?'
  std::uint64_t size = 0;
  std::uint32_t mode = 0;  // permission bits with setuid/setgid/sticky
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string mtime;               // RFC 3339 as listed ("" unknown)
  std::string target;              // symlinks
  std::string sha256;              // from hashes.json "files" ("" not hashed)
  std::vector<std::string> flags;  // the listing parser's flags ("path_cut", "inconsistent", ...)
};

struct Availability {
  Coverage coverage = Coverage::missing;
  std::string why;  // for partial and missing: one clause ("processes.json: not in the bundle")
};

// One container's observed state. Owns everything; processes sorted by pid (one per pid), sockets in
// artifact order, files sorted by path (one per path: the analysis relies on both).
struct ContainerSnapshot {
  std::string name;                                       // the container's name (escaped)
  std::string digest;                                     // its image digest ("sha256:..."; "" unknown)
  std::string dir;                                        // bundle directory of its artifacts: "containers/<name>/"
  std::array<Availability, k_categories> availabilities;  // by Category (use availability())
  std::vector<Process> processes;
  std::vector<Socket> sockets;
  std::vector<FileEntry> files;
  std::vector<std::string> hashed_roots;  // hashes.json "roots": files below them were hashed
  std::size_t unix_sockets = 0;
  // What could not be read or may be wrong, one sentence each, naming the container:
  // "processes of container web: not collected (processes.json: not in the bundle)".
  std::vector<std::string> gaps;

  [[nodiscard]] const Availability& availability(Category category) const {
    return availabilities[static_cast<std::size_t>(category)];
  }
  Availability& availability(Category category) { return availabilities[static_cast<std::size_t>(category)]; }
  // The bundle path of the artifact a category comes from ("containers/web/processes/
  // processes.json"; ps.json when the processes came from ps).
  [[nodiscard]] std::string artifact(Category category) const;
};

// A port the pod spec declares (spec.containers[].ports[].containerPort).
struct DeclaredPort {
  std::string protocol = "TCP";  // "TCP", "UDP", "SCTP"
  std::uint32_t port = 0;
};

// One pod's observed state and the facts about it the noise rules need.
struct PodSnapshot {
  PodRef pod;
  std::string node;
  std::vector<std::string> ips;  // status.podIPs
  std::string hostname;          // spec.hostname, else the pod name
  bool host_network = false;     // spec.hostNetwork: every socket of the node is visible
  // The ports the spec declares, all containers together (they share one network namespace);
  // nullopt when the spec was not read.
  std::optional<std::vector<DeclaredPort>> declared_ports;
  std::vector<ContainerSnapshot> containers;
  std::vector<std::string> gaps;  // pod-level (pod.json unreadable, ...)
};

// The facts pod.json gives: identity, IPs, hostname, hostNetwork, containers (with digests from
// status.containerStatuses[].imageID) and declared ports. Never throws; a field that is absent or
// of the wrong type is left empty.
struct PodFacts {
  PodRef pod;
  std::string node;
  std::vector<std::string> ips;
  std::string hostname;
  bool host_network = false;
  std::vector<std::string> containers;                       // spec.containers[].name, in order
  std::vector<std::pair<std::string, std::string>> digests;  // container → digest
  std::vector<DeclaredPort> declared_ports;                  // all containers (one network namespace)
};
PodFacts pod_facts(const nlohmann::json& pod);

// The digest in an imageID: the part after the last '@' ("repo@sha256:..." → "sha256:..."); a
// "docker://sha256:..." config id without '@' stays as it is minus the scheme; "" → "".
std::string digest_of_image_id(std::string_view image_id);

// Parses JSON text of at most limits.max_json_bytes and limits.max_depth nesting, without
// exceptions. Fails with Errc::protocol naming line and column ("line 3, column 7: ...").
Result<nlohmann::json> parse_bounded_json(std::string_view text, std::size_t max_bytes, std::size_t max_depth);

// Builds one ContainerSnapshot from parsed artifacts, in any order, then finish(). Every add_*
// accepts anything (a document of the wrong shape becomes a gap); none fails. Not thread-safe.
class ContainerSnapshotBuilder {
 public:
  // `dir` is the bundle directory of the container's artifacts ("containers/web/").
  ContainerSnapshotBuilder(std::string container, std::string dir, SnapshotLimits limits = {});
  ~ContainerSnapshotBuilder();
  ContainerSnapshotBuilder(const ContainerSnapshotBuilder&) = delete;
  ContainerSnapshotBuilder& operator=(const ContainerSnapshotBuilder&) = delete;

  void set_digest(std::string digest);
  // processes.json: {"records": [...], "anomalies": [...]}. `walk_script` is processes/proc-walk.sh
  // ("" unknown: the collector's shell is then recognised by the script's shape only).
  void add_processes(const nlohmann::json& document, std::string_view walk_script);
  // ps.json: {"records": [...], "command": "ps ..."}. Used when there are no walk records.
  void add_ps(const nlohmann::json& document);
  // sockets.json: {"sockets": [...], "anomalies": [...]}.
  void add_sockets(const nlohmann::json& document);
  // listing.jsonl, streamed: write() any chunks, then finish() the sink. Lines longer than
  // max_line_bytes, or not JSON, are counted (a gap says how many).
  util::Sink& listing();
  // hashes.json: {"executables": [...], "files": [...], "roots": [...], "problem": "..."}.
  void add_hashes(const nlohmann::json& document);
  // Records that an artifact could not be read: `why` ("not in the bundle", an error message).
  // `category` is the one it feeds (for hashes.json: both hash categories).
  void missing(Category category, const std::string& artifact, const std::string& why);

  // The snapshot: hashes joined to executables and files, collector processes marked, gaps for
  // every category not collected. Call once.
  ContainerSnapshot finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// Reads one artifact by bundle path (e.g. "containers/web/processes/processes.json"), at most
// `max_bytes`. Fails with Errc::not_found when the bundle has no such artifact; any other error
// is reported as a gap with its message.
using ArtifactReader = std::function<Result<std::string>(const std::string& path, std::size_t max_bytes)>;

// The snapshot of container `container` from its artifacts under `prefix` + "containers/<name>/"
// (prefix "" for a collect bundle, "pods/<ns>/<pod>/" in a playbook bundle). The directory name is
// the container name as collect makes it (evidence::safe_component): pass it in `dir_name`.
ContainerSnapshot read_container_snapshot(const std::string& container, const std::string& dir_name,
                                          const std::string& prefix, const ArtifactReader& read,
                                          const SnapshotLimits& limits = {});

// The snapshot of a pod from a bundle: pod/pod.json for the facts, then every container of the
// spec whose directory exists (`dir_name` maps a container name to its directory name). A missing
// or unreadable pod.json is a gap; so is a container with no artifacts at all.
PodSnapshot read_pod_snapshot(const std::string& prefix, const ArtifactReader& read,
                              const std::function<std::string(const std::string&)>& dir_name,
                              const SnapshotLimits& limits = {});

// The pod's identity and noise facts from PodFacts, with no containers yet.
PodSnapshot pod_snapshot(const PodFacts& facts);

}  // namespace ir::forensics
