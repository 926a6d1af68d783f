#include "triage/drill.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "evidence/bundle.hpp"
#include "kube/api.hpp"
#include "triage/access.hpp"
#include "triage/collect.hpp"
#include "triage/debug_container.hpp"
#include "triage/doctor.hpp"
#include "triage/netpol.hpp"
#include "triage/probe.hpp"
#include "util/strings.hpp"
#include "triage/json_fields.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

constexpr int k_canary_port = 8080;
constexpr const char* k_drill_label = "kubectl-ir/drill";
constexpr const char* k_role_label = "kubectl-ir/drill-role";
constexpr const char* k_banner = "kubectl-ir drill canary";

using json_fields::member;
using json_fields::str;

std::string pods_path(const std::string& ns) {
  return "/api/v1/namespaces/" + util::url_encode(ns) + "/pods";
}

// A canary: a small HTTP server on 8080 that says hello in its log. Nothing privileged, no token,
// no service links: it must pass PodSecurity "restricted" and leave nothing behind.
json canary_pod(const DrillOptions& o, const std::string& ns, const std::string& name, const std::string& role) {
  const std::string script = fmt::format("echo '{} {}'; exec httpd -f -p {} -h /tmp", k_banner, role, k_canary_port);
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"labels", {{k_managed_by_label, "kubectl-ir"}, {k_drill_label, o.drill_id}, {k_role_label, role}}}}},
      {"spec",
       {{"containers", json::array({{{"name", "canary"},
                                     {"image", o.image},
                                     {"imagePullPolicy", "IfNotPresent"},
                                     {"command", json::array({"sh", "-c", script})},
                                     {"ports", json::array({{{"containerPort", k_canary_port}, {"protocol", "TCP"}}})},
                                     {"securityContext",
                                      {{"allowPrivilegeEscalation", false},
                                       {"capabilities", {{"drop", json::array({"ALL"})}}},
                                       {"runAsNonRoot", true},
                                       {"runAsUser", 65534},
                                       {"seccompProfile", {{"type", "RuntimeDefault"}}}}}}})},
        {"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        {"restartPolicy", "Never"},
        {"terminationGracePeriodSeconds", 0}}}};
}

kube::ResourceAttributes need(const char* verb, const char* group, const char* resource, const char* sub,
                              const std::string& ns) {
  return {verb, group, resource, sub, ns, ""};
}

using Outcome = std::pair<RowState, std::string>;

class Drill {
 public:
  Drill(kube::Client& client, kube::Connector& connector, util::Clock& clock, const DrillOptions& o,
        const ActionLog& log)
      : m_client(client), m_connector(connector), m_clock(clock), m_o(o), m_log(log) {}

  DrillReport run() {
    const auto start = m_clock.now();
    m_r.namespace_name = m_o.namespace_name.empty() ? "kubectl-ir-drill-" + m_o.drill_id : m_o.namespace_name;
    m_ns = m_r.namespace_name;
    m_server = "kubectl-ir-drill-" + m_o.drill_id + "-server";
    m_client_pod = "kubectl-ir-drill-" + m_o.drill_id + "-client";
    steps();
    cleanup();
    m_r.seconds = since(start);
    return std::move(m_r);
  }

 private:
  kube::Client& m_client;
  kube::Connector& m_connector;
  util::Clock& m_clock;
  const DrillOptions& m_o;
  const ActionLog& m_log;
  DrillReport m_r;
  std::string m_ns, m_server, m_client_pod, m_server_ip, m_client_ip;
  bool m_stop = false;  // a row the rest depends on failed: later rows are skipped, cleanup runs

  double since(util::TimePoint t) const { return std::chrono::duration<double>(m_clock.now() - t).count(); }
  bool cancelled() const { return m_o.cancel != nullptr && m_o.cancel->cancelled(); }
  void progress(const std::string& line) const {
    if (m_o.progress) m_o.progress(line);
  }

  // Runs one row: `body` returns its state and detail. Skipped when an earlier required row broke
  // the chain or on Ctrl-C.
  void row(const std::string& check, const std::string& title, bool required, const std::function<Outcome()>& body,
           const std::string& skip_reason = {}) {
    DrillRow r{check, title, required, RowState::skipped, "", 0};
    if (cancelled()) {
      m_r.cancelled = true;
      r.detail = "interrupted";
    } else if (m_stop) {
      r.detail = "not reached: an earlier check failed";
    } else if (!skip_reason.empty()) {
      r.detail = skip_reason;
    } else {
      progress("drill: " + title);
      const auto t = m_clock.now();
      auto [state, detail] = body();
      r.state = state;
      r.detail = std::move(detail);
      r.seconds = since(t);
      if (cancelled()) m_r.cancelled = true;
    }
    m_log("drill.check", {{"check", r.check},
                          {"state", to_string(r.state)},
                          {"required", r.required},
                          {"detail", r.detail},
                          {"seconds", r.seconds}});
    m_r.rows.push_back(std::move(r));
  }

  void created(const std::string& what) {
    m_r.created.push_back(what);
    m_log("drill.create", {{"object", what}});
  }

  void steps() {
    const bool temporary = m_o.namespace_name.empty();

    // 1. RBAC: what the drill itself needs (it stops without it) and what a responder needs in the
    // drill's namespace and every namespace to check.
    bool can_run = true;
    row("rbac", "RBAC for every verb", true, [&]() -> Outcome {
      std::vector<kube::ResourceAttributes> own = {need("create", "", "pods", "", m_ns),
                                                   need("get", "", "pods", "", m_ns),
                                                   need("delete", "", "pods", "", m_ns),
                                                   need("create", "", "pods", "exec", m_ns),
                                                   need("get", "", "pods", "log", m_ns),
                                                   need("patch", "", "pods", "", m_ns),
                                                   need("create", "networking.k8s.io", "networkpolicies", "", m_ns),
                                                   need("patch", "networking.k8s.io", "networkpolicies", "", m_ns),
                                                   need("list", "networking.k8s.io", "networkpolicies", "", m_ns),
                                                   need("delete", "networking.k8s.io", "networkpolicies", "", m_ns)};
      if (temporary) {
        own.push_back(need("create", "", "namespaces", "", ""));
        own.push_back(need("delete", "", "namespaces", "", ""));
      }
      const AccessCheck mine = check_access(m_client, own);
      std::vector<kube::ResourceAttributes> responder;
      std::vector<std::string> namespaces = {m_ns};
      for (const auto& ns : m_o.check_namespaces) {
        if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) namespaces.push_back(ns);
      }
      std::size_t total = own.size();
      for (const auto& ns : namespaces) {
        for (const auto& p : required_permissions()) {
          if (p.optional || (p.command != "isolate" && p.command != "release" && p.command != "collect")) continue;
          responder.push_back({p.verb, p.group, p.resource, p.subresource, p.cluster_scope ? "" : ns, ""});
        }
      }
      const AccessCheck theirs = check_access(m_client, responder);
      total += responder.size();
      std::vector<std::string> missing;
      for (const auto& m : mine.missing) missing.push_back(describe_access(m));
      for (const auto& m : theirs.missing) {
        const std::string d = describe_access(m);
        if (std::find(missing.begin(), missing.end(), d) == missing.end()) missing.push_back(d);
      }
      if (!mine.missing.empty()) {
        can_run = false;
        return Outcome{RowState::not_ready, "the drill cannot run: missing " + util::join(missing, ", ")};
      }
      if (!mine.unchecked.empty() || !theirs.unchecked.empty()) {
        return Outcome{RowState::not_ready,
                       "could not check permissions: " + (mine.unchecked.empty() ? theirs.unchecked : mine.unchecked)};
      }
      if (!missing.empty()) return Outcome{RowState::not_ready, "missing " + util::join(missing, ", ")};
      return Outcome{RowState::ready, fmt::format("isolate, release, collect and the drill allowed in {} ({} checks)",
                                                  util::join(namespaces, ", "), total)};
    });
    if (!can_run) m_stop = true;

    // 2. The canaries.
    row("pods", "canary pods running", true, [&]() -> Outcome { return start_canaries(temporary); });
    if (m_r.rows.back().state != RowState::ready) m_stop = true;

    // 3. exec, and the baseline the network rows compare against.
    bool baseline = false;
    bool ingress_baseline = false;
    Prober client_probe(m_client, m_connector, m_ns, m_client_pod, "canary", m_o.cancel);
    Prober server_probe(m_client, m_connector, m_ns, m_server, "canary", m_o.cancel);
    const ProbeTarget to_server{m_server_ip, k_canary_port, "the canary server"};
    const ProbeTarget to_client{m_client_ip, k_canary_port, "the canary client"};
    row("exec", "exec", true, [&]() -> Outcome {
      const ProbeResult r = client_probe.connect(to_server, std::chrono::seconds(3));
      if (r.outcome != ProbeOutcome::connected) {
        return Outcome{RowState::not_ready, "the client did not reach the server before any quarantine: " + r.summary};
      }
      baseline = true;
      std::string detail = "the client reached the server " + to_server.text();
      if (m_o.ingress) {
        const ProbeResult back = server_probe.connect(to_client, std::chrono::seconds(3));
        ingress_baseline = back.outcome == ProbeOutcome::connected;
        detail += ingress_baseline ? "; the server reached the client"
                                   : "; the server did not reach the client: " + back.summary;
      }
      return Outcome{RowState::ready, detail};
    });
    if (m_r.rows.back().state != RowState::ready) m_stop = true;

    // 4. Ephemeral containers (optional: some clusters forbid them on purpose).
    row("ephemeral", "ephemeral containers", false, [&]() -> Outcome {
      DebugContainerOptions dc;
      dc.namespace_name = m_ns;
      dc.pod = m_client_pod;
      dc.image = m_o.image;
      dc.name_prefix = "kubectl-ir-drill-";
      dc.lifetime = std::chrono::seconds(60);
      dc.start_timeout = m_o.start_timeout;
      auto name = add_debug_container(m_client, dc, m_clock, m_o.cancel);
      if (!name)
        return Outcome{RowState::not_ready,
                       name.error().message + " (collect --ephemeral, isolate --ephemeral need them)"};
      m_log("drill.ephemeral", {{"pod", m_client_pod}, {"container", *name}, {"image", m_o.image}});
      return Outcome{RowState::ready, "debug container " + *name + " (" + m_o.image + ") ran in the client"};
    });

    // 5. Logs.
    row("logs", "logs", true, [&]() -> Outcome {
      std::string text;
      kube::LogOptions lo;
      lo.container = "canary";
      lo.timestamps = false;
      lo.limit_bytes = 4096;
      auto r = kube::stream_pod_logs(m_client, m_ns, m_client_pod, lo, [&](std::string_view chunk) -> Result<void> {
        text.append(chunk);
        return {};
      });
      if (!r) return Outcome{RowState::not_ready, r.error().message};
      if (text.find(k_banner) == std::string::npos) {
        return Outcome{RowState::not_ready, fmt::format("the client's log ({} bytes) lacks its start line", r->bytes)};
      }
      return Outcome{RowState::ready, fmt::format("read the client's log ({} bytes)", r->bytes)};
    });

    // 6. Isolate the client: egress measured on the wire (and ingress).
    std::optional<IsolateReport> isolated;
    row(
        "egress", "NetworkPolicy enforced: egress (measured)", true,
        [&]() -> Outcome {
          IsolateOptions io;
          io.namespace_name = m_ns;
          io.pod = m_client_pod;
          io.new_case_id = m_o.case_id;
          io.ingress = m_o.ingress;
          io.probe = to_server.text();
          io.probe_label = to_server.what;
          io.verify = true;
          io.verify_timeout = std::chrono::ceil<std::chrono::seconds>(m_o.settle);
          io.actor = m_o.actor;
          io.cancel = m_o.cancel;
          auto r = isolate(m_client, &m_connector, io, m_log, m_clock);
          if (!r) return Outcome{RowState::not_ready, "isolate failed: " + r.error().message};
          isolated = std::move(*r);
          created("networkpolicy/" + m_ns + "/" + quarantine_policy_name(m_client_pod));
          const WireCheck& w = isolated->wire;
          const std::string cni = isolated->cni.known
                                      ? "; CNI " + isolated->cni.name +
                                            (isolated->cni.evidence.empty() ? "" : " (" + isolated->cni.evidence + ")")
                                      : "; no CNI recognised";
          if (w.verdict == WireVerdict::contained)
            return Outcome{RowState::ready, "blocked on the wire: " + w.reason + cni};
          if (w.verdict == WireVerdict::not_contained) {
            return Outcome{RowState::not_ready, "NOT enforced: " + w.reason + cni +
                                                    ": a quarantine on this cluster changes nothing on the wire"};
          }
          return Outcome{RowState::not_ready, "not measured: " + w.reason};
        },
        baseline || m_stop ? "" : "no baseline");
    if (m_o.ingress) {
      row(
          "ingress", "NetworkPolicy enforced: ingress (measured)", true,
          [&]() -> Outcome {
            if (!ingress_baseline)
              return Outcome{RowState::not_ready, "not measured: the server did not reach the client before"};
            const auto t = m_clock.now();
            ProbeResult r;
            int attempts = 0;
            for (;;) {
              r = server_probe.connect(to_client, std::chrono::seconds(1));
              ++attempts;
              if (r.outcome != ProbeOutcome::connected || since(t) * 1000 >= static_cast<double>(m_o.settle.count()) ||
                  cancelled())
                break;
              m_clock.sleep_for(std::chrono::milliseconds(500));
            }
            if (r.outcome == ProbeOutcome::connected) {
              return Outcome{
                  RowState::not_ready,
                  fmt::format("NOT enforced: the server still reached the client after {} attempts over {:.1f}s",
                              attempts, since(t))};
            }
            if (r.outcome == ProbeOutcome::blocked || r.outcome == ProbeOutcome::refused) {
              return Outcome{RowState::ready,
                             fmt::format("blocked on the wire: connected before, {} after ({:.1f}s)",
                                         r.outcome == ProbeOutcome::blocked ? "timed out" : "refused", since(t))};
            }
            return Outcome{RowState::not_ready, "not measured: " + r.summary};
          },
          isolated ? "" : "the client was not isolated");
    } else {
      row(
          "ingress", "NetworkPolicy enforced: ingress (measured)", false,
          []() -> Outcome {
            return {RowState::skipped, std::string()};
          },
          "not asked (--ingress)");
    }

    // 7. Collect the (isolated) client and verify the bundle.
    row("collect", "collect + verify bundle", true, [&]() -> Outcome { return collect_and_verify(); });

    // 8. Release, and connectivity comes back.
    row(
        "release", "release restores connectivity", true,
        [&]() -> Outcome {
          auto rel = release(m_client, {m_ns, m_client_pod, kube::DryRun::none, ""}, m_log);
          if (!rel) return Outcome{RowState::not_ready, "release failed: " + rel.error().message};
          if (rel->policy_deleted) {
            m_r.removed.push_back("networkpolicy/" + m_ns + "/" + quarantine_policy_name(m_client_pod));
            m_log("drill.delete", {{"object", m_r.removed.back()}});
          }
          const auto t = m_clock.now();
          ProbeResult r;
          int attempts = 0;
          for (;;) {
            r = client_probe.connect(to_server, std::chrono::seconds(1));
            ++attempts;
            if (r.outcome == ProbeOutcome::connected || since(t) * 1000 >= static_cast<double>(m_o.settle.count()) ||
                cancelled())
              break;
            m_clock.sleep_for(std::chrono::milliseconds(500));
          }
          if (r.outcome != ProbeOutcome::connected) {
            return Outcome{RowState::not_ready,
                           fmt::format("released, but the client still cannot reach the server after {:.1f}s: {}",
                                       since(t), r.summary)};
          }
          return Outcome{RowState::ready, fmt::format("the client reaches the server again ({} attempt{}, {:.1f}s)",
                                                      attempts, attempts == 1 ? "" : "s", since(t))};
        },
        isolated ? "" : "the client was not isolated");

    // 9. Policies in the namespaces to check that would defeat a quarantine there.
    for (const auto& ns : m_o.check_namespaces) {
      const bool was_stopped = m_stop;
      m_stop = false;  // a read-only check: worth doing whatever happened above
      row("competing:" + ns, "competing policies in " + ns, false, [&]() -> Outcome { return competing(ns); });
      m_stop = was_stopped;
    }
  }

  Outcome start_canaries(bool temporary) {
    if (temporary) {
      json ns = {{"apiVersion", "v1"},
                 {"kind", "Namespace"},
                 {"metadata",
                  {{"name", m_ns}, {"labels", {{k_managed_by_label, "kubectl-ir"}, {k_drill_label, m_o.drill_id}}}}}};
      auto r = m_client.send_json({"POST",
                                   "/api/v1/namespaces",
                                   {},
                                   ns.dump(),
                                   "application/json",
                                   "application/json",
                                   {},
                                   "create namespace " + m_ns});
      if (!r) return {RowState::not_ready, r.error().message};
      m_r.namespace_created = true;
      created("namespace/" + m_ns);
    }
    for (const auto& [name, role] : {std::pair{m_server, "server"}, std::pair{m_client_pod, "client"}}) {
      auto r = m_client.send_json({"POST",
                                   pods_path(m_ns),
                                   {},
                                   canary_pod(m_o, m_ns, name, role).dump(),
                                   "application/json",
                                   "application/json",
                                   {},
                                   "create pod " + m_ns + "/" + name});
      if (!r) return {RowState::not_ready, r.error().message};
      created("pod/" + m_ns + "/" + name);
    }
    // Running, with an address; an image that cannot be pulled fails at once, not at the timeout.
    const auto deadline = m_clock.now() + m_o.start_timeout;
    std::string last;
    for (;;) {
      if (cancelled()) return {RowState::not_ready, "interrupted"};
      bool all = true;
      for (const auto& name : {m_server, m_client_pod}) {
        auto pod = kube::get_pod(m_client, m_ns, name);
        if (!pod) return {RowState::not_ready, pod.error().message};
        const json& status = member(*pod, "status");
        std::string ip = str(status, "podIP");
        bool running = false;
        for (const auto& cs : member(status, "containerStatuses")) {
          const json& state = member(cs, "state");
          if (member(state, "running").is_object()) running = true;
          const std::string reason = str(member(state, "waiting"), "reason");
          if (reason == "ErrImagePull" || reason == "ImagePullBackOff" || reason == "InvalidImageName" ||
              reason == "CreateContainerError" || reason == "CreateContainerConfigError") {
            return {RowState::not_ready,
                    fmt::format("pod {} cannot start: {}: {} (an air-gapped cluster needs --image from its "
                                "registry)",
                                name, reason, str(member(state, "waiting"), "message"))};
          }
          if (!reason.empty()) last = name + ": " + reason;
          if (member(state, "terminated").is_object()) {
            return {RowState::not_ready, fmt::format("pod {} exited: {} (does image {} have sh and httpd?)", name,
                                                     str(member(state, "terminated"), "reason"), m_o.image)};
          }
        }
        if (!running || ip.empty()) all = false;
        (name == m_server ? m_server_ip : m_client_ip) = ip;
      }
      if (all) break;
      if (m_clock.now() >= deadline) {
        return {RowState::not_ready, fmt::format("not running after {}s{} (image {})", m_o.start_timeout.count(),
                                                 last.empty() ? "" : " (" + last + ")", m_o.image)};
      }
      m_clock.sleep_for(std::chrono::milliseconds(250));
    }
    return {RowState::ready,
            fmt::format("server {} and client {} ({}) in namespace {}", m_server_ip, m_client_ip, m_o.image, m_ns)};
  }

  Outcome collect_and_verify() {
    const std::string path = m_o.work_dir + "/drill-" + m_o.drill_id + ".tar.gz";
    auto bundle = evidence::create_bundle(path, m_clock);
    if (!bundle) return {RowState::not_ready, bundle.error().message};
    auto pod = read_target_pod(m_client, m_ns, m_client_pod);
    if (!pod) return {RowState::not_ready, pod.error().message};
    CollectOptions co;
    co.namespace_name = m_ns;
    co.pod = m_client_pod;
    co.containers = {"canary"};
    co.fs = FsMode::listing;
    co.paths = {"/tmp"};
    co.command_timeout = std::chrono::seconds(30);
    CollectEnv env{m_client, m_connector, **bundle, m_clock, m_log, {}, m_o.cancel};
    auto report = collect(env, co, *pod);
    if (!report) return {RowState::not_ready, report.error().message};
    auto sha = (*bundle)->finish();
    if (!sha) return {RowState::not_ready, "bundle: " + sha.error().message};
    auto verified = evidence::verify_bundle(path);
    if (!verified) return {RowState::not_ready, "verify: " + verified.error().message};
    std::vector<std::string> failed;
    std::size_t artifacts = 0;
    for (const auto& s : report->steps) {
      artifacts += s.artifacts;
      if (s.status == util::Outcome::failed)
        failed.push_back(s.step + (s.container.empty() ? "" : " [" + s.container + "]") + ": " + s.detail);
    }
    if (!verified->ok()) {
      const auto& first = verified->problems.front();
      return {RowState::not_ready, "the bundle does not verify: " + first.entry + ": " + first.problem};
    }
    if (!failed.empty()) return {RowState::not_ready, "collected, but failed: " + util::join(failed, "; ")};
    return {RowState::ready, fmt::format("{} artifacts from the isolated client; the bundle verifies ({} entries)",
                                         artifacts, verified->entries_checked)};
  }

  Outcome competing(const std::string& ns) {
    auto policies = kube::list_network_policies(m_client, ns);
    if (!policies) return {RowState::not_ready, policies.error().message};
    std::vector<std::string> found;
    for (const auto& p : member(*policies, "items")) {
      for (const auto& a : allowances_of(p)) {
        if (a.direction == Direction::ingress && !m_o.ingress) continue;
        found.push_back(fmt::format("{} (pods {}) allows {} {}", a.policy,
                                    describe_selector(member(member(p, "spec"), "podSelector")), to_string(a.direction),
                                    util::join(a.rules, "; ")));
      }
    }
    if (found.empty()) return {RowState::ready, "no policy there allows what a quarantine denies"};
    return {RowState::not_ready,
            util::join(found, "; ") + ": a quarantine there of a pod they select needs isolate --exclusive"};
  }

  // Deletes what the drill created, newest first, and waits until it is gone.
  void cleanup() {
    const auto t = m_clock.now();
    std::vector<std::string> problems;
    const auto gone = [&](const std::string& path, const std::string& what) {
      const auto deadline = m_clock.now() + std::chrono::seconds(30);
      for (;;) {
        auto r = kube::get_object(m_client, path, what);
        if (!r && r.error().code == Errc::not_found) return true;
        if (m_clock.now() >= deadline) return false;
        m_clock.sleep_for(std::chrono::milliseconds(250));
      }
    };
    // The quarantine policy, should release not have removed it (its ownerReference would, later).
    for (const auto& obj : m_r.created) {
      if (obj.rfind("networkpolicy/", 0) != 0 ||
          std::find(m_r.removed.begin(), m_r.removed.end(), obj) != m_r.removed.end()) {
        continue;
      }
      const std::string name = obj.substr(obj.rfind('/') + 1);
      if (auto d = kube::delete_network_policy(m_client, m_ns, name, kube::DryRun::none);
          !d && d.error().code != Errc::not_found) {
        problems.push_back(obj + ": " + d.error().message);
        continue;
      }
      m_r.removed.push_back(obj);
      m_log("drill.delete", {{"object", obj}});
    }
    for (const auto& name : {m_client_pod, m_server}) {
      const std::string obj = "pod/" + m_ns + "/" + name;
      if (std::find(m_r.created.begin(), m_r.created.end(), obj) == m_r.created.end()) continue;
      const std::string path = pods_path(m_ns) + "/" + util::url_encode(name);
      auto d = m_client.send(
          {"DELETE", path, {{"gracePeriodSeconds", "0"}}, "", "", "application/json", {}, "delete " + obj});
      if (!d && d.error().code != Errc::not_found) {
        problems.push_back(obj + ": " + d.error().message);
        continue;
      }
      if (!m_r.namespace_created && !gone(path, "get " + obj)) {
        problems.push_back(obj + ": still there after 30s");
        continue;
      }
      m_r.removed.push_back(obj);
      m_log("drill.delete", {{"object", obj}});
    }
    if (m_r.namespace_created) {
      const std::string obj = "namespace/" + m_ns;
      const std::string path = "/api/v1/namespaces/" + util::url_encode(m_ns);
      auto d = m_client.send({"DELETE", path, {}, "", "", "application/json", {}, "delete " + obj});
      if (!d && d.error().code != Errc::not_found) {
        problems.push_back(obj + ": " + d.error().message);
      } else if (!gone(path, "get " + obj)) {
        problems.push_back(obj + ": still terminating after 30s (its deletion is under way)");
      } else {
        m_r.removed.push_back(obj);
        m_log("drill.delete", {{"object", obj}});
      }
    }
    m_r.left_behind = problems;
    DrillRow r{"cleanup", "cleanup", true, problems.empty() ? RowState::ready : RowState::not_ready, "", since(t)};
    r.detail = problems.empty() ? fmt::format("removed {} (nothing left behind)", util::join(m_r.removed, ", "))
                                : "left behind: " + util::join(problems, "; ");
    if (m_r.created.empty()) r.detail = "nothing was created";
    m_log("drill.check", {{"check", r.check},
                          {"state", to_string(r.state)},
                          {"required", r.required},
                          {"detail", r.detail},
                          {"seconds", r.seconds}});
    m_r.rows.push_back(std::move(r));
  }
};

}  // namespace

const char* to_string(RowState state) {
  switch (state) {
    case RowState::ready:
      return "ready";
    case RowState::not_ready:
      return "NOT ready";
    case RowState::skipped:
      return "skipped";
  }
  return "skipped";
}

bool DrillReport::ready() const {
  if (cancelled) return false;
  return std::all_of(rows.begin(), rows.end(),
                     [](const DrillRow& r) { return !r.required || r.state == RowState::ready; });
}

std::string drill_namespace_refusal(const std::string& ns) {
  if (ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" || ns.rfind("kube-", 0) == 0) {
    return "namespace " + ns +
           " belongs to the cluster itself: the drill runs only in a namespace of its own or one you "
           "give it for the purpose";
  }
  return {};
}

Result<DrillReport> run_drill(kube::Client& client, kube::Connector& connector, util::Clock& clock,
                              const DrillOptions& o, const ActionLog& log) {
  if (const std::string why = drill_namespace_refusal(o.namespace_name); !why.empty())
    return fail(Errc::usage, "drill: " + why);
  if (o.drill_id.empty() || o.drill_id.size() > 12 ||
      o.drill_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
    return fail(Errc::usage, "drill: invalid id \"" + o.drill_id + "\": 1-12 of [a-z0-9]");
  }
  if (o.work_dir.empty()) return fail(Errc::usage, "drill: no work directory for the bundle");
  return Drill(client, connector, clock, o, log).run();
}

}  // namespace ir::triage
