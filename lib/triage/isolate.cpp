#include "triage/isolate.hpp"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "exec/session.hpp"
#include "triage/access.hpp"
#include "util/strings.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

constexpr const char* k_json_patch = "application/json-patch+json";
constexpr const char* k_merge_patch = "application/merge-patch+json";

const json& member(const json& j, const char* key) {
  static const json k_null;
  if (!j.is_object()) return k_null;
  auto it = j.find(key);
  return it != j.end() ? *it : k_null;
}

std::string str(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// JSON Pointer escaping (RFC 6901) for an annotation key in a JSON patch path.
std::string pointer_escape(const std::string& key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string netpol_path(const std::string& ns, const std::string& name) {
  return fmt::format("/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies/{}", util::url_encode(ns),
                     util::url_encode(name));
}

// The selector of the pod's controller (ReplicaSet, StatefulSet, ...), or null.
Result<json> controller_selector(kube::Client& client, const json& pod, const std::string& ns) {
  for (const auto& ref : member(member(pod, "metadata"), "ownerReferences")) {
    if (!member(ref, "controller").is_boolean() || !ref["controller"].get<bool>()) continue;
    auto path = kube::object_path(str(ref, "apiVersion"), str(ref, "kind"), ns, str(ref, "name"));
    if (!path) return json();
    IR_TRY(owner, kube::get_object(client, *path, fmt::format("get {} {}/{}", str(ref, "kind"), ns, str(ref, "name"))));
    return member(member(owner, "spec"), "selector");
  }
  return json();
}

// Label keys a selector constrains (matchLabels keys and matchExpressions keys).
void selector_keys(const json& selector, std::set<std::string>& keys) {
  if (!selector.is_object()) return;
  // Services use a plain map; LabelSelectors use matchLabels/matchExpressions.
  const bool label_selector = selector.contains("matchLabels") || selector.contains("matchExpressions");
  if (!label_selector) {
    for (const auto& [k, v] : selector.items()) keys.insert(k);
    return;
  }
  for (const auto& [k, v] : member(selector, "matchLabels").items()) keys.insert(k);
  for (const auto& e : member(selector, "matchExpressions")) keys.insert(str(e, "key"));
}

constexpr const char* k_netpol_group = "networking.k8s.io";
constexpr const char* k_anp_group = "policy.networking.k8s.io";

kube::ResourceAttributes need(const char* verb, const char* group, const char* resource, const std::string& ns) {
  return {verb, group, resource, "", ns, ""};
}

// What isolate's writes (and the reads after the first write) need. Server-side apply that
// creates an object is authorised as create as well as patch.
std::vector<kube::ResourceAttributes> isolate_needs(const IsolateOptions& o, bool cordon) {
  const std::string& ns = o.namespace_name;
  std::vector<kube::ResourceAttributes> needs = {
      need("patch", "", "pods", ns),  // the quarantine label and annotations (--detach: the labels it removes)
      need("create", k_netpol_group, "networkpolicies", ns),  // the quarantine policy, by server-side apply
      need("patch", k_netpol_group, "networkpolicies", ns),   // the same, and --exclusive
      need("list", k_netpol_group, "networkpolicies", ns),    // what else selects the pod
  };
  if (o.detach) needs.push_back(need("list", "", "services", ns));
  if (cordon) {
    needs.push_back(need("get", "", "nodes", ""));
    needs.push_back(need("patch", "", "nodes", ""));
  }
  if (o.admin_policy) {
    needs.push_back(need("create", k_anp_group, "adminnetworkpolicies", ""));
    needs.push_back(need("patch", k_anp_group, "adminnetworkpolicies", ""));
  }
  return needs;
}

Verdict direction_verdict(Direction d, const IsolateReport& r, const IsolateOptions& o) {
  if (d == Direction::ingress && !o.ingress) {
    return {Containment::not_requested, "ingress is not restricted (add --ingress)"};
  }
  if (!r.admin_policy.empty() && r.cni.enforces) {
    return {Containment::contained, "AdminNetworkPolicy " + r.admin_policy + " denies " + to_string(d) +
                                        " at priority 0, before any NetworkPolicy (CNI " + r.cni.name + ")"};
  }
  std::vector<std::string> allowing;
  for (const auto& a : r.still_allowing) {
    if (a.direction == d) allowing.push_back(fmt::format("networkpolicy {} allows {}", a.policy, util::join(a.rules, "; ")));
  }
  if (!allowing.empty()) {
    return {Containment::not_contained, util::join(allowing, "; ") + (o.exclusive ? "" : " (use --exclusive)")};
  }
  if (r.cni.known && !r.cni.enforces) {
    return {Containment::not_contained, r.cni.name + " does not enforce NetworkPolicy"};
  }
  if (!r.cni.known) {
    return {Containment::unknown, r.cni_note.empty() ? "no NetworkPolicy-enforcing CNI recognised in kube-system"
                                                     : r.cni_note};
  }
  std::string reason = "the quarantine policy denies all " + std::string(to_string(d)) + " (CNI " + r.cni.name + ")";
  if (d == Direction::egress && (o.allow_dns || !o.allow_egress.empty())) {
    std::vector<std::string> except;
    if (o.allow_dns) except.push_back("DNS to kube-dns on 53");
    for (const auto& e : o.allow_egress) except.push_back(e);
    reason = "all egress denied except " + util::join(except, ", ") + " (CNI " + r.cni.name + ")";
  }
  if (r.admin_network_policy) reason += "; AdminNetworkPolicy is served and may override (not evaluated)";
  return {Containment::contained, reason};
}

// --probe: one connection attempt from inside the pod. busybox and most images have nc; the
// result is only as good as the tool. `nc -z` (OpenBSD, traditional, ncat, busybox's nc 1.10
// compatible build) connects and closes; busybox's small nc has no -z but runs a program once
// connected (`-e PROG`, the rest of argv), so `-e true` connects and closes as well.
ProbeResult run_probe(kube::Client& client, kube::Connector& connector, const IsolateOptions& o,
                      const std::string& container) {
  const auto colon = o.probe.rfind(':');
  const std::string host = o.probe.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : o.probe.substr(colon + 1);
  const std::vector<std::vector<std::string>> attempts = {{"nc", "-z", "-v", "-w", "3", host, port},
                                                          {"nc", "-w", "3", host, port, "-e", "true"}};
  ProbeResult result;
  for (const auto& argv : attempts) {
    util::MemorySink out(4096), err(4096);
    exec::ExecLimits limits;
    limits.total_timeout = std::chrono::seconds(15);
    auto r = exec::run_exec(client, connector, {o.namespace_name, o.pod, container, argv}, out, err, {}, limits);
    if (!r) {
      if (r.error().code == Errc::exec_not_found) return {ProbeOutcome::unknown, "unknown: the image has no nc to probe with"};
      return {ProbeOutcome::unknown, "unknown: " + r.error().message};
    }
    if (!r->completed()) return {ProbeOutcome::unknown, "unknown: nc " + r->detail};
    result = interpret_probe(o.probe, r->exit_code, err.data());
    if (result.outcome != ProbeOutcome::unsupported) return result;
  }
  return {ProbeOutcome::unknown, "unknown: the image's nc takes neither -z nor -e (" + result.summary + ")"};
}

}  // namespace

ProbeResult interpret_probe(const std::string& target, int exit_code, std::string_view nc_stderr) {
  if (exit_code == 0) return {ProbeOutcome::connected, "CONNECTED to " + target + ": egress is NOT blocked"};
  // The first line that says something (busybox prints its usage after the error line).
  std::string line;
  for (const auto& l : util::split(nc_stderr, '\n')) {
    line = util::trim(l);
    if (!line.empty()) break;
  }
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  const std::string said = util::to_lower(nc_stderr);
  const auto has = [&](std::initializer_list<const char*> words) {
    return std::any_of(words.begin(), words.end(), [&](const char* w) { return said.find(w) != std::string::npos; });
  };
  const std::string why = fmt::format("nc exit {}{}{}", exit_code, line.empty() ? "" : ": ", line);
  if (has({"invalid option", "unrecognized option", "illegal option", "unknown option", "usage:"})) {
    return {ProbeOutcome::unsupported, why};
  }
  if (has({"bad address", "could not resolve", "can't resolve", "name or service not known", "name resolution",
           "no address associated"})) {
    return {ProbeOutcome::unknown, "unknown: " + target + " did not resolve inside the pod (" + why + "): not probed"};
  }
  if (has({"refused"})) {
    return {ProbeOutcome::refused, "connection to " + target + " refused (" + why +
                                       "): the target or a REJECT rule answered; inconclusive"};
  }
  if (has({"timed out", "timeout", "no route", "unreachable"})) {
    // busybox's nc times out the name lookup and the connection alike.
    const std::string host = target.substr(0, target.rfind(':'));
    const bool literal = host.find_first_not_of("0123456789.") == std::string::npos;
    return {ProbeOutcome::blocked, "connection to " + target + " failed (" + why + "): egress blocked" +
                                       (literal ? "" : " (the name is looked up first: DNS may be what is blocked)")};
  }
  return {ProbeOutcome::unknown, "unknown: nc failed without saying why (" + why + ")"};
}

const char* to_string(Containment c) {
  switch (c) {
    case Containment::contained: return "contained";
    case Containment::not_contained: return "NOT contained";
    case Containment::unknown: return "unknown";
    case Containment::not_requested: return "not requested";
  }
  return "unknown";
}

namespace {

Result<void> isolate_steps(kube::Client& client, kube::Connector* connector, const IsolateOptions& o,
                           const ActionLog& log, util::Clock& clock, IsolateReport& r, Preflight& checked) {
  const std::string what = fmt::format("isolate {}/{}", o.namespace_name, o.pod);
  IR_TRY_CTX(pod, kube::get_pod(client, o.namespace_name, o.pod), what);
  const json& meta = member(pod, "metadata");
  const json& spec = member(pod, "spec");
  if (member(spec, "hostNetwork").is_boolean() && spec["hostNetwork"].get<bool>()) {
    return unexpected(Error(Errc::failure, what + ": the pod runs with hostNetwork: a NetworkPolicy cannot contain it")
                          .with_hint("cordon the node and contain the pod at the node (firewall, security group), "
                                     "or stop it after collecting evidence"));
  }
  r.pod_uid = str(meta, "uid");
  r.node = str(spec, "nodeName");
  const json labels = member(meta, "labels").is_object() ? meta["labels"] : json::object();
  const json annotations = member(meta, "annotations").is_object() ? meta["annotations"] : json::object();
  const std::string existing_case = str(labels, k_quarantine_label);
  r.already_isolated = !existing_case.empty();
  r.case_id = r.already_isolated ? existing_case : (o.case_id.empty() ? o.new_case_id : o.case_id);
  if (r.already_isolated && !o.case_id.empty() && o.case_id != existing_case) {
    r.warnings.push_back("the pod is already quarantined under case " + existing_case + "; keeping that case");
  }
  const std::string policy_name = quarantine_policy_name(o.pod);
  const bool dry = o.dry_run == kube::DryRun::all;

  // AdminNetworkPolicy first: --admin-policy must fail before anything is written.
  if (auto anp = kube::is_served(client, "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies"); anp && *anp) {
    r.admin_network_policy = true;
  }
  if (o.admin_policy && !r.admin_network_policy) {
    return unexpected(Error(Errc::failure, what + ": --admin-policy: this cluster does not serve AdminNetworkPolicy "
                                                  "(policy.networking.k8s.io/v1alpha1)")
                          .with_hint("drop --admin-policy, and use --exclusive to neutralise competing NetworkPolicies"));
  }
  // RBAC preflight, before the first write (in a dry run too: the server checks them the same).
  const bool cordon = o.cordon && !r.node.empty() && !annotations.contains(k_ann_cordoned);
  IR_TRY(pf, preflight(client, what, isolate_needs(o, cordon)));
  checked = pf;
  if (!checked.unchecked.empty()) r.warnings.push_back(checked.warning());

  // 1. Label (and, with --detach, remove what Services and the controller select), in one patch.
  json label_patch = {{k_quarantine_label, r.case_id}};
  json ann_patch = json::object();
  if (!r.already_isolated) {
    ann_patch = {{k_ann_case, r.case_id},
                 {k_ann_isolated_at, util::format_rfc3339(clock.now())},
                 {k_ann_isolated_by, o.actor},
                 {k_ann_policy, policy_name}};
  }
  if (o.detach && !annotations.contains(k_ann_detached)) {
    std::set<std::string> keys;
    IR_TRY_CTX(services, kube::get_object(client, fmt::format("/api/v1/namespaces/{}/services", util::url_encode(o.namespace_name)),
                                          "list services in " + o.namespace_name),
               what);
    for (const auto& svc : member(services, "items")) {
      const json& sel = member(member(svc, "spec"), "selector");
      if (!sel.is_object() || sel.empty()) continue;
      bool all = true;
      for (const auto& [k, v] : sel.items()) all = all && v.is_string() && str(labels, k.c_str()) == v.get<std::string>();
      if (all) selector_keys(sel, keys);
    }
    IR_TRY_CTX(ctrl, controller_selector(client, pod, o.namespace_name), what);
    selector_keys(ctrl, keys);
    json removed = json::object();
    for (const auto& k : keys) {
      if (k == k_quarantine_label || !labels.contains(k)) continue;
      removed[k] = labels[k];
      label_patch[k] = nullptr;
      r.detached_labels.push_back(k);
    }
    ann_patch[k_ann_detached] = removed.dump();
  }
  json new_labels = labels;
  for (const auto& [k, v] : label_patch.items()) {
    if (v.is_null()) new_labels.erase(k);
    else new_labels[k] = v;
  }
  if (!r.already_isolated || !ann_patch.empty()) {
    json patch = {{"labels", label_patch}};
    if (!ann_patch.empty()) patch["annotations"] = ann_patch;
    IR_TRY_CTX(patched, kube::patch_pod_metadata(client, o.namespace_name, o.pod, patch, o.dry_run), what);
    r.written.push_back(std::move(patched));
    log("label", {{"namespace", o.namespace_name}, {"pod", o.pod}, {"labels", label_patch}, {"dry_run", dry}});
    if (!r.detached_labels.empty()) log("detach", {{"pod", o.pod}, {"removed_labels", r.detached_labels}, {"dry_run", dry}});
  }

  // 2. The quarantine policy, by server-side apply (creating it twice changes nothing).
  QuarantineSpec qs{o.namespace_name, o.pod, r.pod_uid, r.case_id, o.ingress, o.allow_dns, o.allow_egress};
  IR_TRY_CTX(policy, render_quarantine_policy(qs), what);
  IR_TRY_CTX(applied, kube::apply_network_policy(client, o.namespace_name, policy, o.dry_run), what);
  r.policy = applied;
  r.written.push_back(applied);
  log("apply-policy", {{"namespace", o.namespace_name}, {"policy", policy_name}, {"spec", policy["spec"]}, {"dry_run", dry}});

  if (o.admin_policy) {
    IR_TRY_CTX(anp, render_admin_quarantine_policy(qs), what);
    const std::string name = anp["metadata"]["name"].get<std::string>();
    kube::Query q;
    if (dry) q.emplace_back("dryRun", "All");
    q.emplace_back("fieldManager", "kubectl-ir");
    q.emplace_back("force", "true");
    kube::Call call{"PATCH", "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/" + util::url_encode(name),
                    q, anp.dump(), "application/apply-patch+yaml", "application/json", {}, "apply adminnetworkpolicy " + name};
    IR_TRY_CTX(applied_anp, client.send_json(call), what);
    r.written.push_back(std::move(applied_anp));
    r.admin_policy = name;
    if (!annotations.contains(k_ann_admin_policy)) {
      IR_CHECK_CTX(kube::patch_pod_metadata(client, o.namespace_name, o.pod, {{"annotations", {{k_ann_admin_policy, name}}}},
                                            o.dry_run),
                   what);
    }
    log("apply-admin-policy", {{"policy", name}, {"spec", anp["spec"]}, {"dry_run", dry}});
  }

  // 3. The truth: which other policies select the pod and what they still allow.
  IR_TRY_CTX(policies, kube::list_network_policies(client, o.namespace_name), what);
  IR_TRY_CTX(allowing, selecting_allowances(member(policies, "items"), new_labels, policy_name), what);
  std::set<std::string> to_neutralise;
  if (o.exclusive) {
    for (const auto& a : allowing) to_neutralise.insert(a.policy);
    for (const auto& p : member(policies, "items")) {
      const std::string name = str(member(p, "metadata"), "name");
      if (!to_neutralise.count(name)) continue;
      const json& selector = member(member(p, "spec"), "podSelector");
      const auto excluded = exclude_case(selector, r.case_id);
      if (!excluded) continue;  // already excludes this case
      json ops = json::array();
      const json& p_ann = member(member(p, "metadata"), "annotations");
      if (!p_ann.is_object()) ops.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", json::object()}});
      if (!p_ann.is_object() || !p_ann.contains(k_ann_original_selector)) {
        ops.push_back({{"op", "add"},
                       {"path", "/metadata/annotations/" + pointer_escape(k_ann_original_selector)},
                       {"value", selector.dump()}});
      }
      // test: fail rather than overwrite a selector someone changed since we read it.
      ops.push_back({{"op", "test"}, {"path", "/spec/podSelector"}, {"value", selector}});
      ops.push_back({{"op", "replace"}, {"path", "/spec/podSelector"}, {"value", *excluded}});
      IR_TRY_CTX(patched, kube::patch_object(client, netpol_path(o.namespace_name, name), ops, k_json_patch, o.dry_run,
                                             fmt::format("patch networkpolicy {}/{}", o.namespace_name, name)),
                 what);
      r.written.push_back(std::move(patched));
      r.neutralised.push_back(name);
      log("exclusive", {{"policy", name}, {"original_pod_selector", selector}, {"pod_selector", *excluded}, {"dry_run", dry}});
    }
  }
  for (auto& a : allowing) {
    if (!to_neutralise.count(a.policy)) r.still_allowing.push_back(std::move(a));
  }

  // 4. Does anything enforce it?
  // CNIs run as DaemonSets: in kube-system, or in their own namespace when installed by an
  // operator (calico-system, cilium, ...). Look cluster-wide; without that right, kube-system.
  auto daemonsets = kube::get_object(client, "/apis/apps/v1/daemonsets?limit=500", "list daemonsets");
  if (!daemonsets && daemonsets.error().code == Errc::forbidden) {
    daemonsets = kube::get_object(client, "/apis/apps/v1/namespaces/kube-system/daemonsets", "list daemonsets in kube-system");
  }
  if (daemonsets) {
    r.cni = detect_cni(member(*daemonsets, "items"));
    if (!r.cni.known) r.cni_note = "no NetworkPolicy-enforcing CNI recognised among the DaemonSets";
  } else {
    r.cni_note = "cannot tell whether the CNI enforces NetworkPolicy: " + daemonsets.error().message;
  }
  if (r.cni.known && !r.cni.enforces) {
    r.warnings.push_back(r.cni.name + " does not enforce NetworkPolicy: the quarantine policy changes nothing on the wire");
  } else if (!r.cni.known) {
    r.warnings.push_back(r.cni_note + ": the quarantine policy may change nothing on the wire");
  }
  if (r.admin_network_policy && !o.admin_policy) {
    r.warnings.push_back("AdminNetworkPolicy is served: cluster-level policies can override NetworkPolicies; they were "
                         "not evaluated (--admin-policy adds a priority-0 Deny)");
  }

  // 5. Cordon, recorded on the pod only when this run cordoned the node.
  if (cordon) {
    IR_TRY_CTX(node, kube::get_node(client, r.node), what);
    const json& unsched = member(member(node, "spec"), "unschedulable");
    if (unsched.is_boolean() && unsched.get<bool>()) {
      r.warnings.push_back("node " + r.node + " was already cordoned; release will leave it cordoned");
    } else {
      IR_TRY_CTX(cordoned, kube::patch_node(client, r.node, {{"spec", {{"unschedulable", true}}}}, o.dry_run), what);
      r.written.push_back(std::move(cordoned));
      IR_CHECK_CTX(kube::patch_pod_metadata(client, o.namespace_name, o.pod, {{"annotations", {{k_ann_cordoned, r.node}}}},
                                            o.dry_run),
                   what);
      r.cordoned_node = r.node;
      log("cordon", {{"node", r.node}, {"dry_run", dry}});
    }
  }

  r.egress = direction_verdict(Direction::egress, r, o);
  r.ingress = direction_verdict(Direction::ingress, r, o);

  // 6. Probe from inside, after the policy is in place.
  if (!o.probe.empty() && !dry && connector != nullptr) {
    std::string container;
    const json& containers = member(spec, "containers");
    if (containers.is_array() && !containers.empty()) container = str(containers[0], "name");
    const ProbeResult probe = run_probe(client, *connector, o, container);
    r.probe = probe.summary;
    log("probe", {{"target", o.probe}, {"result", r.probe}});
    if (probe.outcome == ProbeOutcome::connected) {
      r.egress = {Containment::not_contained, "the probe connected to " + o.probe + " from inside the pod"};
    }
  }
  log("verdict", {{"egress", {{"state", to_string(r.egress.state)}, {"reason", r.egress.reason}}},
                  {"ingress", {{"state", to_string(r.ingress.state)}, {"reason", r.ingress.reason}}},
                  {"dry_run", dry}});
  return {};
}

}  // namespace

bool IsolateReport::contained() const {
  return egress.state == Containment::contained &&
         (ingress.state == Containment::contained || ingress.state == Containment::not_requested);
}

std::string IsolateReport::gap() const {
  std::vector<std::string> parts;
  const auto add = [&](const char* direction, const Verdict& v) {
    if (v.state == Containment::contained || v.state == Containment::not_requested) return;
    parts.push_back(fmt::format("{} {}{}", direction, to_string(v.state), v.reason.empty() ? "" : ": " + v.reason));
  };
  add("egress", egress);
  add("ingress", ingress);
  return util::join(parts, "; ");
}

Result<IsolateReport> isolate(kube::Client& client, kube::Connector* connector, const IsolateOptions& o,
                              const ActionLog& log, util::Clock& clock) {
  IsolateReport r;
  Preflight checked;
  if (auto done = isolate_steps(client, connector, o, log, clock, r, checked); !done) {
    return unexpected(checked.explain(done.error()));
  }
  return r;
}

namespace {

// A policy --exclusive patched for this case and the JSON patch that takes the case out of it.
struct Restore {
  std::string name;
  json ops;
};

// Drops this case's NotIn value from every policy --exclusive patched for it, restoring the
// original podSelector exactly once no quarantined case is left in it.
std::vector<Restore> plan_restores(const json& policies, const std::string& case_id, std::vector<std::string>& warnings) {
  std::vector<Restore> out;
  for (const auto& p : policies) {
    const json& p_ann = member(member(p, "metadata"), "annotations");
    if (!p_ann.is_object() || !p_ann.contains(k_ann_original_selector)) continue;
    const std::string name = str(member(p, "metadata"), "name");
    const json& selector = member(member(p, "spec"), "podSelector");
    json reduced = include_case(selector, case_id);
    if (reduced == selector) continue;  // not patched for this case
    bool others_left = false;
    for (const auto& e : member(reduced, "matchExpressions")) others_left = others_left || str(e, "key") == k_quarantine_label;
    json ops = json::array({{{"op", "test"}, {"path", "/spec/podSelector"}, {"value", selector}}});
    if (others_left) {
      ops.push_back({{"op", "replace"}, {"path", "/spec/podSelector"}, {"value", reduced}});
    } else {
      json original = json::parse(str(p_ann, k_ann_original_selector), nullptr, false);
      if (original.is_discarded()) {
        warnings.push_back("networkpolicy " + name + ": the saved original podSelector is unreadable; removed only our expression");
        original = reduced;
      }
      ops.push_back({{"op", "replace"}, {"path", "/spec/podSelector"}, {"value", original}});
      // isolate created the annotations map if there was none; the API server omits empty maps,
      // so removing the whole map when ours is the only key restores the object exactly.
      ops.push_back({{"op", "remove"},
                     {"path", p_ann.size() == 1 ? std::string("/metadata/annotations")
                                                : "/metadata/annotations/" + pointer_escape(k_ann_original_selector)}});
    }
    out.push_back({name, std::move(ops)});
  }
  return out;
}

Result<void> release_steps(kube::Client& client, const ReleaseOptions& o, const ActionLog& log, ReleaseReport& r,
                           Preflight& checked) {
  const std::string what = fmt::format("release {}/{}", o.namespace_name, o.pod);
  const std::string& ns = o.namespace_name;
  const bool dry = o.dry_run == kube::DryRun::all;
  auto pod = kube::get_pod(client, ns, o.pod);
  if (!pod && pod.error().code != Errc::not_found) return unexpected(pod.error().context(what));
  json labels = json::object();
  json annotations = json::object();
  if (!pod) {
    r.pod_found = false;
    r.warnings.push_back("the pod is gone; its quarantine policy went with it (ownerReference)");
  } else {
    const json& meta = member(*pod, "metadata");
    if (member(meta, "labels").is_object()) labels = meta["labels"];
    if (member(meta, "annotations").is_object()) annotations = meta["annotations"];
  }
  r.case_id = str(labels, k_quarantine_label);
  if (r.case_id.empty()) r.case_id = str(annotations, k_ann_case);
  r.was_isolated = !r.case_id.empty();
  std::string policy_name = str(annotations, k_ann_policy);
  if (policy_name.empty()) policy_name = quarantine_policy_name(o.pod);
  const std::string anp = r.was_isolated ? str(annotations, k_ann_admin_policy) : "";
  const std::string cordoned = r.was_isolated && r.pod_found ? str(annotations, k_ann_cordoned) : "";

  // What --exclusive patched is recorded on the policies: read them before the first write. A
  // refused list is left to the preflight, which names it with whatever else is missing.
  std::vector<Restore> restores;
  std::optional<Error> list_error;
  if (r.was_isolated) {
    auto policies = kube::list_network_policies(client, ns);
    if (policies) restores = plan_restores(member(*policies, "items"), r.case_id, r.warnings);
    else if (policies.error().code == Errc::forbidden) list_error = policies.error();
    else return unexpected(policies.error().context(what));
  }

  // RBAC preflight for what will be undone (in a dry run too).
  std::vector<kube::ResourceAttributes> needs = {need("delete", k_netpol_group, "networkpolicies", ns)};
  if (r.was_isolated) needs.push_back(need("list", k_netpol_group, "networkpolicies", ns));
  if (!restores.empty()) needs.push_back(need("patch", k_netpol_group, "networkpolicies", ns));
  if (!anp.empty()) needs.push_back(need("delete", k_anp_group, "adminnetworkpolicies", ""));
  if (!cordoned.empty()) needs.push_back(need("patch", "", "nodes", ""));
  if (r.was_isolated && r.pod_found) needs.push_back(need("patch", "", "pods", ns));
  IR_TRY(pf, preflight(client, what, needs));
  checked = pf;
  if (!checked.unchecked.empty()) r.warnings.push_back(checked.warning());
  if (list_error) return unexpected(list_error->context(what));  // still nothing written

  // 1. The quarantine policy (already gone is fine: release is idempotent).
  if (auto d = kube::delete_network_policy(client, ns, policy_name, o.dry_run); d) {
    r.policy_deleted = true;
    log("delete-policy", {{"policy", policy_name}, {"dry_run", dry}});
  } else if (d.error().code != Errc::not_found) {
    return unexpected(d.error().context(what));
  }
  if (!r.was_isolated) return {};
  if (!anp.empty()) {
    kube::Call call{"DELETE", "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/" + util::url_encode(anp),
                    dry ? kube::Query{{"dryRun", "All"}} : kube::Query{}, "", "", "application/json", {},
                    "delete adminnetworkpolicy " + anp};
    if (auto d = client.send(call); d) {
      r.admin_policy_deleted = anp;
      log("delete-admin-policy", {{"policy", anp}, {"dry_run", dry}});
    } else if (d.error().code != Errc::not_found) {
      return unexpected(d.error().context(what));
    }
  }

  // 2. Policies --exclusive patched for this case.
  for (const auto& restore : restores) {
    IR_TRY_CTX(patched, kube::patch_object(client, netpol_path(ns, restore.name), restore.ops, k_json_patch, o.dry_run,
                                           fmt::format("patch networkpolicy {}/{}", ns, restore.name)),
               what);
    r.written.push_back(std::move(patched));
    r.restored_policies.push_back(restore.name);
    log("restore-policy", {{"policy", restore.name}, {"dry_run", dry}});
  }
  if (!r.pod_found) return {};

  // 3. Uncordon only what isolate cordoned.
  if (!cordoned.empty()) {
    IR_TRY_CTX(node, kube::patch_node(client, cordoned, {{"spec", {{"unschedulable", nullptr}}}}, o.dry_run), what);
    r.written.push_back(std::move(node));
    r.uncordoned_node = cordoned;
    log("uncordon", {{"node", cordoned}, {"dry_run", dry}});
  }

  // 4. Labels and annotations back as they were.
  json label_patch = {{k_quarantine_label, nullptr}};
  if (annotations.contains(k_ann_detached)) {
    json removed = json::parse(str(annotations, k_ann_detached), nullptr, false);
    if (removed.is_object()) {
      for (const auto& [k, v] : removed.items()) {
        label_patch[k] = v;
        r.restored_labels.push_back(k);
      }
    } else {
      r.warnings.push_back("the saved detached labels are unreadable: restore them by hand");
    }
  }
  json ann_patch = json::object();
  for (const char* key :
       {k_ann_case, k_ann_isolated_at, k_ann_isolated_by, k_ann_policy, k_ann_detached, k_ann_cordoned, k_ann_admin_policy}) {
    if (annotations.contains(key)) ann_patch[key] = nullptr;
  }
  json patch = {{"labels", label_patch}};
  if (!ann_patch.empty()) patch["annotations"] = ann_patch;
  IR_TRY_CTX(patched, kube::patch_pod_metadata(client, ns, o.pod, patch, o.dry_run), what);
  r.written.push_back(std::move(patched));
  log("unlabel", {{"pod", o.pod}, {"labels", label_patch}, {"dry_run", dry}});
  return {};
}

}  // namespace

Result<ReleaseReport> release(kube::Client& client, const ReleaseOptions& o, const ActionLog& log) {
  ReleaseReport r;
  Preflight checked;
  if (auto done = release_steps(client, o, log, r, checked); !done) return unexpected(checked.explain(done.error()));
  return r;
}

}  // namespace ir::triage
