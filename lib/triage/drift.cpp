#include "triage/drift.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "forensics/indicators.hpp"
#include "kube/api.hpp"
#include "kube/pager.hpp"
#include "triage/siblings.hpp"
#include "triage/snapshot.hpp"
#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;
using forensics::Member;
using forensics::MemberStatus;
using forensics::Relation;

namespace {

constexpr std::size_t k_max_address_lookups = 64;  // pod IPs looked up one by one, per run
constexpr std::size_t k_max_skipped_kept = 200;    // skipped candidates listed

std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

std::string who(const std::string& ns, const std::string& name) { return ns + "/" + name; }

const json& field(const json& j, const char* key) {
  static const json k_null;
  if (!j.is_object()) return k_null;
  const auto it = j.find(key);
  return it == j.end() ? k_null : *it;
}

// `j` when it is an array, else an empty one.
const json& arr(const json& j) {
  static const json k_empty = json::array();
  return j.is_array() ? j : k_empty;
}

std::string text(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    cur = &field(*cur, key);
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

// status.conditions[type] == "True"; nullopt when the condition is not there.
std::optional<bool> condition(const json& obj, const std::string& type, std::string* reason = nullptr) {
  for (const auto& c : arr(field(field(obj, "status"), "conditions"))) {
    if (text(c, {"type"}) != type) continue;
    if (reason != nullptr) *reason = text(c, {"reason"});
    return text(c, {"status"}) == "True";
  }
  return std::nullopt;
}

// The parts of a pod template that make two pods run alike: per container of `suspect`, the
// same-named container of `other` with the same command, args, env and envFrom.
bool same_template(const json& suspect, const json& other) {
  const json& mine = field(field(suspect, "spec"), "containers");
  const json& theirs = field(field(other, "spec"), "containers");
  if (!mine.is_array() || !theirs.is_array()) return false;
  for (const auto& c : mine) {
    const auto it = std::find_if(theirs.begin(), theirs.end(), [&](const json& o) { return text(o, {"name"}) == text(c, {"name"}); });
    if (it == theirs.end()) return false;
    for (const char* key : {"command", "args", "env", "envFrom"}) {
      if (field(c, key) != field(*it, key)) return false;
    }
  }
  return true;
}

std::optional<OwnerRef> controller_of(const json& pod) {
  for (const auto& r : arr(field(field(pod, "metadata"), "ownerReferences"))) {
    if (r.is_object() && r.value("controller", false)) return OwnerRef{text(r, {"apiVersion"}), text(r, {"kind"}), text(r, {"name"})};
  }
  return std::nullopt;
}

bool loopback_or_unspecified(const std::string& ip) {
  return ip.empty() || ip.rfind("127.", 0) == 0 || ip == "::1" || ip == "0.0.0.0" || ip == "::" || ip.rfind("::ffff:127.", 0) == 0;
}

std::string unmapped(const std::string& ip) { return ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos ? ip.substr(7) : ip; }

// ---- the snapshots' writer, shared by parallel workers ------------------------------------------------

// Each worker's entries spool to a temporary file of their own and are copied into the real writer
// under one lock when committed: workers stream at once, the real writer sees one entry at a time.
class SharedWriter {
 public:
  explicit SharedWriter(evidence::BundleWriter& inner) : m_inner(inner) {}
  std::unique_ptr<evidence::BundleWriter> view(std::string prefix);

  evidence::BundleWriter& m_inner;
  std::mutex m_mutex;
};

class SpoolEntry final : public evidence::EntrySink {
 public:
  SpoolEntry(SharedWriter& shared, std::string name, std::FILE* spool) : m_shared(shared), m_name(std::move(name)), m_spool(spool) {}
  ~SpoolEntry() override {
    if (m_spool != nullptr) std::fclose(m_spool);
  }
  Result<void> write(std::string_view data) override {
    if (data.empty()) return {};
    if (std::fwrite(data.data(), 1, data.size(), m_spool) != data.size()) return fail(Errc::io, "spooling " + m_name + ": write failed");
    return {};
  }
  Result<evidence::Artifact> commit(const evidence::ArtifactMeta& meta) override {
    if (m_spool == nullptr) return fail(Errc::failure, "entry " + m_name + " committed twice");
    std::lock_guard lock(m_shared.m_mutex);
    IR_TRY(entry, m_shared.m_inner.open_entry(m_name, meta));
    std::rewind(m_spool);
    std::vector<char> buf(1 << 16);
    for (;;) {
      const std::size_t n = std::fread(buf.data(), 1, buf.size(), m_spool);
      if (n == 0) break;
      IR_CHECK(entry->write(std::string_view(buf.data(), n)));
    }
    const bool bad = std::ferror(m_spool) != 0;
    std::fclose(m_spool);
    m_spool = nullptr;
    if (bad) return fail(Errc::io, "spooling " + m_name + ": read failed");
    return entry->commit(meta);
  }

 private:
  SharedWriter& m_shared;
  std::string m_name;
  std::FILE* m_spool;
};

class SharedView final : public evidence::BundleWriter {
 public:
  SharedView(SharedWriter& shared, std::string prefix) : m_shared(shared), m_prefix(std::move(prefix)) {}
  Result<evidence::Artifact> add(const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) override {
    std::lock_guard lock(m_shared.m_mutex);
    return m_shared.m_inner.add(m_prefix + name, data, meta);
  }
  Result<std::unique_ptr<evidence::EntrySink>> open_entry(const std::string& name, const evidence::ArtifactMeta& /*meta*/) override {
    IR_CHECK(evidence::check_entry_name(m_prefix + name));
    std::FILE* spool = std::tmpfile();
    if (spool == nullptr) return fail(Errc::io, "cannot create a temporary file to spool " + name);
    return std::unique_ptr<evidence::EntrySink>(std::make_unique<SpoolEntry>(m_shared, m_prefix + name, spool));
  }
  [[nodiscard]] const std::vector<evidence::Artifact>& artifacts() const override { return m_none; }
  Result<std::string> finish() override { return fail(Errc::failure, "a shared view cannot finish the bundle"); }

 private:
  SharedWriter& m_shared;
  std::string m_prefix;
  std::vector<evidence::Artifact> m_none;
};

std::unique_ptr<evidence::BundleWriter> SharedWriter::view(std::string prefix) {
  return std::make_unique<SharedView>(*this, std::move(prefix));
}

// Where a snapshot that is not kept writes: nowhere (sizes only, for collect's step records).
class DiscardWriter final : public evidence::BundleWriter {
 public:
  Result<evidence::Artifact> add(const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) override {
    return evidence::Artifact{name, data.size(), "", "", meta};
  }
  Result<std::unique_ptr<evidence::EntrySink>> open_entry(const std::string& name, const evidence::ArtifactMeta& /*meta*/) override {
    class Counting final : public evidence::EntrySink {
     public:
      explicit Counting(std::string n) : m_name(std::move(n)) {}
      Result<void> write(std::string_view data) override {
        m_size += data.size();
        return {};
      }
      Result<evidence::Artifact> commit(const evidence::ArtifactMeta& meta) override {
        return evidence::Artifact{m_name, m_size, "", "", meta};
      }

     private:
      std::string m_name;
      std::uint64_t m_size = 0;
    };
    return std::unique_ptr<evidence::EntrySink>(std::make_unique<Counting>(name));
  }
  [[nodiscard]] const std::vector<evidence::Artifact>& artifacts() const override { return m_none; }
  Result<std::string> finish() override { return fail(Errc::failure, "nothing to finish"); }

 private:
  std::vector<evidence::Artifact> m_none;
};

std::string pod_dir(const std::string& ns, const std::string& name) {
  return "pods/" + evidence::safe_component(ns) + "/" + evidence::safe_component(name) + "/";
}

// ---- cluster addresses ----------------------------------------------------------------------------------

class AddressResolver {
 public:
  explicit AddressResolver(std::vector<std::string> namespaces) : m_namespaces(std::move(namespaces)) {}

  // Every Service's cluster IPs, once: one list cluster-wide, else one per namespace given.
  void load_services(kube::Client& client) {
    {
      std::lock_guard lock(m_mutex);
      if (m_services_loaded) return;
      m_services_loaded = true;
    }
    if (list_services(client, "")) return;
    for (const auto& ns : m_namespaces) (void)list_services(client, ns);
  }

  // Names for the remote addresses `pod` talks to, looking up addresses not seen before through
  // `client` (the caller's connection).
  forensics::AddressNames names_for(kube::Client& client, const forensics::PodSnapshot& pod) {
    std::set<std::string> own;
    for (const auto& ip : pod.ips) own.insert(ip);
    std::set<std::string> wanted;
    for (const auto& c : pod.containers) {
      for (const auto& s : c.sockets) {
        const std::string ip = unmapped(s.remote_ip);
        if (loopback_or_unspecified(ip) || own.count(ip) != 0 || s.state == "LISTEN") continue;
        wanted.insert(ip);
      }
    }
    for (const auto& ip : wanted) lookup(client, ip);
    std::lock_guard lock(m_mutex);
    forensics::AddressNames out;
    for (const auto& ip : wanted) {
      if (auto it = m_known.find(ip); it != m_known.end()) out.emplace(ip, it->second);
    }
    return out;
  }

  std::vector<std::string> problems() {
    std::lock_guard lock(m_mutex);
    return m_problems;
  }

 private:
  void problem(const std::string& line) {
    std::lock_guard lock(m_mutex);
    if (std::find(m_problems.begin(), m_problems.end(), line) == m_problems.end()) m_problems.push_back(line);
  }

  // One list of Services ("" cluster-wide); false when it was refused or failed.
  bool list_services(kube::Client& client, const std::string& ns) {
    const std::string path = ns.empty() ? "/api/v1/services" : "/api/v1/namespaces/" + util::url_encode(ns) + "/services";
    kube::Pager pager(client, path, {}, 500, ns.empty() ? "list services" : "list services in " + ns);
    for (;;) {
      auto page = pager.next();
      if (!page) {
        if (!ns.empty() || page.error().code != Errc::forbidden) problem("Service names: " + page.error().message);
        return false;
      }
      if (!*page) return true;
      std::lock_guard lock(m_mutex);
      for (const auto& svc : arr(field((*page)->list, "items"))) {
        const std::string name = "service " + text(svc, {"metadata", "namespace"}) + "/" + text(svc, {"metadata", "name"});
        std::set<std::string> ips;
        if (!text(svc, {"spec", "clusterIP"}).empty()) ips.insert(text(svc, {"spec", "clusterIP"}));
        for (const auto& ip : arr(field(field(svc, "spec"), "clusterIPs"))) {
          if (ip.is_string()) ips.insert(ip.get<std::string>());
        }
        for (const auto& ip : ips) {
          if (ip != "None" && !ip.empty()) m_known.emplace(ip, forensics::AddressName{name, ""});
        }
      }
    }
  }

  // One pod IP: the pod (if any) and its controller.
  void lookup(kube::Client& client, const std::string& ip) {
    std::vector<std::string> scopes;
    {
      std::lock_guard lock(m_mutex);
      if (m_known.count(ip) != 0 || !m_asked.insert(ip).second) return;
      if (m_asked.size() > k_max_address_lookups) {
        if (m_asked.size() == k_max_address_lookups + 1) {
          m_problems.push_back(fmt::format("more than {} remote addresses: the others are not named", k_max_address_lookups));
        }
        return;
      }
      if (!m_cluster_denied) scopes.emplace_back("");
      for (const auto& ns : m_namespaces) scopes.push_back(ns);
    }
    for (const auto& ns : scopes) {
      auto pager = kube::list_pods(client, {ns, "", "status.podIP=" + ip, 5});
      auto page = pager.next();
      if (!page) {
        if (ns.empty() && page.error().code == Errc::forbidden) {
          std::lock_guard lock(m_mutex);
          m_cluster_denied = true;
          continue;
        }
        problem("pod addresses: " + page.error().message);
        return;
      }
      if (!*page) continue;
      for (const auto& p : arr(field((*page)->list, "items"))) {
        if (field(field(p, "spec"), "hostNetwork").is_boolean() && p["spec"]["hostNetwork"].get<bool>()) continue;  // the node's address
        const std::string pns = text(p, {"metadata", "namespace"});
        forensics::AddressName n{"pod " + pns + "/" + text(p, {"metadata", "name"}), ""};
        if (auto ctl = controller_of(p)) n.group = util::to_lower(ctl->kind) + " " + pns + "/" + ctl->name;
        std::lock_guard lock(m_mutex);
        m_known.emplace(ip, std::move(n));
        return;
      }
      if (ns.empty()) return;  // listed cluster-wide: nobody has it
    }
  }

  std::vector<std::string> m_namespaces;
  std::mutex m_mutex;
  bool m_services_loaded = false;
  bool m_cluster_denied = false;
  std::map<std::string, forensics::AddressName> m_known;
  std::set<std::string> m_asked;
  std::vector<std::string> m_problems;
};

// ---- candidates -----------------------------------------------------------------------------------------

enum class Tier { same_controller = 0, same_workload = 1, same_digest = 2 };

struct Candidate {
  SiblingPod pod;
  Tier tier = Tier::same_digest;
  std::size_t matched = 0;  // distinct target digests it runs
  enum class State { waiting, running, ok, failed, skipped } state = State::waiting;
};

// Hands out candidates to workers in rank order, spreading over nodes, until `wanted` succeed.
class Scheduler {
 public:
  Scheduler(std::vector<Candidate> candidates, std::size_t wanted, const std::string& suspect_node)
      : m_candidates(std::move(candidates)), m_wanted(wanted) {
    if (!suspect_node.empty()) m_load[suspect_node] = 1;
  }

  // The next candidate to try (its index), or nullopt when enough are ok or running, or none is left.
  std::optional<std::size_t> next() {
    std::lock_guard lock(m_mutex);
    if (m_ok + m_running >= m_wanted) return std::nullopt;
    std::optional<std::size_t> best;
    const auto key = [&](std::size_t i) {
      const Candidate& c = m_candidates[i];
      const auto load = m_load.count(c.pod.node) != 0 ? m_load.at(c.pod.node) : 0;
      return std::make_tuple(static_cast<int>(c.tier), -static_cast<long>(c.matched), load, c.pod.namespace_name, c.pod.name);
    };
    for (std::size_t i = 0; i < m_candidates.size(); ++i) {
      if (m_candidates[i].state != Candidate::State::waiting) continue;
      if (!best || key(i) < key(*best)) best = i;
    }
    if (!best) return std::nullopt;
    m_candidates[*best].state = Candidate::State::running;
    ++m_running;
    ++m_load[m_candidates[*best].pod.node];
    return best;
  }

  void done(std::size_t i, Candidate::State state) {
    std::lock_guard lock(m_mutex);
    m_candidates[i].state = state;
    --m_running;
    if (state == Candidate::State::ok) {
      ++m_ok;
    } else {
      --m_load[m_candidates[i].pod.node];
    }
  }

  [[nodiscard]] const Candidate& at(std::size_t i) const { return m_candidates[i]; }

 private:
  std::mutex m_mutex;
  std::vector<Candidate> m_candidates;
  std::size_t m_wanted;
  std::size_t m_ok = 0;
  std::size_t m_running = 0;
  std::map<std::string, long> m_load;  // members ok or running per node
};

// Node readiness, each node read once (shared by the workers).
class NodeCache {
 public:
  // nullopt: usable; else why not ("node node-3 is NotReady (NodeStatusUnknown)").
  std::optional<std::string> not_ready(kube::Client& client, const std::string& node, std::vector<std::string>& notes) {
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_answers.find(node); it != m_answers.end()) return it->second;
      if (m_denied) return std::nullopt;
    }
    std::optional<std::string> answer;
    auto n = kube::get_node(client, node);
    if (!n && n.error().code == Errc::forbidden) {
      std::lock_guard lock(m_mutex);
      if (!m_denied) notes.push_back("node readiness unknown (" + n.error().message + "): candidates were not checked for it");
      m_denied = true;
      return std::nullopt;
    }
    if (!n) {
      answer = "its node " + node + " could not be read: " + n.error().message;
    } else {
      std::string reason;
      const auto ready = condition(*n, "Ready", &reason);
      if (!ready) answer = "its node " + node + " reports no Ready condition";
      else if (!*ready) answer = "its node " + node + " is NotReady" + (reason.empty() ? "" : " (" + reason + ")");
    }
    std::lock_guard lock(m_mutex);
    m_answers.emplace(node, answer);
    return answer;
  }

 private:
  std::mutex m_mutex;
  bool m_denied = false;
  std::map<std::string, std::optional<std::string>> m_answers;
};

// Whether a snapshot holds anything at all, and if not, why.
std::optional<std::string> nothing_read(const forensics::PodSnapshot& snap, const CollectReport& report) {
  for (const auto& c : snap.containers) {
    for (const auto& a : c.availabilities) {
      if (a.coverage != forensics::Coverage::missing) return std::nullopt;
    }
  }
  for (const auto& s : report.steps) {
    if (s.status == util::Outcome::failed || s.status == util::Outcome::partial) {
      return s.step + (s.container.empty() ? "" : " [" + s.container + "]") + ": " + s.detail;
    }
  }
  if (!report.not_collected.empty()) return report.not_collected.front();
  if (snap.containers.empty()) return std::string("no running container");
  return std::string("nothing could be read");
}

// The shared state of one comparison: options, the profile being built, what happened to each
// candidate.
struct Run {
  DriftEnv& env;
  const DriftOptions& options;
  const json& suspect_pod;
  AddressResolver addresses;
  NodeCache nodes;
  std::unique_ptr<SharedWriter> shared;

  std::mutex mutex;  // everything below
  forensics::ProfileBuilder builder;
  bool seeded = false;
  std::vector<std::tuple<Member, std::shared_ptr<const forensics::PodSnapshot>, forensics::AddressNames>> pending;
  std::vector<SkippedCandidate> skipped;
  std::vector<std::string> notes;
  std::vector<evidence::Subject> subjects;

  Run(DriftEnv& e, const DriftOptions& o, const json& pod, std::vector<std::string> namespaces)
      : env(e), options(o), suspect_pod(pod), addresses(std::move(namespaces)) {
    if (env.snapshots != nullptr) shared = std::make_unique<SharedWriter>(*env.snapshots);
  }

  void progress(const std::string& line) {
    if (env.progress) env.progress(line);
  }
  void journal(const std::string& action, const json& fields) {
    if (env.log) env.log(action, fields);
  }

  void add_member(Member m, std::shared_ptr<const forensics::PodSnapshot> snap, forensics::AddressNames names) {
    std::lock_guard lock(mutex);
    if (!seeded) {
      pending.emplace_back(std::move(m), std::move(snap), std::move(names));
      return;
    }
    if (snap) builder.add(std::move(m), *snap, names);
    else builder.add_failed(std::move(m));
  }
  // The suspect is known: containers seeded, members that came first folded in.
  void seed(const forensics::PodSnapshot& suspect) {
    std::lock_guard lock(mutex);
    builder.seed(suspect);
    seeded = true;
    for (auto& [m, snap, names] : pending) {
      if (snap) builder.add(std::move(m), *snap, names);
      else builder.add_failed(std::move(m));
    }
    pending.clear();
  }
  void skip(const Candidate& c, std::string reason) {
    journal("drift.skipped", {{"namespace", c.pod.namespace_name}, {"pod", c.pod.name}, {"node", c.pod.node}, {"reason", reason}});
    progress(fmt::format("skipped {}: {}", util::esc(who(c.pod.namespace_name, c.pod.name), util::Cap::name), util::esc(reason, util::Cap::detail)));
    std::lock_guard lock(mutex);
    if (skipped.size() < k_max_skipped_kept) skipped.push_back({c.pod.namespace_name, c.pod.name, c.pod.node, std::move(reason)});
  }
  void note(std::string line) {
    std::lock_guard lock(mutex);
    if (std::find(notes.begin(), notes.end(), line) == notes.end()) notes.push_back(std::move(line));
  }
};

// Takes one pod's snapshot on `client`/`connector` into `keep` (nullptr: memory only).
std::pair<CollectReport, std::shared_ptr<const forensics::PodSnapshot>> take_snapshot(
    Run& run, kube::Client& client, kube::Connector& connector, const CollectOptions& options, const json& pod,
    evidence::BundleWriter* keep, const std::string& prefix, std::function<void(const std::string&)> progress) {
  DiscardWriter nowhere;
  CollectEnv cenv{client, connector, keep != nullptr ? *keep : nowhere, run.env.clock, run.env.log, std::move(progress),
                  run.env.cancel, prefix, {}};
  CollectReport report;
  auto r = collect(cenv, options, pod);
  if (r) {
    report = std::move(*r);
  } else {
    report.pod = pod;
    report.not_collected.push_back(r.error().message);
  }
  // collect's own tap made the snapshot; interrupted, there is none: the pod's facts alone.
  std::shared_ptr<const forensics::PodSnapshot> snap = report.snapshot;
  if (!snap) snap = std::make_shared<const forensics::PodSnapshot>(forensics::pod_snapshot(forensics::pod_facts(pod)));
  return {std::move(report), std::move(snap)};
}

// One candidate: checks, snapshot, member.
Candidate::State try_candidate(Run& run, const Candidate& c, kube::Client& client, kube::Connector& connector) {
  const std::string name = who(c.pod.namespace_name, c.pod.name);
  if (!c.pod.node.empty()) {
    std::vector<std::string> notes;
    const auto not_ready = run.nodes.not_ready(client, c.pod.node, notes);
    for (auto& n : notes) run.note(std::move(n));
    if (not_ready) {
      run.skip(c, *not_ready);
      return Candidate::State::skipped;
    }
  }
  Member m{c.pod.namespace_name, c.pod.name, c.pod.node, Relation::same_digest, MemberStatus::ok, ""};
  const auto failed = [&](std::string reason) {
    m.status = MemberStatus::failed;
    m.reason = std::move(reason);
    run.journal("drift.member", {{"namespace", m.namespace_name}, {"pod", m.name}, {"node", m.node}, {"status", "failed"},
                                 {"reason", m.reason}});
    run.progress(fmt::format("sibling {}: FAILED: {}", util::esc(name, util::Cap::name), util::esc(m.reason, util::Cap::detail)));
    run.add_member(m, nullptr, {});
    return Candidate::State::failed;
  };
  auto pod = kube::get_pod(client, c.pod.namespace_name, c.pod.name);
  if (!pod && pod.error().code == Errc::forbidden) {
    // Out of these credentials' reach (a namespaced responder, as the in-cluster Job is): a limit
    // of scope said as such, like a pod that is not Ready, not a sibling that failed.
    run.skip(c, "not readable with these credentials: " + pod.error().message);
    return Candidate::State::skipped;
  }
  if (!pod) return failed(pod.error().code == Errc::not_found ? "deleted before its snapshot" : pod.error().message);
  if (field(*pod, "metadata").contains("deletionTimestamp")) {
    run.skip(c, "terminating");
    return Candidate::State::skipped;
  }
  if (condition(*pod, "Ready") != true) {
    run.skip(c, "not Ready");
    return Candidate::State::skipped;
  }
  const bool host = field(field(*pod, "spec"), "hostNetwork") == true;
  if (host && field(field(run.suspect_pod, "spec"), "hostNetwork") != true) {
    run.skip(c, "hostNetwork: its sockets are the node's");
    return Candidate::State::skipped;
  }
  if (c.tier != Tier::same_digest && same_template(run.suspect_pod, *pod)) m.relation = Relation::same_workload;
  if (run.env.cancel != nullptr && run.env.cancel->cancelled()) return Candidate::State::skipped;

  const CollectOptions o = snapshot_options(run.options, c.pod.namespace_name, c.pod.name, false);
  const std::string dir = pod_dir(c.pod.namespace_name, c.pod.name);
  auto keep = run.shared ? run.shared->view(dir) : nullptr;
  auto [report, snap] = take_snapshot(run, client, connector, o, *pod, keep.get(), run.env.snapshots_prefix + dir, {});
  if (report.cancelled) return Candidate::State::skipped;
  if (auto why = nothing_read(*snap, report)) return failed(*why);
  run.addresses.load_services(client);
  auto names = run.addresses.names_for(client, *snap);
  std::size_t processes = 0;
  std::size_t files = 0;
  for (const auto& ct : snap->containers) {
    processes += ct.processes.size();
    files += ct.files.size();
  }
  run.journal("drift.member", {{"namespace", m.namespace_name}, {"pod", m.name}, {"node", m.node},
                               {"relation", forensics::to_string(m.relation)}, {"status", "ok"}});
  if (run.shared) {
    std::lock_guard lock(run.mutex);
    run.subjects.push_back(subject_of(report, c.pod.namespace_name, c.pod.name));
  }
  run.progress(fmt::format("sibling {} ({}, {}): {} processes, {} files{}", util::esc(name, util::Cap::name),
                           util::esc(m.node.empty() ? "-" : m.node, util::Cap::name), forensics::to_string(m.relation), processes, files,
                           report.outcome() == util::Outcome::ok ? "" : " (partial)"));
  run.add_member(std::move(m), std::move(snap), std::move(names));
  return Candidate::State::ok;
}

// The candidates from a sibling search, ranked, and the ones ruled out at once.
std::vector<Candidate> candidates_of(Run& run, const SiblingsReport& found, std::size_t& count) {
  const SiblingPod* suspect = nullptr;
  for (const auto& p : found.siblings) {
    if (p.suspect) suspect = &p;
  }
  const auto ctl = suspect != nullptr ? suspect->controller : controller_of(run.suspect_pod);
  const std::string suspect_ns = run.options.namespace_name;
  std::vector<Candidate> out;
  count = 0;
  for (const auto& p : found.siblings) {
    if (p.suspect || (p.namespace_name == suspect_ns && p.name == run.options.pod)) continue;
    ++count;
    Candidate c;
    c.pod = p;
    const std::string id = who(p.namespace_name, p.name);
    if (std::find(run.options.exclude.begin(), run.options.exclude.end(), id) != run.options.exclude.end()) {
      run.skip(c, "excluded");
      continue;
    }
    if (p.terminating) {
      run.skip(c, "terminating");
      continue;
    }
    if (p.node.empty()) {
      run.skip(c, "not scheduled");
      continue;
    }
    if (p.phase != "Running") {
      run.skip(c, "phase " + (p.phase.empty() ? std::string("unknown") : p.phase));
      continue;
    }
    // A debug container (kubectl debug, collect --ephemeral) running the image does not make the
    // pod a replica of it: only the pod's own containers count.
    std::set<int> targets;
    for (const auto& ci : p.containers) {
      if (ci.target >= 0 && ci.type != ContainerType::ephemeral) targets.insert(ci.target);
    }
    if (targets.empty()) {
      run.skip(c, "runs the image only in an ephemeral debug container");
      continue;
    }
    c.matched = targets.size();
    if (p.namespace_name == suspect_ns && ctl && p.controller && *p.controller == *ctl) {
      c.tier = Tier::same_controller;
    } else if (suspect != nullptr && p.namespace_name == suspect_ns && !suspect->workload.kind.empty() &&
               p.workload == suspect->workload) {
      c.tier = Tier::same_workload;
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Members from live siblings: search, then workers until `wanted` succeed.
void members_from_siblings(Run& run, kube::Client& client, kube::Connector& connector) {
  SiblingsOptions so;
  so.namespace_name = run.options.namespace_name;
  so.pod = run.options.pod;
  so.fallback_namespaces = {run.options.namespace_name};
  so.architectures = false;
  so.cancel = run.env.cancel;
  auto found = find_siblings(client, so);
  if (!found) {
    run.note("the sibling search failed: " + found.error().message);
    return;
  }
  if (found->partial) run.note("the sibling search is partial: " + found->partial_reason);
  if (found->inconsistent) run.note("the sibling search continued after an expired list: pods may be missing");
  std::size_t count = 0;
  auto cands = candidates_of(run, *found, count);
  {
    std::lock_guard lock(run.mutex);
    run.notes.insert(run.notes.begin(), fmt::format("{} pod{} run the same image digest", count, count == 1 ? "" : "s"));
  }
  Scheduler scheduler(std::move(cands), run.options.siblings, text(run.suspect_pod, {"spec", "nodeName"}));
  const auto work = [&](kube::Client& wc, kube::Connector& wconn) {
    while (run.env.cancel == nullptr || !run.env.cancel->cancelled()) {
      const auto i = scheduler.next();
      if (!i) break;
      scheduler.done(*i, try_candidate(run, scheduler.at(*i), wc, wconn));
    }
  };
  const std::size_t workers = std::max<std::size_t>(1, std::min(run.options.parallel, run.options.siblings));
  if (!run.env.connect || workers == 1) {
    work(client, connector);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<ApiConnection>> connections;
  for (std::size_t i = 0; i < workers; ++i) {
    auto conn = run.env.connect();
    if (!conn) {
      run.note("a worker connection could not be opened: " + conn.error().message);
      break;
    }
    connections.push_back(std::move(*conn));
  }
  for (auto& conn : connections) {
    threads.emplace_back([&work, c = conn.get()] { work(c->client(), c->connector()); });
  }
  if (connections.empty()) work(client, connector);
  for (auto& t : threads) t.join();
}

// The profile of the baseline file the options name; nullopt when they name none (live siblings).
Result<std::optional<forensics::Profile>> profile_from_file(const DriftOptions& options) {
  if (options.baseline_text.empty() && options.baseline_file.empty()) return std::optional<forensics::Profile>();
  auto parsed = forensics::parse_baseline(options.baseline_text);
  if (!parsed) return unexpected(parsed.error().context("baseline file " + util::esc(options.baseline_file, util::Cap::path)));
  return std::optional<forensics::Profile>(std::move(parsed->profile));
}

Result<void> check(const DriftOptions& options) {
  if (options.parallel < 1) return fail(Errc::usage, "parallel must be at least 1");
  if (options.quorum < 1) return fail(Errc::usage, "quorum must be at least 1");
  if (options.namespace_name.empty() || options.pod.empty()) return fail(Errc::usage, "no pod to compare");
  return {};
}

// The comparison, once the suspect's snapshot and the members (or the file) are known.
void finish_report(Run& run, DriftReport& report, forensics::Profile profile, const forensics::AddressNames& names,
                   bool from_file) {
  std::stable_sort(profile.members.begin(), profile.members.end(), [](const Member& a, const Member& b) {
    return std::tie(a.status, a.namespace_name, a.name) < std::tie(b.status, b.namespace_name, b.name);
  });
  forensics::DriftOptions o;
  o.quorum = run.options.quorum;
  o.ignore = run.options.ignore;
  o.addresses = names;
  const std::string now = util::format_rfc3339(run.env.clock.now());
  report.drift = forensics::drift_document(*report.suspect, profile, o, now, from_file ? run.options.baseline_file : "");
  report.wanted = from_file ? 0 : run.options.siblings;
  std::lock_guard lock(run.mutex);
  report.skipped = run.skipped;
  report.notes = run.notes;
  for (auto& s : run.subjects) report.subjects.push_back(std::move(s));
  for (auto& p : run.addresses.problems()) report.notes.push_back(p);
  if (!from_file && report.compared() == 0) {
    report.notes.push_back(run.options.siblings == 0 ? "no sibling asked for (--siblings 0): indicators only"
                                                     : "no sibling to compare with: indicators only");
  }
}

// The comparison against the baseline file when one was given, else against the profile the run's
// members built (the run's builder is spent).
void finish_report(Run& run, DriftReport& report, std::optional<forensics::Profile> file,
                   const forensics::AddressNames& names) {
  if (file) return finish_report(run, report, std::move(*file), names, true);
  forensics::Profile profile;
  {
    std::lock_guard lock(run.mutex);
    profile = std::move(run.builder).finish();
  }
  finish_report(run, report, std::move(profile), names, false);
}

// analysis/drift.json into env.analysis, unless the run was cancelled or there is nowhere to put it.
Result<void> add_drift_analysis(const DriftEnv& env, const DriftReport& report) {
  if (report.cancelled || env.analysis == nullptr) return {};
  IR_CHECK(env.analysis->add("analysis/drift.json", dump(forensics::to_json(report.drift)),
                             {.source = "kubectl-ir: drift of the pod, " + report.baseline_line(), .method = evidence::Method::local}));
  return {};
}

// The snapshot settings collect's and drift's options share, copied from one to the other.
template <class To, class From>
void copy_snapshot_settings(To& to, const From& from) {
  to.paths = from.paths;
  to.max_file_bytes = from.max_file_bytes;
  to.command_timeout = from.command_timeout;
  to.ephemeral = from.ephemeral;
  to.debug_image = from.debug_image;
  to.ptrace = from.ptrace;
}

}  // namespace

CollectOptions snapshot_options(const DriftOptions& options, const std::string& ns, const std::string& pod, bool suspect) {
  CollectOptions o;
  o.namespace_name = ns;
  o.pod = pod;
  if (suspect) o.containers = options.containers;
  o.scope = CollectScope::snapshot;
  o.fs = FsMode::listing;
  copy_snapshot_settings(o, options);
  return o;
}

DriftOptions drift_options_of(const CollectOptions& collect) {
  DriftOptions o;
  o.namespace_name = collect.namespace_name;
  o.pod = collect.pod;
  o.containers = collect.containers;
  copy_snapshot_settings(o, collect);
  return o;
}

std::size_t DriftReport::compared() const {
  if (!drift.baseline) return 0;
  return static_cast<std::size_t>(std::count_if(drift.baseline->members.begin(), drift.baseline->members.end(),
                                                [](const Member& m) { return m.status == MemberStatus::ok; }));
}

util::Outcome DriftReport::outcome() const {
  if (cancelled) return util::Outcome::interrupted;
  bool any = false;
  bool complete = suspect != nullptr;
  if (suspect) {
    for (const auto& c : suspect->containers) {
      for (const auto& a : c.availabilities) {
        if (a.coverage != forensics::Coverage::missing) any = true;
        if (a.coverage != forensics::Coverage::collected) complete = false;
      }
    }
  }
  if (!any) return util::Outcome::failed;
  const bool file = drift.baseline && drift.baseline->source == forensics::BaselineSource::baseline_file;
  if (!file && compared() == 0) return util::Outcome::partial;
  const bool failed_members = drift.baseline && std::any_of(drift.baseline->members.begin(), drift.baseline->members.end(),
                                                            [](const Member& m) { return m.status == MemberStatus::failed; });
  if (!file && failed_members && compared() < wanted) return util::Outcome::partial;
  return complete ? util::Outcome::ok : util::Outcome::partial;
}

std::string DriftReport::baseline_line() const {
  if (!drift.baseline || drift.baseline->source == forensics::BaselineSource::none) {
    return wanted == 0 && !(drift.baseline && drift.baseline->source == forensics::BaselineSource::baseline_file)
               ? "no comparison: indicators only"
               : "no sibling to compare with: indicators only";
  }
  const auto& b = *drift.baseline;
  if (b.source == forensics::BaselineSource::baseline_file) {
    return fmt::format("against baseline file {} ({} pod{}, created {})", util::esc(b.file.value_or("?"), util::Cap::path),
                       compared(), compared() == 1 ? "" : "s",
                       util::esc(b.created.value_or("?"), util::Cap::field));  // the file's own words
  }
  std::vector<std::string> names;
  bool all_same = true;
  for (const auto& m : b.members) {
    if (m.status != MemberStatus::ok) continue;
    all_same = all_same && m.relation == Relation::same_workload;
    names.push_back(util::esc(who(m.namespace_name, m.name), util::Cap::name) + " (" + util::esc(m.node, util::Cap::name) + ")");
  }
  if (names.empty()) return "no sibling to compare with: indicators only";
  return fmt::format("against {} sibling{} ({}): {}", names.size(), names.size() == 1 ? "" : "s",
                     all_same ? "same-workload" : "same-digest: a weaker baseline", util::join(names, ", "));
}

forensics::AddressNames resolve_addresses(kube::Client& client, const std::vector<const forensics::PodSnapshot*>& pods,
                                          const std::vector<std::string>& namespaces, std::vector<std::string>* problems) {
  AddressResolver r(namespaces);
  r.load_services(client);
  forensics::AddressNames out;
  for (const auto* p : pods) {
    if (p == nullptr) continue;
    for (auto& [ip, n] : r.names_for(client, *p)) out.emplace(ip, n);
  }
  if (problems != nullptr) {
    for (auto& p : r.problems()) problems->push_back(std::move(p));
  }
  return out;
}

Result<DriftReport> compare_with_siblings(DriftEnv& env, const DriftOptions& options, const json& pod,
                                          std::shared_ptr<const forensics::PodSnapshot> suspect) {
  IR_CHECK(check(options));
  IR_TRY(file, profile_from_file(options));
  Run run(env, options, pod, {options.namespace_name});
  DriftReport report;
  report.suspect = std::move(suspect);
  run.addresses.load_services(env.client);
  const auto names = run.addresses.names_for(env.client, *report.suspect);
  if (!file) {
    run.seed(*report.suspect);
    if (options.siblings > 0) members_from_siblings(run, env.client, env.connector);
    report.cancelled = env.cancel != nullptr && env.cancel->cancelled();
  }
  finish_report(run, report, std::move(file), names);
  IR_CHECK(add_drift_analysis(env, report));
  return report;
}

Result<DriftReport> drift(DriftEnv& env, const DriftOptions& options, const json& pod) {
  IR_CHECK(check(options));
  IR_TRY(file, profile_from_file(options));
  Run run(env, options, pod, {options.namespace_name});
  DriftReport report;

  // Members (live siblings) on worker connections while the suspect's snapshot is taken here.
  std::thread members;
  if (!file && options.siblings > 0) {
    if (env.connect) {
      auto conn = env.connect();
      if (conn) {
        members = std::thread([&run, c = std::shared_ptr<ApiConnection>(std::move(*conn))] {
          members_from_siblings(run, c->client(), c->connector());
        });
      } else {
        run.note("a connection for the sibling search could not be opened: " + conn.error().message);
      }
    }
  }
  const CollectOptions so = snapshot_options(options, options.namespace_name, options.pod, true);
  auto keep = run.shared ? run.shared->view("") : nullptr;
  auto [collected, snap] = take_snapshot(run, env.client, env.connector, so, pod, keep.get(), env.snapshots_prefix,
                                         [&run](const std::string& line) { run.progress("suspect: " + line); });
  if (env.snapshots != nullptr) report.subjects.push_back(subject_of(collected, options.namespace_name, options.pod));
  report.suspect_collect = std::move(collected);
  report.suspect = snap;
  run.addresses.load_services(env.client);
  const auto names = run.addresses.names_for(env.client, *snap);
  run.seed(*snap);
  if (!file && options.siblings > 0 && !members.joinable() && !(env.cancel != nullptr && env.cancel->cancelled())) {
    members_from_siblings(run, env.client, env.connector);  // no connection of its own: after the suspect, on this one
  }
  if (members.joinable()) members.join();
  report.cancelled = report.suspect_collect.cancelled || (env.cancel != nullptr && env.cancel->cancelled());
  finish_report(run, report, std::move(file), names);
  report.indicators = forensics::indicators_document(*snap, {.declared_ports = std::nullopt, .addresses = names},
                                                     util::format_rfc3339(env.clock.now()));
  if (!report.cancelled && env.indicators != nullptr) {
    const evidence::ArtifactMeta meta{.source = "kubectl-ir: single-pod indicators over the snapshot", .method = evidence::Method::local};
    IR_CHECK(env.indicators->add("analysis/indicators.json", dump(forensics::to_json(*report.indicators)), meta));
  }
  IR_CHECK(add_drift_analysis(env, report));
  return report;
}

// ---- baseline create --------------------------------------------------------------------------------------

util::Outcome BaselineReport::outcome() const {
  if (cancelled) return util::Outcome::interrupted;
  const auto ok = std::count_if(profile.members.begin(), profile.members.end(), [](const Member& m) { return m.status == MemberStatus::ok; });
  if (ok == 0) return util::Outcome::failed;
  return static_cast<std::size_t>(ok) == profile.members.size() ? util::Outcome::ok : util::Outcome::partial;
}

namespace {

// The pods a baseline target names, as Pod objects.
Result<std::vector<json>> target_pods(kube::Client& client, const BaselineTarget& t) {
  std::vector<json> pods;
  if (t.workload_kind.empty()) {
    for (const auto& name : t.pods) {
      IR_TRY(p, kube::get_pod(client, t.namespace_name, name));
      pods.push_back(std::move(p));
    }
    return pods;
  }
  static const std::map<std::string, std::string> k_kinds = {
      {"deployment", "deployments"}, {"statefulset", "statefulsets"}, {"daemonset", "daemonsets"}, {"replicaset", "replicasets"}};
  const auto kind = k_kinds.find(t.workload_kind);
  if (kind == k_kinds.end()) {
    return fail(Errc::usage, fmt::format("cannot profile a {}: give pods, or deployment/NAME, statefulset/NAME, daemonset/NAME or replicaset/NAME",
                                         util::esc(t.workload_kind, util::Cap::word)));
  }
  const std::string path = "/apis/apps/v1/namespaces/" + util::url_encode(t.namespace_name) + "/" + kind->second + "/" + util::url_encode(t.workload_name);
  IR_TRY(obj, kube::get_object(client, path, fmt::format("get {} {}/{}", t.workload_kind, t.namespace_name, t.workload_name)));
  const json& selector = field(field(obj, "spec"), "selector");
  std::vector<std::string> terms;
  if (const json& labels = field(selector, "matchLabels"); labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) terms.push_back(k + "=" + v.get<std::string>());
    }
  }
  for (const auto& e : arr(field(selector, "matchExpressions"))) {
    const std::string key = text(e, {"key"});
    const std::string op = text(e, {"operator"});
    std::vector<std::string> values;
    for (const auto& v : arr(field(e, "values"))) {
      if (v.is_string()) values.push_back(v.get<std::string>());
    }
    if (op == "In") terms.push_back(key + " in (" + util::join(values, ",") + ")");
    else if (op == "NotIn") terms.push_back(key + " notin (" + util::join(values, ",") + ")");
    else if (op == "Exists") terms.push_back(key);
    else if (op == "DoesNotExist") terms.push_back("!" + key);
  }
  if (terms.empty()) return fail(Errc::invalid, fmt::format("{}/{} has no selector", t.workload_kind, t.workload_name));
  auto pager = kube::list_pods(client, {t.namespace_name, util::join(terms, ","), "", 500});
  for (;;) {
    IR_TRY(page, pager.next());
    if (!page) break;
    if (page->restarted) pods.clear();
    for (const auto& p : arr(field(page->list, "items"))) {
      // Only the workload's own pods (a selector can overlap another workload's).
      const auto ctl = controller_of(p);
      if (t.workload_kind == "deployment" ? (ctl && ctl->kind == "ReplicaSet") : (ctl && util::to_lower(ctl->kind) == t.workload_kind && ctl->name == t.workload_name)) {
        pods.push_back(p);
      }
    }
  }
  if (pods.empty()) return fail(Errc::not_found, fmt::format("{}/{} in {} has no pods", t.workload_kind, t.workload_name, t.namespace_name));
  return pods;
}

// The digests a pod runs, container → digest ("" not started).
std::map<std::string, std::string> digests_of(const json& pod) {
  std::map<std::string, std::string> out;
  for (const auto& cs : arr(field(field(pod, "status"), "containerStatuses"))) {
    out[text(cs, {"name"})] = forensics::digest_of_image_id(text(cs, {"imageID"}));
  }
  return out;
}

}  // namespace

Result<BaselineReport> create_baseline(DriftEnv& env, const BaselineOptions& options) {
  IR_TRY(pods, target_pods(env.client, options.target));
  if (options.snapshot.parallel < 1) return fail(Errc::usage, "parallel must be at least 1");
  DriftOptions d = options.snapshot;
  d.namespace_name = options.target.namespace_name;
  d.pod = "-";
  const json no_suspect = json::object();
  Run run(env, d, no_suspect, {options.target.namespace_name});
  BaselineReport report;
  std::sort(pods.begin(), pods.end(), [](const json& a, const json& b) {
    return text(a, {"metadata", "creationTimestamp"}) > text(b, {"metadata", "creationTimestamp"});  // newest first
  });

  // The reference: the image digests most Ready pods run (a rollout leaves some on the old one).
  std::map<std::map<std::string, std::string>, std::size_t> votes;
  for (const auto& p : pods) {
    if (condition(p, "Ready") == true) ++votes[digests_of(p)];
  }
  std::map<std::string, std::string> reference;
  std::size_t best = 0;
  for (const auto& p : pods) {
    const auto d2 = digests_of(p);
    if (votes.count(d2) != 0 && votes[d2] > best) {
      best = votes[d2];
      reference = d2;
    }
  }
  const json* first_pod = nullptr;
  std::vector<Candidate> cands;
  for (const auto& p : pods) {
    Candidate c;
    c.pod.namespace_name = text(p, {"metadata", "namespace"});
    c.pod.name = text(p, {"metadata", "name"});
    c.pod.node = text(p, {"spec", "nodeName"});
    c.pod.phase = text(p, {"status", "phase"});
    if (field(p, "metadata").contains("deletionTimestamp")) {
      run.skip(c, "terminating");
      continue;
    }
    if (condition(p, "Ready") != true) {
      run.skip(c, "not Ready");
      continue;
    }
    if (digests_of(p) != reference) {
      run.skip(c, "runs other image digests than the others (a rollout in progress?)");
      continue;
    }
    if (first_pod == nullptr) first_pod = &p;
    // Pods of the workload named are its replicas when they run its template; pods named one by one
    // when they also share the first one's controller.
    const bool workload = !options.target.workload_kind.empty() || (controller_of(*first_pod) && controller_of(*first_pod) == controller_of(p));
    c.tier = workload && same_template(*first_pod, p) ? Tier::same_workload : Tier::same_digest;
    c.matched = 1;
    cands.push_back(std::move(c));
  }
  if (cands.empty()) return fail(Errc::failure, "no healthy pod to profile (see the skipped pods)");
  const std::size_t wanted = options.target.workload_kind.empty() ? cands.size() : std::min(options.max_pods, cands.size());
  std::map<std::string, json> by_name;
  for (const auto& p : pods) by_name[who(text(p, {"metadata", "namespace"}), text(p, {"metadata", "name"}))] = p;

  Scheduler scheduler(std::move(cands), wanted, "");
  std::mutex fold;
  bool seeded = false;
  const auto work = [&](kube::Client& client, kube::Connector& connector) {
    while (env.cancel == nullptr || !env.cancel->cancelled()) {
      const auto i = scheduler.next();
      if (!i) break;
      const Candidate& c = scheduler.at(*i);
      Member m{c.pod.namespace_name, c.pod.name, c.pod.node,
               c.tier == Tier::same_workload ? Relation::same_workload : Relation::same_digest, MemberStatus::ok, ""};
      std::vector<std::string> notes;
      if (auto nr = run.nodes.not_ready(client, c.pod.node, notes)) {
        for (auto& n : notes) run.note(std::move(n));
        run.skip(c, *nr);
        scheduler.done(*i, Candidate::State::skipped);
        continue;
      }
      for (auto& n : notes) run.note(std::move(n));
      const json& pod = by_name[who(c.pod.namespace_name, c.pod.name)];
      const std::string dir = pod_dir(c.pod.namespace_name, c.pod.name);
      auto keep = run.shared ? run.shared->view(dir) : nullptr;
      auto [collected, snap] = take_snapshot(run, client, connector, snapshot_options(d, c.pod.namespace_name, c.pod.name, false), pod,
                                             keep.get(), env.snapshots_prefix + dir, {});
      if (collected.cancelled) {
        scheduler.done(*i, Candidate::State::skipped);
        break;
      }
      const auto why = nothing_read(*snap, collected);
      forensics::AddressNames names;
      if (!why) {
        run.addresses.load_services(client);
        names = run.addresses.names_for(client, *snap);
      }
      run.progress(fmt::format("{} ({}): {}", util::esc(who(m.namespace_name, m.name), util::Cap::name), util::esc(m.node, util::Cap::name),
                               why ? "FAILED: " + util::esc(*why, util::Cap::detail) : std::string("profiled")));
      run.journal("baseline.member", {{"namespace", m.namespace_name}, {"pod", m.name}, {"node", m.node},
                                      {"status", why ? "failed" : "ok"}, {"reason", why.value_or("")}});
      {
        std::lock_guard lock(fold);
        if (why) {
          m.status = MemberStatus::failed;
          m.reason = *why;
          run.builder.add_failed(std::move(m));
        } else {
          if (!seeded) run.builder.seed(*snap);
          seeded = true;
          run.builder.add(std::move(m), *snap, names);
        }
      }
      scheduler.done(*i, why ? Candidate::State::failed : Candidate::State::ok);
    }
  };
  const std::size_t workers = std::max<std::size_t>(1, std::min(d.parallel, wanted));
  std::vector<std::unique_ptr<ApiConnection>> connections;
  if (env.connect && workers > 1) {
    for (std::size_t i = 0; i < workers; ++i) {
      auto conn = env.connect();
      if (!conn) {
        run.note("a worker connection could not be opened: " + conn.error().message);
        break;
      }
      connections.push_back(std::move(*conn));
    }
  }
  if (connections.empty()) {
    work(env.client, env.connector);
  } else {
    std::vector<std::thread> threads;
    for (auto& conn : connections) threads.emplace_back([&work, c = conn.get()] { work(c->client(), c->connector()); });
    for (auto& t : threads) t.join();
  }
  report.cancelled = env.cancel != nullptr && env.cancel->cancelled();
  report.profile = std::move(run.builder).finish();
  std::stable_sort(report.profile.members.begin(), report.profile.members.end(), [](const Member& a, const Member& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });
  report.meta.created = util::format_rfc3339(env.clock.now());
  report.meta.generator = options.generator;
  report.meta.subject = options.subject;
  report.meta.namespace_name = options.target.namespace_name;
  report.text = forensics::write_baseline(report.profile, report.meta);
  report.skipped = run.skipped;
  report.notes = run.notes;
  for (auto& p : run.addresses.problems()) report.notes.push_back(p);
  return report;
}

}  // namespace ir::triage
