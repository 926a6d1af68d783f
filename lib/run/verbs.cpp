#include "run/verbs.hpp"

#include <thread>

#include <fmt/format.h>

#include "exec/session.hpp"
#include "kube/api.hpp"
#include "triage/collect.hpp"
#include "triage/isolate.hpp"
#include "triage/siblings.hpp"
#include "util/strings.hpp"

namespace ir::run {


using nlohmann::json;

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

// ---- options ------------------------------------------------------------------------------------

// The options were checked statically where they were literals; templated ones are checked here.
Result<bool> opt_bool(const json& with, const char* key, bool fallback) {
  if (!with.contains(key) || with[key].is_null()) return fallback;
  if (!with[key].is_boolean()) return fail(Errc::invalid, fmt::format("option \"{}\" must be a bool, got {}", key, with[key].dump()));
  return with[key].get<bool>();
}
Result<std::string> opt_string(const json& with, const char* key, const std::string& fallback = {}) {
  if (!with.contains(key) || with[key].is_null()) return fallback;
  if (!with[key].is_string()) return fail(Errc::invalid, fmt::format("option \"{}\" must be a string, got {}", key, with[key].dump()));
  return with[key].get<std::string>();
}
Result<std::vector<std::string>> opt_list(const json& with, const char* key) {
  std::vector<std::string> out;
  if (!with.contains(key) || with[key].is_null()) return out;
  if (!with[key].is_array()) return fail(Errc::invalid, fmt::format("option \"{}\" must be a list, got {}", key, with[key].dump()));
  for (const auto& v : with[key]) {
    if (!v.is_string()) return fail(Errc::invalid, fmt::format("option \"{}\" must be a list of strings", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}
Result<std::uint64_t> opt_size(const json& with, const char* key, std::uint64_t fallback) {
  IR_TRY(text, opt_string(with, key));
  if (text.empty()) return fallback;
  const auto v = util::parse_byte_size(text);
  if (!v) return fail(Errc::invalid, fmt::format("option \"{}\": \"{}\" is not a byte size (e.g. 16Mi)", key, text));
  return *v;
}

struct PodTarget {
  std::string namespace_name;
  std::string pod;
};
Result<PodTarget> target_of(const StepCall& call) {
  IR_TRY(pod, opt_string(call.with, "pod", call.pod));
  IR_TRY(ns, opt_string(call.with, "namespace", call.namespace_name));
  if (pod.empty()) return fail(Errc::invalid, "no pod: give the playbook --pod or the step a \"pod\" option");
  return PodTarget{ns, pod};
}

kube::DryRun dry(const StepCall& call) { return call.dry_run ? kube::DryRun::all : kube::DryRun::none; }

// ---- the verbs ----------------------------------------------------------------------------------

class RealVerbs final : public Verbs {
 public:
  explicit RealVerbs(VerbEnv env) : m_env(std::move(env)) {}

  Result<json> run(const StepCall& call) override {
    const std::string& u = call.uses;
    if (u == "isolate") return isolate(call);
    if (u == "release") return release(call);
    if (u == "collect") return collect(call);
    if (u == "siblings") return siblings(call);
    if (u == "exec") return exec(call);
    if (u == "label" || u == "annotate") return metadata(call, u == "label" ? "labels" : "annotations");
    if (u == "cordon") return cordon(call);
    if (u == "logs") return logs(call);
    if (u == "wait") return wait(call);
    return fail(Errc::invalid, "unknown step type \"" + u + "\"");
  }

 private:
  triage::ActionLog log() const {
    return [this](const std::string& action, const json& fields) {
      if (m_env.journal) m_env.journal(action, fields);
    };
  }

  Result<json> isolate(const StepCall& call) {
    IR_TRY(t, target_of(call));
    triage::IsolateOptions o;
    o.namespace_name = t.namespace_name;
    o.pod = t.pod;
    o.case_id = call.case_id;
    o.new_case_id = call.case_id;
    IR_TRY(ingress, opt_bool(call.with, "ingress", false));
    IR_TRY(allow_dns, opt_bool(call.with, "allow_dns", false));
    IR_TRY(allow_egress, opt_list(call.with, "allow_egress"));
    IR_TRY(exclusive, opt_bool(call.with, "exclusive", false));
    IR_TRY(detach, opt_bool(call.with, "detach", false));
    IR_TRY(cordon, opt_bool(call.with, "cordon", false));
    IR_TRY(admin, opt_bool(call.with, "admin_policy", false));
    IR_TRY(probe, opt_string(call.with, "probe"));
    o.ingress = ingress;
    o.allow_dns = allow_dns;
    o.allow_egress = allow_egress;
    o.exclusive = exclusive;
    o.detach = detach;
    o.cordon = cordon;
    o.admin_policy = admin;
    o.probe = probe;
    o.dry_run = dry(call);
    o.actor = m_env.actor;
    IR_TRY(r, triage::isolate(m_env.client, &m_env.connector, o, log(), m_env.clock));
    const bool contained = r.egress.state == triage::Containment::contained &&
                           (!ingress || r.ingress.state == triage::Containment::contained);
    return json{{"policy", r.policy.value("metadata", json::object()).value("name", "")},
                {"egress", triage::to_string(r.egress.state)},
                {"ingress", triage::to_string(r.ingress.state)},
                {"contained", contained},
                {"node", r.node}};
  }

  Result<json> release(const StepCall& call) {
    IR_TRY(t, target_of(call));
    IR_TRY(r, triage::release(m_env.client, {t.namespace_name, t.pod, dry(call)}, log()));
    return json{{"released", r.was_isolated}};
  }

  Result<json> collect(const StepCall& call) {
    IR_TRY(t, target_of(call));
    triage::CollectOptions o;
    o.namespace_name = t.namespace_name;
    o.pod = t.pod;
    IR_TRY(containers, opt_list(call.with, "containers"));
    IR_TRY(fs, opt_string(call.with, "fs", "listing"));
    IR_TRY(paths, opt_list(call.with, "paths"));
    IR_TRY(max_log, opt_size(call.with, "max_log_bytes", o.max_log_bytes));
    IR_TRY(max_file, opt_size(call.with, "max_file_bytes", o.max_file_bytes));
    IR_TRY(ephemeral, opt_bool(call.with, "ephemeral", false));
    IR_TRY(image, opt_string(call.with, "debug_image", o.debug_image));
    IR_TRY(ptrace, opt_bool(call.with, "ptrace", false));
    const auto mode = triage::parse_fs_mode(fs);
    if (!mode) return fail(Errc::invalid, "option \"fs\" must be listing, archive or none, got \"" + fs + "\"");
    o.containers = containers;
    o.fs = *mode;
    if (!paths.empty()) o.paths = paths;
    o.max_log_bytes = max_log;
    o.max_file_bytes = max_file;
    o.ephemeral = ephemeral;
    o.debug_image = image;
    o.ptrace = ptrace;
    IR_TRY(pod, triage::read_target_pod(m_env.client, t.namespace_name, t.pod));
    if (call.dry_run || m_env.bundle == nullptr) {
      return json{{"artifacts", 0}, {"partial", false}, {"not_collected", json::array()},
                  {"ephemeral_containers", json::array()}, {"planned", true}};
    }
    const bool primary = t.pod == call.pod && t.namespace_name == call.namespace_name;
    const std::string prefix =
        primary ? "" : "pods/" + evidence::safe_component(t.namespace_name) + "/" + evidence::safe_component(t.pod) + "/";
    auto view = m_env.bundle->view(prefix);
    triage::CollectEnv env{m_env.client, m_env.connector, *view, m_env.clock, log(), m_env.progress, call.cancel};
    IR_TRY(r, triage::collect(env, o, pod));
    std::size_t artifacts = 0;
    for (const auto& s : r.steps) artifacts += s.artifacts;
    json out = {{"artifacts", artifacts}, {"partial", r.partial()}, {"not_collected", r.not_collected},
                {"ephemeral_containers", r.ephemeral_containers}};
    if (r.cancelled) return fail(Errc::cancelled, fmt::format("collect of {}/{} interrupted after {} artifacts",
                                                              t.namespace_name, t.pod, artifacts));
    return out;
  }

  Result<json> siblings(const StepCall& call) {
    IR_TRY(digest, opt_string(call.with, "digest"));
    IR_TRY(all_ns, opt_bool(call.with, "all_namespaces", true));
    IR_TRY(include_self, opt_bool(call.with, "include_self", false));
    triage::SiblingsOptions o;
    if (digest.empty()) {
      IR_TRY(t, target_of(call));
      o.namespace_name = t.namespace_name;
      o.pod = t.pod;
    } else {
      IR_TRY(ns, opt_string(call.with, "namespace", call.namespace_name));
      o.namespace_name = ns;
      o.digest = digest;
    }
    o.fallback_namespaces = {o.namespace_name};
    o.cancel = call.cancel;
    IR_TRY(r, triage::find_siblings(m_env.client, o));
    json pods = json::array();
    std::size_t count = 0;
    for (const auto& p : r.siblings) {
      if (p.suspect && !include_self) continue;
      if (!all_ns && p.namespace_name != o.namespace_name) continue;
      ++count;
      if (pods.size() < k_max_sibling_outputs) {
        pods.push_back({{"namespace", p.namespace_name}, {"name", p.name}, {"workload", triage::to_string(p.workload)},
                        {"node", p.node}, {"phase", p.phase}});
      }
    }
    json out = {{"count", count}, {"pods", pods}, {"partial", r.partial || r.inconsistent},
                {"digest", r.targets.empty() ? "" : r.targets.front().image_id}};
    if (count > pods.size()) out["note"] = fmt::format("pods lists the first {} of {}", pods.size(), count);
    return out;
  }

  Result<json> exec(const StepCall& call) {
    IR_TRY(t, target_of(call));
    IR_TRY(container, opt_string(call.with, "container"));
    IR_TRY(command, opt_list(call.with, "command"));
    IR_TRY(max_bytes, opt_size(call.with, "max_bytes", 64ULL << 20));
    if (command.empty()) return fail(Errc::invalid, "option \"command\" must be a non-empty list");
    if (call.dry_run || m_env.bundle == nullptr) return json{{"exit_code", 0}, {"stdout", ""}, {"truncated", false}, {"planned", true}};
    auto view = m_env.bundle->view("steps/" + evidence::safe_component(call.id) + "/");
    evidence::ArtifactMeta meta{"exec " + container + ": " + util::escape_for_terminal(util::join(command, " "), 512), "exec",
                                std::nullopt, false, ""};
    IR_TRY(entry, view->open_entry("stdout", meta));
    util::MemorySink copy(k_max_stdout_output);
    util::TeeSink out({entry.get(), &copy});
    util::MemorySink err(64 * 1024);
    exec::ExecLimits limits;
    limits.max_stdout = max_bytes;
    IR_TRY(r, exec::run_exec(m_env.client, m_env.connector, {t.namespace_name, t.pod, container, command}, out, err, {},
                             limits, call.cancel));
    if (r.completed()) meta.exit_status = r.exit_code;
    meta.truncated = !r.completed() || r.out.truncated();
    meta.note = r.completed() ? "" : r.detail;
    IR_CHECK(entry->commit(meta));
    if (!err.data().empty()) (void)view->add("stderr", err.data(), meta);
    if (!r.completed()) return fail(Errc::failure, "exec: " + r.detail);
    return json{{"exit_code", r.exit_code},
                {"stdout", util::escape_for_terminal(copy.data(), k_max_stdout_output, util::Lines::keep)},
                {"truncated", meta.truncated || copy.overflowed()}};
  }

  Result<json> metadata(const StepCall& call, const char* field) {
    IR_TRY(t, target_of(call));
    if (!call.with.contains(field) || !call.with[field].is_object()) {
      return fail(Errc::invalid, fmt::format("option \"{}\" must be a map", field));
    }
    // The runner typed the rendered options (check_rendered_options): string values, null removes.
    const json& values = call.with[field];
    IR_TRY(p, kube::patch_pod_metadata(m_env.client, t.namespace_name, t.pod, {{field, values}}, dry(call)));
    if (m_env.journal) m_env.journal(field == std::string("labels") ? "label" : "annotate",
                                     {{"namespace", t.namespace_name}, {"pod", t.pod}, {field, values}, {"dry_run", call.dry_run}});
    return json{{field, p.value("metadata", json::object()).value(field, json::object())}};
  }

  Result<json> cordon(const StepCall& call) {
    IR_TRY(node, opt_string(call.with, "node"));
    if (node.empty()) {
      IR_TRY(t, target_of(call));
      IR_TRY(pod, kube::get_pod(m_env.client, t.namespace_name, t.pod));
      node = pod.value("spec", json::object()).value("nodeName", "");
      if (node.empty()) return fail(Errc::invalid, fmt::format("pod {}/{} is not scheduled on a node", t.namespace_name, t.pod));
    }
    IR_CHECK(kube::patch_node(m_env.client, node, {{"spec", {{"unschedulable", true}}}}, dry(call)));
    if (m_env.journal) m_env.journal("cordon", {{"node", node}, {"dry_run", call.dry_run}});
    return json{{"node", node}};
  }

  Result<json> logs(const StepCall& call) {
    IR_TRY(t, target_of(call));
    IR_TRY(container, opt_string(call.with, "container"));
    IR_TRY(previous, opt_bool(call.with, "previous", false));
    IR_TRY(max_bytes, opt_size(call.with, "max_bytes", 16ULL << 20));
    if (call.dry_run || m_env.bundle == nullptr) return json{{"bytes", 0}, {"planned", true}};
    auto view = m_env.bundle->view("steps/" + evidence::safe_component(call.id) + "/");
    const std::string name = (container.empty() ? std::string("default") : evidence::safe_component(container)) +
                             (previous ? ".previous" : "") + ".log";
    evidence::ArtifactMeta meta{fmt::format("GET pods/{}/log container={} previous={}", t.pod, container, previous), "api",
                                std::nullopt, false, ""};
    IR_TRY(entry, view->open_entry(name, meta));
    kube::LogOptions lo;
    lo.container = container;
    lo.previous = previous;
    lo.limit_bytes = static_cast<long long>(max_bytes);
    IR_TRY(r, kube::stream_pod_logs(m_env.client, t.namespace_name, t.pod, lo,
                                    [&](std::string_view chunk) { return entry->write(chunk); }));
    meta.truncated = r.cut;
    IR_CHECK(entry->commit(meta));
    return json{{"bytes", r.bytes}};
  }

  Result<json> wait(const StepCall& call) {
    IR_TRY(text, opt_string(call.with, "duration"));
    const auto d = util::parse_duration(text);
    if (!d) return fail(Errc::invalid, "option \"duration\": \"" + text + "\" is not a duration (e.g. 30s)");
    if (call.dry_run) return json::object();
    const auto until = std::chrono::steady_clock::now() + *d;
    while (std::chrono::steady_clock::now() < until) {
      if (call.cancel != nullptr && call.cancel->cancelled()) return fail(Errc::cancelled, "wait interrupted");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return json::object();
  }

  VerbEnv m_env;
};

}  // namespace

std::unique_ptr<evidence::BundleWriter> SharedBundle::view(const std::string& prefix) {
  return std::make_unique<BundleView>(m_inner, m_locks, prefix);
}

std::unique_ptr<Verbs> make_verbs(VerbEnv env) { return std::make_unique<RealVerbs>(std::move(env)); }

}  // namespace ir::run
