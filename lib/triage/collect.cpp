#include "triage/collect.hpp"

#include <set>

#include <fmt/format.h>

#include "forensics/indicators.hpp"
#include "forensics/procfs.hpp"
#include "kube/api.hpp"
#include "triage/access.hpp"
#include "triage/collect_steps.hpp"
#include "triage/digest.hpp"
#include "triage/drift.hpp"
#include "triage/snapshot.hpp"
#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {
constexpr std::size_t k_max_stderr_kept = 64 * 1024;


json str_at(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->contains(key)) return "";
    cur = &(*cur)[key];
  }
  return cur->is_string() ? *cur : json("");
}
}  // namespace

const char* to_string(FsMode mode) {
  switch (mode) {
    case FsMode::none: return "none";
    case FsMode::listing: return "listing";
    case FsMode::archive: return "archive";
  }
  return "?";
}

std::optional<FsMode> parse_fs_mode(const std::string& text) {
  if (text == "none") return FsMode::none;
  if (text == "listing") return FsMode::listing;
  if (text == "archive") return FsMode::archive;
  return std::nullopt;
}

util::Outcome CollectReport::outcome() const {
  if (cancelled) return util::Outcome::interrupted;
  if (!not_collected.empty()) return util::Outcome::partial;
  for (const auto& s : steps) {
    if (!util::complete(s.status)) return util::Outcome::partial;
  }
  return util::Outcome::ok;
}

namespace collect_detail {

bool Ctx::cancelled() const { return env.cancel != nullptr && env.cancel->cancelled(); }

void Ctx::progress(const std::string& line) const {
  if (env.progress) env.progress(line);
}

void Ctx::record(StepRecord step) {
  // A step cut short by Ctrl-C is interrupted, not failed: what it got is kept.
  if (cancelled() && (step.status == util::Outcome::failed || step.status == util::Outcome::partial)) {
    step.status = util::Outcome::interrupted;
  }
  std::string where = step.container.empty() ? "" : " [" + util::esc(step.container, util::Cap::word) + "]";
  std::string line = fmt::format("{:<16}{} {}", step.step, where, util::to_string(step.status));
  if (step.artifacts > 0) line += fmt::format(", {} artifact{}", step.artifacts, step.artifacts == 1 ? "" : "s");
  if (!step.detail.empty()) line += ": " + util::esc(step.detail, util::Cap::detail);
  progress(line);
  if (!util::complete(step.status) && env.log) {
    env.log("collect.step", {{"step", step.step}, {"container", step.container}, {"status", util::to_string(step.status)},
                             {"method", evidence::to_string(step.method)}, {"detail", step.detail}});
  }
  report.steps.push_back(std::move(step));
}

bool Ctx::allowed(Access a, const std::string& container) {
  const auto it = denied.find(a);
  if (it == denied.end()) return true;
  const char* what = "";
  switch (a) {
    case Access::exec: what = "processes, network and filesystem"; break;
    case Access::logs: what = "logs"; break;
    case Access::events: what = "events"; break;
    case Access::node: what = "the node"; break;
    case Access::network_policies: what = "the network policies"; break;
    case Access::owners: what = "the owner chain"; break;
    case Access::ephemeral: what = "a debug container"; break;
  }
  const std::string line = fmt::format("{}{}: forbidden: kubectl-ir may not {} (RBAC)", what,
                                       container.empty() ? "" : " of container " + util::esc(container, util::Cap::word),
                                       it->second);
  if (std::find(report.not_collected.begin(), report.not_collected.end(), line) == report.not_collected.end()) {
    report.not_collected.push_back(line);
  }
  return false;
}

void Ctx::add(StepRecord& step, const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta) {
  auto a = env.bundle.add(name, data, meta);
  if (!a) {
    step.status = util::Outcome::failed;
    step.detail = "bundle: " + a.error().message;
    return;
  }
  ++step.artifacts;
  step.bytes += a->size;
}

std::string describe_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return util::esc(s, util::Cap::detail);
}

std::string exec_source(const ExecTarget& target, const std::string& command) {
  return fmt::format("exec {}{}: {}", util::esc(target.exec_container, util::Cap::word),
                     target.exec_container == target.container ? "" : " (target " + util::esc(target.container, util::Cap::word) + ")", command);
}

std::string pretty(const nlohmann::json& j) { return forensics::procfs::dump_json(j, 2) + "\n"; }

std::string container_dir(const std::string& container) {
  return "containers/" + evidence::safe_component(container) + "/";
}

Captured run_command(Ctx& ctx, const ExecTarget& target, const CommandSpec& spec) {
  const auto& o = ctx.options;
  ExecEntrySpec e;
  e.request = {o.namespace_name, o.pod, target.exec_container, spec.argv};
  e.limits.max_stdout = spec.max_stdout > 0 ? spec.max_stdout : o.max_output_bytes;
  e.limits.max_stderr = 1024 * 1024;
  e.limits.total_timeout = spec.timeout.count() > 0 ? spec.timeout : o.command_timeout;
  e.limits.idle_timeout = o.idle_timeout;
  e.entry = spec.entry;
  e.meta.method = target.method;
  e.meta.source = exec_source(target, spec.source.empty() ? describe_argv(spec.argv) : spec.source);
  e.keep = spec.keep;
  e.tee = spec.tee;
  e.on_failure = spec.on_failure;
  e.max_stderr_kept = k_max_stderr_kept;
  return exec_to_entry(ctx.env.client, ctx.env.connector, ctx.env.bundle, e, ctx.env.cancel);
}

void preflight_collect(Ctx& ctx, const json& pod, const std::vector<std::string>& containers) {
  const auto& o = ctx.options;
  const std::string& ns = o.namespace_name;
  // Exec is a GET with an upgrade, authorised as `get pods/exec` before 1.30 and `create` since.
  std::string exec_verb = "create";
  if (auto v = kube::get_server_version(ctx.env.client); v && v->major == 1 && v->minor < 30) exec_verb = "get";
  std::vector<std::pair<Access, kube::ResourceAttributes>> needs;
  const bool full = o.scope == CollectScope::full;  // a snapshot reads nothing else of the API
  if (full) {
    needs = {{Access::logs, {"get", "", "pods", "log", ns, ""}},
             {Access::events, {"list", "", "events", "", ns, ""}},
             {Access::network_policies, {"list", "networking.k8s.io", "networkpolicies", "", ns, ""}}};
  }
  if (full && !str_at(pod, {"spec", "nodeName"}).get<std::string>().empty()) needs.push_back({Access::node, {"get", "", "nodes", "", "", ""}});
  for (const auto& r : pod.value("metadata", json::object()).value("ownerReferences", json::array())) {
    if (!full) break;
    if (!r.is_object() || !r.value("controller", false)) continue;
    const std::string api_version = r.value("apiVersion", "");
    const auto slash = api_version.find('/');
    const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    needs.push_back({Access::owners, {"get", group, util::to_lower(r.value("kind", "")) + "s", "", ns, ""}});
  }
  if (!containers.empty()) needs.push_back({Access::exec, {exec_verb, "", "pods", "exec", ns, ""}});
  if (!containers.empty() && o.ephemeral) needs.push_back({Access::ephemeral, {"patch", "", "pods", "ephemeralcontainers", ns, ""}});
  std::vector<kube::ResourceAttributes> asked;
  for (const auto& [a, need] : needs) asked.push_back(need);
  const auto check = check_access(ctx.env.client, asked);
  for (const auto& missing : check.missing) {
    for (const auto& [a, need] : needs) {
      if (need == missing && ctx.denied.count(a) == 0) ctx.denied[a] = describe_access(need);
    }
  }
  if (!check.unchecked.empty()) {
    ctx.progress("note: permissions could not be checked before collecting (" + util::esc(check.unchecked, util::Cap::detail) +
                 "): a refused request will fail its step");
  }
  if (!ctx.denied.empty() && ctx.env.log) {
    json refused = json::array();
    for (const auto& [a, what] : ctx.denied) refused.push_back(what);
    ctx.env.log("collect.preflight", {{"refused", refused}});
  }
}

void account_for_interruption(Ctx& ctx, const std::vector<std::string>& containers) {
  const auto has = [&](const std::string& step, const std::string& container) {
    return std::any_of(ctx.report.steps.begin(), ctx.report.steps.end(),
                       [&](const StepRecord& r) { return r.step == step && r.container == container; });
  };
  const auto missing = [&](const std::string& what) {
    ctx.report.not_collected.push_back(what + ": interrupted (Ctrl-C) before it was collected");
  };
  const bool full = ctx.options.scope == CollectScope::full;
  for (const char* step : {"owners", "node", "events", "networkpolicies"}) {
    if (full && !has(step, "")) missing(step);
  }
  const json status = ctx.report.pod.value("status", json::object());
  for (const auto& cs : status.value("containerStatuses", json::array())) {
    if (!full) break;
    const std::string c = cs.is_object() ? cs.value("name", "") : "";
    if (!c.empty() && !has("logs", c)) missing("logs of container " + util::esc(c, util::Cap::word));
  }
  for (const auto& c : containers) {
    const std::string of = " of container " + util::esc(c, util::Cap::word);
    // A container skipped (not running) or refused has its own record or line already.
    const bool skipped = std::any_of(ctx.report.steps.begin(), ctx.report.steps.end(), [&](const StepRecord& r) {
      return r.container == c && r.status == util::Outcome::skipped && r.step == "processes";
    });
    if (skipped || ctx.denied.count(Access::exec) != 0) continue;
    if (!has("processes", c)) missing("processes" + of);
    if (!has("network", c)) missing("network" + of);
    if (ctx.options.fs != FsMode::none && !has("filesystem", c)) missing("filesystem" + of);
  }
  for (const auto& r : ctx.report.steps) {
    if (r.status == util::Outcome::interrupted) {
      ctx.report.not_collected.push_back(r.step + (r.container.empty() ? "" : " of container " + util::esc(r.container, util::Cap::word)) +
                                         ": interrupted (Ctrl-C) while it was collected: what arrived is kept");
    }
  }
}

namespace {

bool loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1" || ip == "::ffff:127.0.0.1"; }

std::string endpoint(const std::string& ip, const json& port) {
  const std::string p = port.is_number() ? std::to_string(port.get<long long>()) : "?";
  return ip.find(':') != std::string::npos ? "[" + ip + "]:" + p : ip + ":" + p;
}

}  // namespace

std::vector<std::string> notable_evidence(const Ctx& ctx) {
  constexpr std::size_t k_max_lines = 12;
  std::vector<std::string> established;
  std::vector<std::string> listening;
  std::vector<std::string> from_tmp;
  const bool several = ctx.walk.size() > 1;
  for (const auto& [container, records] : ctx.walk) {
    const std::string where = several ? "[" + util::esc(container, util::Cap::word) + "] " : "";
    std::map<long long, const json*> by_pid;
    for (const auto& r : records) {
      if (r.value("kind", "") == "process" && r.contains("pid") && r["pid"].is_number()) by_pid[r["pid"].get<long long>()] = &r;
    }
    const auto who = [&](const json& sock) {
      std::vector<std::string> names;
      for (const auto& pid : sock.value("pids", json::array())) {
        if (!pid.is_number()) continue;
        std::string n = "pid " + std::to_string(pid.get<long long>());
        if (auto it = by_pid.find(pid.get<long long>()); it != by_pid.end()) {
          const std::string exe = it->second->value("exe", "");
          const std::string comm = it->second->value("comm", "");
          n += " " + (exe.empty() ? comm : exe);
          const auto slash = exe.rfind('/');
          if (!exe.empty() && !comm.empty() && exe.substr(slash + 1).rfind(comm, 0) != 0) n += " (comm " + comm + ")";
        }
        names.push_back(n);
      }
      return names.empty() ? std::string("no process found") : util::join(names, ", ");
    };
    if (auto it = ctx.sockets.find(container); it != ctx.sockets.end()) {
      for (const auto& sock : it->second) {
        if (sock.value("kind", "") != "socket") continue;
        const std::string state = sock.value("state", "");
        const std::string proto = sock.value("proto", "");
        if (state == "ESTABLISHED" && !loopback(sock.value("remote_ip", ""))) {
          established.push_back(util::esc(where + who(sock) + " -> " + endpoint(sock.value("remote_ip", ""), sock.value("remote_port", json())) +
                                          " (" + proto + ")", util::Text::escaped, util::Cap::detail));
        } else if (state == "LISTEN") {
          listening.push_back(util::esc(where + who(sock) + " listens on " + proto + " " +
                                        endpoint(sock.value("local_ip", ""), sock.value("local_port", json())), util::Text::escaped, util::Cap::detail));
        }
      }
    }
    for (const auto& [pid, r] : by_pid) {
      const std::string exe = r->value("exe", "");
      for (const char* dir : {"/tmp/", "/var/tmp/", "/dev/shm/"}) {
        if (exe.rfind(dir, 0) == 0 || exe.find(" (deleted)") != std::string::npos || exe.rfind("/memfd:", 0) == 0) {
          from_tmp.push_back(util::esc(where + "pid " + std::to_string(pid) + " runs " + exe, util::Text::escaped, util::Cap::detail));
          break;
        }
      }
    }
  }
  std::vector<std::string> out;
  for (auto* group : {&established, &from_tmp, &listening}) {
    for (auto& line : *group) {
      if (out.size() == k_max_lines) {
        out.push_back("... more in the bundle");
        return out;
      }
      if (std::find(out.begin(), out.end(), line) == out.end()) out.push_back(std::move(line));
    }
  }
  return out;
}

namespace {

std::string document_text(const forensics::AnalysisDocument& doc) {
  return forensics::to_json(doc).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string counted(std::size_t n, const char* what) { return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s"); }

// The analysis of what collect gathered, with no extra exec: the single-pod indicators into
// analysis/indicators.json and, with options.drift, the comparison with siblings into
// analysis/drift.json; their findings lead the notable lines.
void analyse_collected(Ctx& ctx, CollectEnv& env, const json& pod) {
  const forensics::PodSnapshot& snapshot = *ctx.report.snapshot;
  const std::string now = util::format_rfc3339(env.clock.now());
  const evidence::ArtifactMeta meta{.source = "kubectl-ir: analysis of the collected artifacts (lib/forensics)",
                                    .method = evidence::Method::local};
  std::vector<std::string> problems;
  const auto names = resolve_addresses(env.client, {&snapshot}, {ctx.options.namespace_name}, &problems);
  StepRecord step{.step = "analysis", .method = evidence::Method::local};
  auto indicators = forensics::indicators_document(snapshot, {.declared_ports = std::nullopt, .addresses = names}, now);
  ctx.add(step, "analysis/indicators.json", document_text(indicators), meta);
  step.detail = counted(indicators.findings.size(), "indicator finding");
  if (!problems.empty()) step.detail += "; " + problems.front();
  ctx.record(std::move(step));
  std::vector<forensics::Finding> findings = indicators.findings;
  ctx.report.indicators = std::move(indicators);

  if (ctx.options.drift && !ctx.cancelled()) {
    StepRecord d{.step = "drift", .method = evidence::Method::local};
    const DriftOptions o = drift_options_of(ctx.options);
    // Siblings' snapshots go beside the pod's evidence, written straight to the bundle (not
    // through this collect's tap: they are other pods).
    DriftEnv denv{env.client, env.connector, env.clock, &env.bundle, env.bundle_prefix, nullptr, nullptr,
                  env.log, env.progress, env.cancel, env.connect};
    auto r = compare_with_siblings(denv, o, pod, ctx.report.snapshot);
    if (!r) {
      d.status = util::Outcome::failed;
      d.detail = r.error().message;
    } else {
      ctx.add(d, "analysis/drift.json", document_text(r->drift), {.source = "kubectl-ir: drift of the pod, " + r->baseline_line(),
                                                                  .method = evidence::Method::local});
      d.detail = counted(r->drift.findings.size(), "drift finding") + " " + r->baseline_line();
      const auto o2 = r->outcome();
      if (r->compared() == 0) d.status = util::Outcome::skipped;
      else if (o2 == util::Outcome::partial && r->compared() < r->wanted) d.status = util::Outcome::partial;
      if (r->cancelled) d.status = util::Outcome::interrupted;
      for (const auto& f : r->drift.findings) findings.push_back(f);
      ctx.report.other_subjects = std::move(r->subjects);
      ctx.report.drift = std::move(r->drift);
    }
    ctx.record(std::move(d));
  }

  // The findings first, then what the raw evidence shows (connections, listeners, odd executables).
  std::vector<std::string> lines;
  for (const auto& l : forensics::summary_lines(findings)) lines.push_back(util::esc(l, util::Text::escaped, util::Cap::detail));
  for (auto& n : ctx.report.notable) {
    if (std::find(lines.begin(), lines.end(), n) == lines.end()) lines.push_back(std::move(n));
  }
  ctx.report.notable = std::move(lines);
}

}  // namespace

}  // namespace collect_detail

Result<json> read_target_pod(kube::Client& client, const std::string& ns, const std::string& pod) {
  return kube::get_pod(client, ns, pod);
}

Result<CollectReport> collect(CollectEnv& env, const CollectOptions& options, const json& pod) {
  using namespace collect_detail;
  CollectReport report;
  report.pod = pod;
  report.pod_uid = str_at(pod, {"metadata", "uid"});
  report.resource_version = str_at(pod, {"metadata", "resourceVersion"});
  report.node = str_at(pod, {"spec", "nodeName"});

  // Which containers: all (init containers only for their logs), or the ones asked for.
  std::vector<std::string> names;
  std::set<std::string> known;
  const json spec = pod.value("spec", json::object());
  for (const char* key : {"containers", "initContainers", "ephemeralContainers"}) {
    for (const auto& c : spec.value(key, json::array())) {
      if (c.is_object() && c.contains("name") && c["name"].is_string()) {
        known.insert(c["name"].get<std::string>());
        if (std::string(key) == "containers") names.push_back(c["name"].get<std::string>());
      }
    }
  }
  if (!options.containers.empty()) {
    for (const auto& c : options.containers) {
      if (known.count(c) == 0) {
        std::vector<std::string> have(known.begin(), known.end());
        return fail(Errc::usage, fmt::format("container \"{}\" is not in pod {}/{} (have: {})", util::esc(c, util::Cap::word),
                                             options.namespace_name, options.pod, util::esc(util::join(have, ", "))));
      }
    }
    names = options.containers;
  }

  // Every entry also feeds the pod's snapshot, which the analysis reads afterwards (no extra exec).
  SnapshotTap tap(pod, &env.bundle, env.bundle_prefix);
  CollectEnv tapped{env.client, env.connector, tap, env.clock, env.log, env.progress, env.cancel, env.bundle_prefix, env.connect};
  Ctx ctx{tapped, options, report};
  preflight_collect(ctx, pod, names);
  collect_api_state(ctx, pod);  // pod, images, owners, node, events, network policies (snapshot: pod, images)
  if (options.scope == CollectScope::full) collect_logs(ctx, pod);
  for (const auto& name : names) {
    if (ctx.cancelled()) break;
    collect_container(ctx, pod, name);
  }
  report.cancelled = ctx.cancelled();
  if (report.cancelled) account_for_interruption(ctx, names);
  report.notable = notable_evidence(ctx);
  if (!report.cancelled) {
    report.snapshot = std::make_shared<const forensics::PodSnapshot>(tap.snapshot(report));
    if (options.scope == CollectScope::full) analyse_collected(ctx, env, pod);
  }
  if (report.cancelled && env.log) {
    env.log("collect.cancelled", {{"steps_done", report.steps.size()}, {"not_collected", report.not_collected}});
  }
  return report;
}

evidence::Subject subject_of(const CollectReport& report, const std::string& namespace_name, const std::string& pod) {
  evidence::Subject s{namespace_name, pod, report.pod_uid, report.resource_version, report.node, {}};
  for (const auto& [container, id] : report.image_ids.items()) {
    const std::string image_id = id.is_string() ? id.get<std::string>() : "";
    const auto d = parse_image_id(image_id);
    s.images.push_back({container, image_id, d.digest});
  }
  return s;
}

std::string collect_details(const CollectOptions& options, const CollectReport& report) {
  std::string s;
  s += fmt::format("{:<18}{}\n", "filesystem:", to_string(options.fs));
  s += fmt::format("{:<18}{}\n", "paths:", util::esc(util::join(options.paths, " "), util::Cap::detail));
  for (const auto& e : report.ephemeral_containers) s += fmt::format("{:<18}{}\n", "ephemeral added:", util::esc(e, util::Cap::name));
  s += "\nsteps:\n";
  for (const auto& st : report.steps) {
    s += fmt::format("  {:<16} {:<12} {:<11} {:<9} {}\n", st.step,
                     util::esc(st.container.empty() ? "-" : st.container, util::Cap::word), util::to_string(st.status),
                     evidence::to_string(st.method), util::esc(st.detail, util::Cap::detail));
  }
  if (!report.notable.empty()) {
    s += "\nnotable:\n";
    for (const auto& n : report.notable) s += "  " + n + "\n";
  }
  return s;
}

json collect_record(const CollectOptions& options, const CollectReport& report) {
  json steps = json::array();
  for (const auto& st : report.steps) {
    steps.push_back({{"step", st.step}, {"container", st.container}, {"status", util::to_string(st.status)},
                     {"method", evidence::to_string(st.method)}, {"detail", st.detail}, {"artifacts", st.artifacts}});
  }
  const auto findings = [](const std::optional<forensics::AnalysisDocument>& d) {
    return d ? json(d->findings.size()) : json(nullptr);
  };
  return {{"collect",
           {{"fs", to_string(options.fs)}, {"paths", options.paths}, {"steps", steps},
            {"ephemeral_containers", report.ephemeral_containers}, {"notable", report.notable},
            {"analysis", {{"indicators", findings(report.indicators)}, {"drift", findings(report.drift)}}}}}};
}

}  // namespace ir::triage
