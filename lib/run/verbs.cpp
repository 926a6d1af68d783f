#include "run/verbs.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "build_info.hpp"

#include "kube/api.hpp"
#include "forensics/analysis.hpp"
#include "triage/collect.hpp"
#include "triage/drift.hpp"
#include "triage/exec_entry.hpp"
#include "triage/isolate.hpp"
#include "triage/siblings.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::run {

using nlohmann::json;
using playbook::OptionSet;
using playbook::OptionSpec;
using playbook::OptionType;
using playbook::OutputSpec;
using playbook::OutputType;
using playbook::StepType;

namespace {

constexpr std::size_t k_max_stdout_output = 64 * 1024;  // exec stdout kept as a step output
constexpr std::size_t k_max_sibling_outputs = 1000;     // siblings listed in the outputs

// ---- the shared bundle --------------------------------------------------------------------------

class LockedEntry final : public evidence::EntrySink {
 public:
  LockedEntry(std::unique_ptr<evidence::EntrySink> inner, std::unique_lock<std::mutex> stream, SharedBundle::Locks& locks)
      : m_inner(std::move(inner)), m_stream(std::move(stream)), m_locks(locks) {}
  Result<void> write(std::string_view data) override { return m_inner->write(data); }
  Result<evidence::Artifact> commit(const evidence::ArtifactMeta& meta) override {
    std::lock_guard lock(m_locks.calls);
    auto r = m_inner->commit(meta);
    m_inner.reset();
    m_stream.unlock();
    return r;
  }
  ~LockedEntry() override {
    if (m_inner) {
      std::lock_guard lock(m_locks.calls);
      m_inner.reset();
    }
  }

 private:
  std::unique_ptr<evidence::EntrySink> m_inner;
  std::unique_lock<std::mutex> m_stream;
  SharedBundle::Locks& m_locks;
};

class BundleView final : public evidence::BundleWriter {
 public:
  BundleView(evidence::BundleWriter& inner, SharedBundle::Locks& locks, std::string prefix)
      : m_inner(inner), m_locks(locks), m_prefix(std::move(prefix)) {}
  Result<evidence::Artifact> add(const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) override {
    std::lock_guard lock(m_locks.calls);
    return m_inner.add(m_prefix + name, data, meta);
  }
  Result<std::unique_ptr<evidence::EntrySink>> open_entry(const std::string& name, const evidence::ArtifactMeta& meta) override {
    std::unique_lock stream(m_locks.stream);
    std::lock_guard lock(m_locks.calls);
    IR_TRY(inner, m_inner.open_entry(m_prefix + name, meta));
    return std::unique_ptr<evidence::EntrySink>(std::make_unique<LockedEntry>(std::move(inner), std::move(stream), m_locks));
  }
  [[nodiscard]] const std::vector<evidence::Artifact>& artifacts() const override { return m_inner.artifacts(); }
  Result<std::string> finish() override { return fail(Errc::failure, "a bundle view cannot finish the bundle"); }

 private:
  evidence::BundleWriter& m_inner;
  SharedBundle::Locks& m_locks;
  std::string m_prefix;
};

// ---- the options of the verbs that have no options struct of their own in triage -----------------

struct PodTarget {
  std::string pod;
  std::string namespace_name;
};

struct SiblingsStep {
  std::string digest;
  bool all_namespaces = true;
  bool include_self = false;
};

struct ExecStep {
  std::string container;
  std::vector<std::string> command;
  std::uint64_t max_bytes = 64ULL << 20;
};

struct MetadataStep {
  json labels = json::object();
  json annotations = json::object();
};

struct CordonStep {
  std::string node;
};

struct LogsStep {
  std::string container;
  bool previous = false;
  std::uint64_t max_bytes = 16ULL << 20;
};

struct WaitStep {
  std::chrono::seconds duration{0};
};

struct SignStep {
  std::string path;  // the bundle
  std::string key;   // PEM key file
};

struct UploadStep {
  std::string path;        // the file (a bundle: its .sig and .intoto.jsonl go with it when present)
  std::string to;          // s3://BUCKET/PREFIX
  bool signatures = true;  // also B.sig and B.intoto.jsonl when they exist
};

// Every step that acts on a pod names it like the CLI does; both default to the run's target.
const OptionSet<PodTarget>& target_options() {
  static const OptionSet<PodTarget> o = [] {
    OptionSet<PodTarget> s;
    s.text("pod", &PodTarget::pod, "the pod (default: the playbook's --pod)").playbook_only();
    s.text("namespace", &PodTarget::namespace_name, "its namespace (default: the playbook's)").playbook_only();
    return s;
  }();
  return o;
}

// For the verbs whose only options are the pod and namespace.
const OptionSet<PodTarget>& no_options() {
  static const OptionSet<PodTarget> none;
  return none;
}

Result<PodTarget> target_of(const StepCall& call) {
  IR_TRY(t, target_options().decode(call.with, PodTarget{call.pod, call.namespace_name}));
  if (t.pod.empty()) return fail(Errc::invalid, "no pod: give the playbook --pod or the step a \"pod\" option");
  return t;
}

kube::DryRun dry(const StepCall& call) { return call.dry_run ? kube::DryRun::all : kube::DryRun::none; }

// ---- the table ------------------------------------------------------------------------------------

// What a handler gets: the environment, the call, and its options decoded into T.
template <class T>
using Handler = std::function<Result<VerbResult>(VerbEnv&, const StepCall&, const T&)>;

// One verb: its step type (options from `options`, pod/namespace first when it acts on a pod)
// and its handler, type-erased.
struct Verb {
  StepType type;
  std::function<Result<VerbResult>(VerbEnv&, const StepCall&)> run;  // empty for for_each
};

enum class ActsOnPod { no, yes };

template <class T>
Verb verb(std::string name, ActsOnPod on_pod, const OptionSet<T>& options, std::vector<OutputSpec> outputs, Handler<T> handler,
          T defaults = T{}) {
  Verb v;
  v.type.name = std::move(name);
  if (on_pod == ActsOnPod::yes) v.type.options = target_options().specs();
  for (auto& spec : options.specs(defaults)) v.type.options.push_back(std::move(spec));
  v.type.outputs = std::move(outputs);
  v.run = [&options, handler = std::move(handler), defaults](VerbEnv& env, const StepCall& call) -> Result<VerbResult> {
    IR_TRY(decoded, options.decode(call.with, defaults));
    return handler(env, call, decoded);
  };
  return v;
}

// ---- isolate --------------------------------------------------------------------------------------

Result<void> non_empty_image(const json& v) {
  if (v.is_string() && v.get<std::string>().empty()) return fail(Errc::invalid, "the debug image must not be empty");
  return {};
}

const OptionSet<triage::IsolateOptions>& isolate_option_set() {
  using O = triage::IsolateOptions;
  static const OptionSet<O> o = [] {
    OptionSet<O> s;
    s.flag("ingress", &O::ingress, "Deny ingress too");
    s.flag("allow_dns", &O::allow_dns, "Allow egress to the cluster DNS (kube-dns pods, port 53, and NodeLocal DNSCache)");
    s.list("allow_egress", &O::allow_egress, "Allow egress to CIDR[:PORT] (repeatable), e.g. a collector");
    s.flag("exclusive", &O::exclusive, "Patch other policies that select the pod so they stop selecting it (restored by release)");
    s.flag("detach", &O::detach, "Remove the labels Services and the controller select (the pod leaves endpoints; a replacement starts)");
    s.flag("cordon", &O::cordon, "Cordon the pod's node (release uncordons it only if isolate did)");
    s.flag("admin_policy", &O::admin_policy, "Also add a priority-0 AdminNetworkPolicy Deny (clusters serving policy.networking.k8s.io)");
    s.flag("verify", &O::verify,
           "Measure it: try a destination from inside the pod before and after the quarantine (a sibling pod's port, "
           "else the kubernetes Service)");
    s.text("probe", &O::probe, "The destination verify tries (implies verify): HOST:PORT outside the pod and its node")
        .check([](const json& v) -> Result<void> {
          if (!v.is_string()) return {};
          IR_TRY(t, triage::parse_probe_target(v.get<std::string>()));
          // What can be refused without the pod (loopback) is refused before anything is written.
          if (const std::string why = triage::unprobeable_reason(t.host, {}); !why.empty())
            return fail(Errc::usage, util::esc(why, util::Cap::detail));
          return {};
        });
    s.flag("ephemeral", &O::ephemeral, "Probe from a debug container of a trusted image (debug_image) instead of the image's own nc");
    s.text("debug_image", &O::debug_image, "Image of the ephemeral debug container (default busybox)").check(non_empty_image);
    s.duration("verify_timeout", &O::verify_timeout,
               "How long a destination still reachable after the quarantine is retried before it counts (default 10s)");
    return s;
  }();
  return o;
}

Result<VerbResult> isolate(VerbEnv& env, const StepCall& call, const triage::IsolateOptions& given) {
  IR_TRY(t, target_of(call));
  triage::IsolateOptions o = given;
  o.namespace_name = t.namespace_name;
  o.pod = t.pod;
  o.case_id = call.case_id;
  o.new_case_id = call.case_id;
  o.dry_run = dry(call);
  o.actor = env.actor;
  IR_TRY(r, triage::isolate(env.client, &env.connector, o, env.journal, env.clock));
  VerbResult out{json{{"policy", r.policy.value("metadata", json::object()).value("name", "")},
                      {"egress", triage::to_string(r.egress.state)},
                      {"ingress", triage::to_string(r.ingress.state)},
                      {"contained", r.contained()},
                      {"node", r.node}}};
  if (!r.contained() && !call.dry_run) {
    out.outcome = util::Outcome::partial;
    out.reason = fmt::format("{}/{}: {}", t.namespace_name, t.pod, r.gap());
  }
  return out;
}

// ---- release --------------------------------------------------------------------------------------

Result<VerbResult> release(VerbEnv& env, const StepCall& call, const PodTarget& /*unused*/) {
  IR_TRY(t, target_of(call));
  IR_TRY(r, triage::release(env.client, {t.namespace_name, t.pod, dry(call)}, env.journal));
  return VerbResult{json{{"released", r.was_isolated}}};
}

// ---- collect --------------------------------------------------------------------------------------

// --path values: absolute, no "..".
Result<void> check_paths(const json& v) {
  for (const auto& p : v) {
    const std::string path = p.get<std::string>();
    const bool climbs = path.find("/../") != std::string::npos ||
                        (path.size() >= 3 && path.compare(path.size() - 3, 3, "/..") == 0);
    if (path.empty() || path[0] != '/' || climbs) {
      return fail(Errc::invalid, util::quoted(path, util::Cap::field) + " is not an absolute path without \"..\"");
    }
  }
  return {};
}

// Where a pod's evidence sits in the run's bundle: the top for the playbook's pod, else
// pods/<ns>/<pod>/.
std::string pod_prefix(const StepCall& call, const PodTarget& t) {
  const bool primary = t.pod == call.pod && t.namespace_name == call.namespace_name;
  return primary ? "" : "pods/" + evidence::safe_component(t.namespace_name) + "/" + evidence::safe_component(t.pod) + "/";
}

const OptionSet<triage::CollectOptions>& collect_option_set() {
  using O = triage::CollectOptions;
  static const OptionSet<O> o = [] {
    OptionSet<O> s;
    s.list("containers", &O::containers, "Only this container (repeatable; default: all)").cli_short("c").cli_name("container");
    s.choice<triage::FsMode>("fs", &O::fs, {"listing", "archive", "none"}, triage::parse_fs_mode,
                             [](triage::FsMode m) { return std::string(triage::to_string(m)); },
                             "Filesystem: listing (list + hash), archive (also tar the paths), none");
    s.list("paths", &O::paths, "Root to hash/archive (repeatable; default /tmp /var/tmp /dev/shm /root /home)")
        .cli_name("path")
        .check(check_paths);
    s.size("max_log_bytes", &O::max_log_bytes, "Per log, current and previous (default 16Mi)");
    s.size("max_file_bytes", &O::max_file_bytes, "Larger files are listed, not hashed (default 64Mi)");
    s.size("max_archive_bytes", &O::max_archive_bytes, "Bytes hashed/archived per container (default 4Gi)");
    s.duration("timeout", &O::command_timeout, "Time limit of one command in the container (default 2m)");
    s.flag("ephemeral", &O::ephemeral, "For a shell-less image: add a debug container and collect through it");
    s.text("debug_image", &O::debug_image, "Image of the debug container (default busybox)").check(non_empty_image);
    s.flag("ptrace", &O::ptrace, "Give the debug container SYS_PTRACE (to read other users' processes)");
    s.flag("drift", &O::drift, "Also compare the pod with up to 5 healthy siblings (as kubectl ir drift) into analysis/drift.json");
    return s;
  }();
  return o;
}

Result<VerbResult> collect(VerbEnv& env, const StepCall& call, const triage::CollectOptions& given) {
  IR_TRY(t, target_of(call));
  triage::CollectOptions o = given;
  o.namespace_name = t.namespace_name;
  o.pod = t.pod;
  IR_TRY(pod, triage::read_target_pod(env.client, t.namespace_name, t.pod));
  if (call.dry_run || env.bundle == nullptr) {
    return VerbResult{json{{"artifacts", 0}, {"partial", false}, {"not_collected", json::array()},
                           {"ephemeral_containers", json::array()}, {"notable", json::array()}, {"planned", true}}};
  }
  const std::string prefix = pod_prefix(call, t);
  auto view = env.bundle->view(prefix);
  triage::CollectEnv cenv{env.client, env.connector, *view, env.clock, env.journal, env.progress, call.cancel, prefix, env.connect};
  IR_TRY(r, triage::collect(cenv, o, pod));
  if (env.subject) {
    env.subject(triage::subject_of(r, t.namespace_name, t.pod), r.not_collected);
    for (const auto& other : r.other_subjects) env.subject(other, {});
  }
  std::size_t artifacts = 0;
  for (const auto& s : r.steps) artifacts += s.artifacts;
  VerbResult out{json{{"artifacts", artifacts}, {"partial", r.partial()}, {"not_collected", r.not_collected},
                      {"ephemeral_containers", r.ephemeral_containers}, {"notable", r.notable}}};
  if (r.cancelled) {
    return fail(Errc::cancelled, fmt::format("collect of {}/{} interrupted after {} artifacts", t.namespace_name, t.pod, artifacts));
  }
  if (r.partial()) {
    out.outcome = util::Outcome::partial;
    std::vector<std::string> why = r.not_collected;
    for (const auto& s : r.steps) {
      if (!util::complete(s.status)) why.push_back(s.step + (s.container.empty() ? "" : " [" + s.container + "]") + " " + util::to_string(s.status) + ": " + s.detail);
    }
    out.reason = fmt::format("{}/{}: evidence missing: {}", t.namespace_name, t.pod, why.empty() ? "see the bundle" : why.front());
    if (why.size() > 1) out.reason += fmt::format(" (and {} more)", why.size() - 1);
  }
  return out;
}

// ---- siblings -------------------------------------------------------------------------------------

const OptionSet<SiblingsStep>& siblings_option_set() {
  static const OptionSet<SiblingsStep> o = [] {
    OptionSet<SiblingsStep> s;
    s.text("digest", &SiblingsStep::digest, "Search for this image digest instead of the pod's");
    s.flag("all_namespaces", &SiblingsStep::all_namespaces, "List siblings in every namespace (false: the pod's only)");
    s.flag("include_self", &SiblingsStep::include_self, "Include the suspect pod itself in the outputs");
    return s;
  }();
  return o;
}

Result<VerbResult> siblings(VerbEnv& env, const StepCall& call, const SiblingsStep& step) {
  triage::SiblingsOptions o;
  if (step.digest.empty()) {
    IR_TRY(t, target_of(call));
    o.namespace_name = t.namespace_name;
    o.pod = t.pod;
  } else {
    IR_TRY(t, target_options().decode(call.with, PodTarget{call.pod, call.namespace_name}));
    o.namespace_name = t.namespace_name;
    o.digest = step.digest;
  }
  o.fallback_namespaces = {o.namespace_name};
  o.cancel = call.cancel;
  IR_TRY(r, triage::find_siblings(env.client, o));
  json pods = json::array();
  std::size_t count = 0;
  for (const auto& p : r.siblings) {
    if (p.suspect && !step.include_self) continue;
    if (!step.all_namespaces && p.namespace_name != o.namespace_name) continue;
    ++count;
    if (pods.size() < k_max_sibling_outputs) {
      pods.push_back({{"namespace", p.namespace_name}, {"name", p.name}, {"workload", triage::to_string(p.workload)},
                      {"node", p.node}, {"phase", p.phase}});
    }
  }
  VerbResult out{json{{"count", count}, {"pods", pods}, {"partial", r.partial || r.inconsistent},
                      {"digest", r.targets.empty() ? "" : r.targets.front().image_id}}};
  if (count > pods.size()) out.outputs["note"] = fmt::format("pods lists the first {} of {}", pods.size(), count);
  if (r.partial || r.inconsistent) {
    out.outcome = util::Outcome::partial;
    out.reason = r.partial ? "the search is partial: " + r.partial_reason
                           : "the list expired mid-scan and was continued: pods may be missing or repeated";
  }
  return out;
}

// ---- drift ----------------------------------------------------------------------------------------

const OptionSet<triage::DriftOptions>& drift_option_set() {
  using O = triage::DriftOptions;
  static const OptionSet<O> o = [] {
    OptionSet<O> s;
    s.integer("siblings", &O::siblings, 0, "Healthy siblings to compare with (default 5; 0: indicators only)");
    s.integer("quorum", &O::quorum, 1, "Report what fewer than this many siblings share (default 1: none of them)");
    s.integer("parallel", &O::parallel, 1, "Sibling snapshots at once, each on its own connection (default 4)");
    s.list("ignore", &O::ignore, "Leave out items matching this glob (repeatable): a path, an exe path, tcp:PORT, ADDRESS:PORT");
    s.list("exclude", &O::exclude, "Never compare with this pod, NAMESPACE/NAME (repeatable)");
    s.text("baseline", &O::baseline_file, "Compare with this baseline file (kubectl ir baseline create) instead of live siblings");
    s.list("containers", &O::containers, "Only this container of the pod (repeatable; default: all)").cli_short("c").cli_name("container");
    s.list("paths", &O::paths, "Root whose files are hashed (repeatable; default /tmp /var/tmp /dev/shm /root /home)")
        .cli_name("path")
        .check(check_paths);
    s.size("max_file_bytes", &O::max_file_bytes, "Larger files are listed, not hashed (default 64Mi)");
    s.duration("timeout", &O::command_timeout, "Time limit of one command in a container (default 2m)");
    s.flag("ephemeral", &O::ephemeral, "For shell-less images: read through a debug container (added to every pod compared)");
    s.text("debug_image", &O::debug_image, "Image of the debug container (default busybox)").check(non_empty_image);
    s.flag("ptrace", &O::ptrace, "Give the debug container SYS_PTRACE");
    return s;
  }();
  return o;
}

constexpr std::size_t k_max_finding_outputs = 20;  // summary lines kept as a step output

// Counts of drift findings by the kinds a `when:` asks about.
json drift_outputs(const triage::DriftReport& r) {
  std::size_t connections = 0;
  std::size_t processes = 0;
  std::size_t files = 0;
  std::size_t listening = 0;
  for (const auto& f : r.drift.findings) {
    switch (f.kind) {
      case forensics::FindingKind::connection: ++connections; break;
      case forensics::FindingKind::process:
      case forensics::FindingKind::root_process: ++processes; break;
      case forensics::FindingKind::file: ++files; break;
      case forensics::FindingKind::listening_port: ++listening; break;
      default: break;
    }
  }
  json lines = json::array();
  for (const auto& l : forensics::summary_lines(r.drift.findings, k_max_finding_outputs)) lines.push_back(util::esc(l, util::Text::escaped, util::Cap::detail));
  const auto& b = r.drift.baseline;
  const bool compared = b && b->source != forensics::BaselineSource::none &&
                        (b->source == forensics::BaselineSource::baseline_file || r.compared() > 0);
  return {{"findings", lines},
          {"total", r.drift.findings.size()},
          {"connections", connections},
          {"processes", processes},
          {"files", files},
          {"listening", listening},
          {"indicators", r.indicators ? r.indicators->findings.size() : 0},
          {"members", r.compared()},
          {"judged_against", !compared ? "none"
                             : b->source == forensics::BaselineSource::baseline_file
                                 ? "baseline-file"
                                 : (std::all_of(b->members.begin(), b->members.end(),
                                                [](const forensics::Member& m) {
                                                  return m.status != forensics::MemberStatus::ok ||
                                                         m.relation == forensics::Relation::same_workload;
                                                })
                                        ? "same-workload"
                                        : "same-digest")},
          {"partial", r.outcome() != util::Outcome::ok}};
}

Result<VerbResult> drift(VerbEnv& env, const StepCall& call, const triage::DriftOptions& given) {
  IR_TRY(t, target_of(call));
  triage::DriftOptions o = given;
  o.namespace_name = t.namespace_name;
  o.pod = t.pod;
  if (!o.baseline_file.empty()) {
    IR_TRY(text, util::read_file(o.baseline_file, 512ULL << 20));
    o.baseline_text = std::move(text);
  }
  IR_TRY(pod, triage::read_target_pod(env.client, t.namespace_name, t.pod));
  if (call.dry_run || env.bundle == nullptr) {
    return VerbResult{json{{"findings", json::array()}, {"total", 0}, {"connections", 0}, {"processes", 0}, {"files", 0},
                           {"listening", 0}, {"indicators", 0}, {"members", 0}, {"judged_against", "none"},
                           {"partial", false}, {"planned", true}}};
  }
  const std::string prefix = pod_prefix(call, t);
  const std::string snapshots_at = "steps/" + evidence::safe_component(call.id) + "/" + prefix;
  auto snapshots = env.bundle->view(snapshots_at);
  auto analysis = env.bundle->view(prefix);
  triage::DriftEnv denv{env.client, env.connector, env.clock, snapshots.get(), snapshots_at, analysis.get(), snapshots.get(),
                        env.journal, env.progress, call.cancel, env.connect};
  IR_TRY(r, triage::drift(denv, o, pod));
  if (env.subject) {
    for (const auto& s : r.subjects) env.subject(s, {});
  }
  if (r.cancelled) return fail(Errc::cancelled, fmt::format("drift of {}/{} interrupted", t.namespace_name, t.pod));
  VerbResult out{drift_outputs(r)};
  const auto outcome = r.outcome();
  if (outcome == util::Outcome::failed) {
    return fail(Errc::failure, fmt::format("drift of {}/{}: nothing could be read from the pod{}", t.namespace_name, t.pod,
                                           r.suspect_collect.not_collected.empty() ? "" : ": " + r.suspect_collect.not_collected.front()));
  }
  if (outcome != util::Outcome::ok) {
    out.outcome = util::Outcome::partial;
    std::vector<std::string> why;
    for (const auto& g : r.drift.gaps) why.push_back(g);
    out.reason = fmt::format("{}/{}: {}", t.namespace_name, t.pod, why.empty() ? r.baseline_line() : why.front());
    if (why.size() > 1) out.reason += fmt::format(" (and {} more)", why.size() - 1);
  }
  return out;
}

// ---- baseline -------------------------------------------------------------------------------------

struct BaselineStep {
  std::string workload;            // "deployment/web"
  std::vector<std::string> pods;   // or these pods (default: the step's pod)
  std::string output;              // also write the file here
  std::size_t max_pods = 5;
  std::size_t parallel = 4;
};

const OptionSet<BaselineStep>& baseline_option_set() {
  static const OptionSet<BaselineStep> o = [] {
    OptionSet<BaselineStep> s;
    s.text("workload", &BaselineStep::workload, "Profile this workload's pods: deployment/NAME, statefulset/NAME, daemonset/NAME, replicaset/NAME");
    s.list("pods", &BaselineStep::pods, "Or these pods of the namespace (default: the step's pod)");
    s.text("output", &BaselineStep::output, "Also write the baseline file here (it is always in the bundle)");
    s.integer("max_pods", &BaselineStep::max_pods, 1, "A workload's pods profiled at most (default 5)");
    s.integer("parallel", &BaselineStep::parallel, 1, "Snapshots at once (default 4)");
    return s;
  }();
  return o;
}

// "deployment/web" → kind, name; Errc::invalid otherwise.
Result<std::pair<std::string, std::string>> parse_workload(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() || text.find('/', slash + 1) != std::string::npos) {
    return fail(Errc::invalid, util::quoted(text, util::Cap::field) + " is not KIND/NAME");
  }
  std::string kind = util::to_lower(text.substr(0, slash));
  static const std::map<std::string, std::string> k_aliases = {
      {"deploy", "deployment"}, {"deployments", "deployment"}, {"sts", "statefulset"}, {"statefulsets", "statefulset"},
      {"ds", "daemonset"},      {"daemonsets", "daemonset"},   {"rs", "replicaset"},  {"replicasets", "replicaset"}};
  if (auto it = k_aliases.find(kind); it != k_aliases.end()) kind = it->second;
  return std::make_pair(kind, text.substr(slash + 1));
}

Result<VerbResult> baseline(VerbEnv& env, const StepCall& call, const BaselineStep& step) {
  IR_TRY(t, target_options().decode(call.with, PodTarget{call.pod, call.namespace_name}));
  triage::BaselineOptions o;
  o.target.namespace_name = t.namespace_name;
  if (!step.workload.empty()) {
    IR_TRY(w, parse_workload(step.workload));
    o.target.workload_kind = w.first;
    o.target.workload_name = w.second;
    o.subject = w.first + "/" + w.second;
  } else {
    o.target.pods = step.pods.empty() ? std::vector<std::string>{t.pod} : step.pods;
    if (o.target.pods.front().empty()) return fail(Errc::invalid, "no pod: give \"workload\", \"pods\" or the playbook's --pod");
    o.subject = "pods " + util::join(o.target.pods, " ");
  }
  o.max_pods = step.max_pods;
  o.snapshot.parallel = step.parallel;
  o.generator = "kubectl-ir " + std::string(build::k_version);
  if (call.dry_run || env.bundle == nullptr) {
    return VerbResult{json{{"file", step.output}, {"members", 0}, {"digest", ""}, {"planned", true}}};
  }
  auto view = env.bundle->view("steps/" + evidence::safe_component(call.id) + "/");
  triage::DriftEnv denv{env.client, env.connector, env.clock, nullptr, "", nullptr, nullptr,
                        env.journal, env.progress, call.cancel, env.connect};
  IR_TRY(r, triage::create_baseline(denv, o));
  if (r.cancelled) return fail(Errc::cancelled, "baseline interrupted");
  IR_CHECK(view->add("baseline.json", r.text, {.source = "kubectl-ir baseline of " + o.subject, .method = evidence::Method::local}));
  if (!step.output.empty()) IR_CHECK(util::write_file_atomic(step.output, r.text, 0644));
  std::size_t ok = 0;
  for (const auto& m : r.profile.members) ok += m.status == forensics::MemberStatus::ok ? 1 : 0;
  VerbResult out{json{{"file", step.output}, {"members", ok}, {"digest", r.profile.digest}}};
  if (r.outcome() == util::Outcome::failed) return fail(Errc::failure, "baseline: no pod could be profiled");
  if (r.outcome() != util::Outcome::ok) {
    out.outcome = util::Outcome::partial;
    out.reason = fmt::format("{} of {} pods profiled", ok, r.profile.members.size());
  }
  return out;
}

// ---- exec -----------------------------------------------------------------------------------------

const OptionSet<ExecStep>& exec_option_set() {
  static const OptionSet<ExecStep> o = [] {
    OptionSet<ExecStep> s;
    s.text("container", &ExecStep::container, "Container (default: the pod's default container)");
    s.list("command", &ExecStep::command, "The command and its arguments").required();
    s.size("max_bytes", &ExecStep::max_bytes, "Stop after this much stdout (default 64Mi)");
    return s;
  }();
  return o;
}

Result<VerbResult> exec(VerbEnv& env, const StepCall& call, const ExecStep& step) {
  IR_TRY(t, target_of(call));
  if (step.command.empty()) return fail(Errc::invalid, "option \"command\" must be a non-empty list");
  if (call.dry_run || env.bundle == nullptr) {
    return VerbResult{json{{"exit_code", 0}, {"stdout", ""}, {"truncated", false}, {"planned", true}}};
  }
  auto view = env.bundle->view("steps/" + evidence::safe_component(call.id) + "/");
  triage::ExecEntrySpec spec;
  spec.request = {t.namespace_name, t.pod, step.container, step.command};
  spec.limits.max_stdout = step.max_bytes;
  spec.entry = "stdout";
  spec.meta = {.source = "exec " + step.container + ": " + util::esc(util::join(step.command, " "), util::Cap::detail),
               .method = evidence::Method::exec};
  spec.keep = k_max_stdout_output;
  const auto cap = triage::exec_to_entry(env.client, env.connector, *view, spec, call.cancel);
  if (cap.error && !cap.result) return unexpected(*cap.error);
  if (cap.error) return unexpected(cap.error->context("exec"));
  if (!cap.result->completed()) return fail(Errc::failure, "exec: " + cap.result->detail);
  const bool truncated = cap.result->out.truncated() || !cap.stdout_copy_complete;
  VerbResult out{json{{"exit_code", cap.result->exit_code},
                      {"stdout", util::escape_for_terminal(cap.stdout_copy, k_max_stdout_output, util::Lines::keep)},
                      {"truncated", truncated}}};
  return out;
}

// ---- label, annotate, cordon ----------------------------------------------------------------------

const OptionSet<MetadataStep>& metadata_option_set(const char* field) {
  static const OptionSet<MetadataStep> labels = [] {
    OptionSet<MetadataStep> s;
    s.map("labels", &MetadataStep::labels, "Labels to set (null removes one)").required();
    return s;
  }();
  static const OptionSet<MetadataStep> annotations = [] {
    OptionSet<MetadataStep> s;
    s.map("annotations", &MetadataStep::annotations, "Annotations to set (null removes one)").required();
    return s;
  }();
  return std::string(field) == "labels" ? labels : annotations;
}

Result<VerbResult> metadata(VerbEnv& env, const StepCall& call, const json& values, const char* field) {
  IR_TRY(t, target_of(call));
  IR_TRY(p, kube::patch_pod_metadata(env.client, t.namespace_name, t.pod, {{field, values}}, dry(call)));
  if (env.journal) {
    env.journal(field == std::string("labels") ? "label" : "annotate",
                {{"namespace", t.namespace_name}, {"pod", t.pod}, {field, values}, {"dry_run", call.dry_run}});
  }
  return VerbResult{json{{field, p.value("metadata", json::object()).value(field, json::object())}}};
}

const OptionSet<CordonStep>& cordon_option_set() {
  static const OptionSet<CordonStep> o = [] {
    OptionSet<CordonStep> s;
    s.text("node", &CordonStep::node, "The node (default: the pod's)");
    return s;
  }();
  return o;
}

Result<VerbResult> cordon(VerbEnv& env, const StepCall& call, const CordonStep& step) {
  std::string node = step.node;
  if (node.empty()) {
    IR_TRY(t, target_of(call));
    IR_TRY(pod, kube::get_pod(env.client, t.namespace_name, t.pod));
    node = pod.value("spec", json::object()).value("nodeName", "");
    if (node.empty()) return fail(Errc::invalid, fmt::format("pod {}/{} is not scheduled on a node", t.namespace_name, t.pod));
  }
  IR_CHECK(kube::patch_node(env.client, node, {{"spec", {{"unschedulable", true}}}}, dry(call)));
  if (env.journal) env.journal("cordon", {{"node", node}, {"dry_run", call.dry_run}});
  return VerbResult{json{{"node", node}}};
}

// ---- logs -----------------------------------------------------------------------------------------

const OptionSet<LogsStep>& logs_option_set() {
  static const OptionSet<LogsStep> o = [] {
    OptionSet<LogsStep> s;
    s.text("container", &LogsStep::container, "Container (default: the pod's default container)");
    s.flag("previous", &LogsStep::previous, "The log of the previous instance");
    s.size("max_bytes", &LogsStep::max_bytes, "At most this much of the log (default 16Mi)");
    return s;
  }();
  return o;
}

Result<VerbResult> logs(VerbEnv& env, const StepCall& call, const LogsStep& step) {
  IR_TRY(t, target_of(call));
  if (call.dry_run || env.bundle == nullptr) return VerbResult{json{{"bytes", 0}, {"planned", true}}};
  auto view = env.bundle->view("steps/" + evidence::safe_component(call.id) + "/");
  const std::string name = (step.container.empty() ? std::string("default") : evidence::safe_component(step.container)) +
                           (step.previous ? ".previous" : "") + ".log";
  evidence::ArtifactMeta meta{.source = fmt::format("GET pods/{}/log container={} previous={}", t.pod, step.container, step.previous),
                              .method = evidence::Method::api};
  IR_TRY(entry, view->open_entry(name, meta));
  kube::LogOptions lo;
  lo.container = step.container;
  lo.previous = step.previous;
  lo.limit_bytes = static_cast<long long>(step.max_bytes);
  IR_TRY(r, kube::stream_pod_logs(env.client, t.namespace_name, t.pod, lo,
                                  [&](std::string_view chunk) { return entry->write(chunk); }));
  meta.truncated = r.cut;
  IR_CHECK(entry->commit(meta));
  return VerbResult{json{{"bytes", r.bytes}}};
}

// ---- wait -----------------------------------------------------------------------------------------

const OptionSet<WaitStep>& wait_option_set() {
  static const OptionSet<WaitStep> o = [] {
    OptionSet<WaitStep> s;
    s.duration("duration", &WaitStep::duration, "How long (30s, 2m, 1h30m)").required();
    return s;
  }();
  return o;
}

Result<VerbResult> wait(VerbEnv& env, const StepCall& call, const WaitStep& step) {
  if (call.dry_run) return VerbResult{};
  const auto until = env.clock.steady_now() + step.duration;
  while (env.clock.steady_now() < until) {
    if (call.cancel != nullptr && call.cancel->cancelled()) return fail(Errc::cancelled, "wait interrupted");
    env.clock.sleep_for(std::chrono::milliseconds(50));
  }
  return VerbResult{};
}

// ---- sign, upload: files that exist when the step runs -----------------------------------------------

const OptionSet<SignStep>& sign_option_set() {
  static const OptionSet<SignStep> o = [] {
    OptionSet<SignStep> s;
    s.text("path", &SignStep::path, "The bundle to sign (it must verify against its manifest)").required();
    s.text("key", &SignStep::key, "PEM private key, ECDSA P-256 or Ed25519 (not encrypted)").required();
    return s;
  }();
  return o;
}

Result<VerbResult> sign(VerbEnv& env, const StepCall& call, const SignStep& step) {
  if (call.dry_run) return VerbResult{json{{"sha256", ""}, {"signature", ""}, {"statement", ""}}};
  if (!env.custody.sign) return fail(Errc::invalid, "sign: not available in this command");
  IR_TRY(signed_files, env.custody.sign(step.path, step.key));
  if (env.journal) env.journal("sign", signed_files);
  return VerbResult{json{{"sha256", signed_files.value("sha256", "")},
                         {"signature", signed_files["signature"].is_string() ? signed_files["signature"] : json("")},
                         {"statement", signed_files.value("statement", "")}}};
}

const OptionSet<UploadStep>& upload_option_set() {
  static const OptionSet<UploadStep> o = [] {
    OptionSet<UploadStep> s;
    s.text("path", &UploadStep::path, "The file to upload (e.g. an earlier run's bundle)").required();
    s.text("to", &UploadStep::to, "Destination s3://BUCKET/PREFIX").required();
    s.flag("signatures", &UploadStep::signatures, "Also its .sig and .intoto.jsonl when they exist (default true)");
    return s;
  }();
  return o;
}

Result<VerbResult> upload(VerbEnv& env, const StepCall& call, const UploadStep& step) {
  if (call.dry_run) return VerbResult{json{{"uploaded", 0}, {"objects", json::array()}}};
  if (!env.custody.upload) return fail(Errc::invalid, "upload: not available in this command");
  std::vector<std::string> paths = {step.path};
  if (step.signatures) {
    for (const char* suffix : {".sig", ".intoto.jsonl"}) {
      const std::string extra = step.path + suffix;
      if (::access(extra.c_str(), R_OK) == 0) paths.push_back(extra);
    }
  }
  IR_TRY(outcomes, env.custody.upload(paths, step.to));
  VerbResult r;
  json objects = json::array();
  std::int64_t uploaded = 0;
  std::string first_problem;
  for (const auto& o : outcomes) {
    if (env.journal) env.journal("upload", o);
    const std::string state = o.value("state", "");
    objects.push_back({{"path", o.value("path", "")}, {"url", o.value("url", "")}, {"state", state},
                       {"version_id", o.value("version_id", "")}, {"sha256", o.value("sha256", "")}});
    if (state == "uploaded") {
      ++uploaded;
    } else if (first_problem.empty()) {
      first_problem = o.value("url", "") + ": " + state + (o.contains("error") ? ": " + o.value("error", "") : "");
    }
  }
  r.outputs = {{"uploaded", uploaded}, {"objects", objects}};
  if (uploaded == 0) return fail(Errc::failure, "upload: nothing reached " + step.to + " (" + first_problem + ")");
  if (uploaded < static_cast<std::int64_t>(outcomes.size())) {
    r.outcome = util::Outcome::partial;
    r.reason = fmt::format("{} of {} object(s) uploaded; {}", uploaded, outcomes.size(), first_problem);
  }
  return r;
}

// ---- for_each (run by the runner itself) ------------------------------------------------------------

Verb for_each_verb() {
  OptionSpec items{.name = "items", .type = OptionType::items, .required = true, .help = "The items: a list or one reference"};
  OptionSpec parallel{.name = "parallel", .type = OptionType::integer_min_1, .help = "Items at once (capped by --parallel)",
                      .default_value = 1};
  OptionSpec steps{.name = "steps", .type = OptionType::steps, .required = true, .help = "The steps run for each item"};
  return {StepType{"for_each", {items, parallel, steps},
                   {{"count", OutputType::integer, {}}, {"failed", OutputType::integer, {}}, {"results", OutputType::list, {}}}},
          nullptr};
}

// ---- the table ------------------------------------------------------------------------------------

const std::vector<Verb>& verbs() {
  using T = OutputType;
  static const std::vector<Verb> k_verbs = [] {
    std::vector<Verb> v;
    v.push_back(verb<triage::IsolateOptions>("isolate", ActsOnPod::yes, isolate_option_set(),
                                             {{"policy", T::string, {}}, {"egress", T::string, {}}, {"ingress", T::string, {}},
                                              {"contained", T::boolean, {}}, {"node", T::string, {}}},
                                             isolate));
    v.push_back(verb<PodTarget>("release", ActsOnPod::yes, no_options(), {{"released", T::boolean, {}}}, release));
    v.push_back(verb<triage::CollectOptions>("collect", ActsOnPod::yes, collect_option_set(),
                                             {{"artifacts", T::integer, {}}, {"partial", T::boolean, {}},
                                              {"not_collected", T::list, {}}, {"ephemeral_containers", T::list, {}},
                                              {"notable", T::list, {}}},
                                             collect));
    v.push_back(verb<SiblingsStep>("siblings", ActsOnPod::yes, siblings_option_set(),
                                   {{"count", T::integer, {}},
                                    {"pods", T::list, {"namespace", "name", "workload", "node", "phase"}},
                                    {"partial", T::boolean, {}},
                                    {"digest", T::string, {}}},
                                   siblings));
    v.push_back(verb<triage::DriftOptions>("drift", ActsOnPod::yes, drift_option_set(),
                                           {{"findings", T::list, {}}, {"total", T::integer, {}}, {"connections", T::integer, {}},
                                            {"processes", T::integer, {}}, {"files", T::integer, {}}, {"listening", T::integer, {}},
                                            {"indicators", T::integer, {}}, {"members", T::integer, {}},
                                            {"judged_against", T::string, {}}, {"partial", T::boolean, {}}},
                                           drift));
    v.push_back(verb<BaselineStep>("baseline", ActsOnPod::yes, baseline_option_set(),
                                   {{"file", T::string, {}}, {"members", T::integer, {}}, {"digest", T::string, {}}}, baseline));
    v.push_back(verb<ExecStep>("exec", ActsOnPod::yes, exec_option_set(),
                               {{"exit_code", T::integer, {}}, {"stdout", T::string, {}}, {"truncated", T::boolean, {}}}, exec));
    v.push_back(verb<MetadataStep>("label", ActsOnPod::yes, metadata_option_set("labels"), {{"labels", T::object, {}}},
                                   [](VerbEnv& env, const StepCall& call, const MetadataStep& m) {
                                     return metadata(env, call, m.labels, "labels");
                                   }));
    v.push_back(verb<MetadataStep>("annotate", ActsOnPod::yes, metadata_option_set("annotations"),
                                   {{"annotations", T::object, {}}}, [](VerbEnv& env, const StepCall& call, const MetadataStep& m) {
                                     return metadata(env, call, m.annotations, "annotations");
                                   }));
    v.push_back(verb<CordonStep>("cordon", ActsOnPod::no, cordon_option_set(), {{"node", T::string, {}}}, cordon));
    v.push_back(verb<LogsStep>("logs", ActsOnPod::yes, logs_option_set(), {{"bytes", T::integer, {}}}, logs));
    v.push_back(verb<WaitStep>("wait", ActsOnPod::no, wait_option_set(), {}, wait));
    v.push_back(verb<SignStep>("sign", ActsOnPod::no, sign_option_set(),
                               {{"sha256", T::string, {}}, {"signature", T::string, {}}, {"statement", T::string, {}}}, sign));
    v.push_back(verb<UploadStep>("upload", ActsOnPod::no, upload_option_set(),
                                 {{"uploaded", T::integer, {}}, {"objects", T::list, {"path", "url", "state", "version_id", "sha256"}}},
                                 upload));
    v.push_back(for_each_verb());
    return v;
  }();
  return k_verbs;
}

class RealVerbs final : public Verbs {
 public:
  explicit RealVerbs(VerbEnv env) : m_env(std::move(env)) {}

  Result<VerbResult> run(const StepCall& call) override {
    for (const auto& v : verbs()) {
      if (v.type.name == call.uses && v.run) return v.run(m_env, call);
    }
    return fail(Errc::invalid, "unknown step type " + util::quoted(call.uses, util::Cap::word));
  }

 private:
  VerbEnv m_env;
};

}  // namespace

const std::vector<playbook::StepType>& step_type_table() {
  static const std::vector<StepType> k_table = [] {
    std::vector<StepType> t;
    for (const auto& v : verbs()) t.push_back(v.type);
    return t;
  }();
  return k_table;
}

playbook::StepTypes step_types() { return playbook::StepTypes(step_type_table()); }

std::unique_ptr<evidence::BundleWriter> SharedBundle::view(const std::string& prefix) {
  return std::make_unique<BundleView>(m_inner, m_locks, prefix);
}

std::unique_ptr<Verbs> make_verbs(VerbEnv env) { return std::make_unique<RealVerbs>(std::move(env)); }

const playbook::OptionSet<triage::IsolateOptions>& isolate_options() { return isolate_option_set(); }
const playbook::OptionSet<triage::CollectOptions>& collect_options() { return collect_option_set(); }
const playbook::OptionSet<triage::DriftOptions>& drift_options() { return drift_option_set(); }

}  // namespace ir::run
