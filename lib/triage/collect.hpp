#pragma once
// kubectl ir collect: volatile evidence of one pod into an evidence bundle, in the order of
// volatility (RFC 3227; shared/README.md §3):
//   1. API-side state, read before anything can restart the pod: the pod object, its owner chain,
//      the node, the pod's events, the NetworkPolicies that select it, the imageIDs, the logs of
//      every container (current and previous, with timestamps, bounded);
//   2. per running container, through the exec API: processes, then network, then filesystem.
//
// Everything the container prints is kept raw as evidence and parsed (never trusted) into JSON
// beside it. Nothing is written into the container and no tool is copied into it: only read-only
// commands run there (ps, sh with built-ins, cat, readlink, find, stat, tar, ss/netstat). A
// shell-less container (no sh/ps/cat) is detected from the exec error; with `ephemeral` a debug
// container from a trusted image is added (it can never be removed: the caller journals it) and
// the same evidence is read through /proc/<pid>/... and /proc/<pid>/root.
//
// Every step is recorded (StepRecord) whether it worked or not, and every artifact says how it
// was obtained (ArtifactMeta: source, method api|exec|ephemeral, exit status, truncation). A
// failure in one step never stops the others; cancellation stops before the next command and
// leaves what was collected. The caller finishes the bundle in every case.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "evidence/case.hpp"
#include "forensics/analysis.hpp"
#include "forensics/snapshot.hpp"
#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "triage/isolate.hpp"  // ActionLog
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/outcome.hpp"

namespace ir::triage {

// One API connection of its own (a REST client and an exec connector), for a worker thread.
class ApiConnection {
 public:
  virtual ~ApiConnection() = default;
  virtual kube::Client& client() = 0;
  virtual kube::Connector& connector() = 0;
};
// Opens a new connection (the caller's credentials and settings); errors as from the session.
using ConnectionFactory = std::function<Result<std::unique_ptr<ApiConnection>>()>;

enum class FsMode { none, listing, archive };

// How much collect reads.
enum class CollectScope {
  full,      // everything above
  snapshot,  // what the analysis compares (kubectl ir drift, a sibling's snapshot): pod/pod.json
             // from the pod object already read, then per container the /proc walk, /proc/net and
             // the file listing with its hashes; no other API read (owners, node, events, policies,
             // logs), no ps, ss or netstat (the walk and /proc/net say it), a preflight of exec only
};
const char* to_string(FsMode mode);
// "none" | "listing" | "archive"; nullopt otherwise.
std::optional<FsMode> parse_fs_mode(const std::string& text);

struct CollectOptions {
  std::string namespace_name;
  std::string pod;
  std::vector<std::string> containers;  // empty: every container of the pod
  FsMode fs = FsMode::listing;
  // Roots whose regular files are hashed (and archived with FsMode::archive), besides the working
  // directories of processes (except "/").
  std::vector<std::string> paths{"/tmp", "/var/tmp", "/dev/shm", "/root", "/home"};
  std::uint64_t max_log_bytes = 16ULL << 20;      // per log (current, previous)
  std::uint64_t max_file_bytes = 64ULL << 20;     // larger files are listed, not hashed
  std::uint64_t max_archive_bytes = 4ULL << 30;   // bytes hashed/archived per container at most
  std::size_t max_files = 20'000;                 // files hashed per container at most
  std::uint64_t max_output_bytes = 64ULL << 20;   // stdout of one inspection command (ps, walk, ...)
  std::chrono::seconds command_timeout{120};      // one inspection command
  std::chrono::seconds idle_timeout{60};          // no output at all for this long
  bool ephemeral = false;                         // shell-less: add a debug container
  std::string debug_image = "busybox";
  bool ptrace = false;                            // the debug container gets SYS_PTRACE
  std::chrono::seconds ephemeral_lifetime{3600};  // the debug container's `sleep`
  std::chrono::seconds ephemeral_start_timeout{90};
  CollectScope scope = CollectScope::full;
  // Also compare the pod with its healthy siblings (triage/drift.hpp, default choices) into
  // analysis/drift.json; their snapshots go under pods/<ns>/<pod>/.
  bool drift = false;
};

// The outcome of one step.
struct StepRecord {
  std::string container;  // "" for pod-level steps
  std::string step;       // "pod", "owners", "node", "events", "networkpolicies", "logs", "processes",
                          // "network", "filesystem", "hashes", "archive", "ephemeral"
  util::Outcome status = util::Outcome::ok;  // partial/failed: evidence of this step is missing
  evidence::Method method = evidence::Method::exec;
  std::string detail;     // why not ok, or a short summary ("37 processes")
  std::size_t artifacts = 0;
  std::uint64_t bytes = 0;
};

struct CollectReport {
  nlohmann::json pod;  // the pod as first read
  std::string pod_uid;
  std::string resource_version;
  std::string node;
  nlohmann::json image_ids = nlohmann::json::object();  // container -> imageID ("" not started)
  std::vector<StepRecord> steps;
  // What was not collected, and how to get it ("processes of container app: the image has no
  // shell; rerun with --ephemeral").
  std::vector<std::string> not_collected;
  std::vector<std::string> ephemeral_containers;  // added by this run (permanent in the pod spec)
  // What a responder should see first, one line each: established connections with the process
  // that holds them ("pid 3 /tmp/.x/kworkerds -> 198.51.100.7:3333"), listening sockets, executables
  // running from temporary directories. Escaped, bounded.
  std::vector<std::string> notable;
  // The analysis of what was collected (no extra exec): the pod's snapshot as the analysis reads
  // it, the single-pod indicators (analysis/indicators.json) and, with `drift`, the comparison with
  // siblings (analysis/drift.json). Empty when interrupted.
  std::shared_ptr<const forensics::PodSnapshot> snapshot;
  std::optional<forensics::AnalysisDocument> indicators;
  std::optional<forensics::AnalysisDocument> drift;
  // Other pods whose snapshots the bundle holds (the siblings `drift` compared with).
  std::vector<evidence::Subject> other_subjects;
  bool cancelled = false;
  // interrupted (Ctrl-C), partial (some evidence is missing: a step failed or was partial, something
  // was not collected) or ok. The method used (exec, a debug container) never makes it partial.
  [[nodiscard]] util::Outcome outcome() const;
  [[nodiscard]] bool partial() const { return outcome() != util::Outcome::ok; }
};

// What collect works with. All references must outlive the call.
struct CollectEnv {
  kube::Client& client;
  kube::Connector& connector;
  evidence::BundleWriter& bundle;
  util::Clock& clock;
  ActionLog log;                                       // one call per action worth journaling
  std::function<void(const std::string&)> progress;    // one line per step (may be empty)
  const util::CancelToken* cancel = nullptr;
  // Where `bundle`'s entries sit in the real bundle ("" or "pods/<ns>/<pod>/"): the analysis
  // documents name artifacts by their bundle path.
  std::string bundle_prefix;
  // Connections of their own for parallel sibling snapshots (`drift`); empty: one at a time on
  // `client` and `connector`.
  ConnectionFactory connect;
};

// Reads the pod (the first thing collect does; separate so the caller can refuse early, before
// creating a bundle). Errors carry the API server's message.
Result<nlohmann::json> read_target_pod(kube::Client& client, const std::string& ns, const std::string& pod);

// Collects into env.bundle, starting from `pod` (as returned by read_target_pod). Fails only for
// invalid options (Errc::usage: e.g. a container the pod does not have); every other failure is
// a StepRecord and, where something was lost, a not_collected line.
Result<CollectReport> collect(CollectEnv& env, const CollectOptions& options, const nlohmann::json& pod);

// The evidence subject the bundle's acquisition record names: the pod as first read, its imageIDs
// and their digests.
evidence::Subject subject_of(const CollectReport& report, const std::string& namespace_name, const std::string& pod);

// collect's own part of acquisition.log: the options, every step's outcome. Values from the
// cluster are escaped (util::esc).
std::string collect_details(const CollectOptions& options, const CollectReport& report);

// collect's own fields of acquisition.json: {"collect": {"fs", "paths", "steps": [...],
// "ephemeral_containers", "notable"}}.
nlohmann::json collect_record(const CollectOptions& options, const CollectReport& report);

}  // namespace ir::triage
