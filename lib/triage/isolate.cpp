#include "triage/isolate.hpp"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "triage/access.hpp"
#include "triage/debug_container.hpp"
#include "util/strings.hpp"
#include "triage/json_fields.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

// The probe's timing: `wire`, with the retry window after the quarantine from `verify_timeout`.
WireOptions wire_options(const IsolateOptions& o) {
  WireOptions w = o.wire;
  w.settle = o.verify_timeout;
  return w;
}

constexpr const char* k_json_patch = "application/json-patch+json";
constexpr const char* k_merge_patch = "application/merge-patch+json";

using json_fields::member;
using json_fields::str;

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

// What the quarantine lets out besides nothing: "DNS to kube-dns on 53, 10.0.0.0/8:443".
std::string egress_exceptions(const IsolateReport& r, const IsolateOptions& o) {
  std::vector<std::string> except;
  if (o.allow_dns) {
    except.emplace_back("DNS to kube-dns on 53");
    if (!r.node_local_dns.empty())
      except.push_back("NodeLocal DNSCache " + util::join(r.node_local_dns, ", ") + " on 53");
  }
  for (const auto& e : o.allow_egress) except.push_back(e);
  return util::join(except, ", ");
}

std::string cni_text(const CniInfo& cni) {
  return "CNI " + cni.name + (cni.evidence.empty() ? "" : ", from " + cni.evidence);
}

// The verdict reasoned from the objects. `from_allowances`: NOT contained because another policy
// still allows traffic, a fact no single probe can refute.
Verdict direction_verdict(Direction d, const IsolateReport& r, const IsolateOptions& o, bool& from_allowances) {
  from_allowances = false;
  if (d == Direction::ingress && !o.ingress) {
    return {Containment::not_requested, "ingress is not restricted (add --ingress)"};
  }
  if (!r.admin_policy.empty() && r.cni.enforces) {
    return {Containment::contained, "AdminNetworkPolicy " + r.admin_policy + " denies " + to_string(d) +
                                        " at priority 0, before any NetworkPolicy (" + cni_text(r.cni) + ")"};
  }
  std::vector<std::string> allowing;
  for (const auto& a : r.still_allowing) {
    if (a.direction == d) allowing.push_back(fmt::format("networkpolicy {} allows {}", a.policy, util::join(a.rules, "; ")));
  }
  if (!allowing.empty()) {
    from_allowances = true;
    return {Containment::not_contained, util::join(allowing, "; ") + (o.exclusive ? "" : " (use --exclusive)")};
  }
  if (r.cni.known && !r.cni.enforces) {
    return {Containment::not_contained, r.cni.name + " does not enforce NetworkPolicy (" + r.cni.evidence + ")"};
  }
  if (!r.cni.known) {
    return {Containment::unknown,
            (r.cni_note.empty() ? std::string("no NetworkPolicy-enforcing CNI recognised") : r.cni_note) +
                (o.verify || !o.probe.empty() ? "" : "; --verify measures it on the wire")};
  }
  std::string reason = "the quarantine policy denies all " + std::string(to_string(d)) + " (" + cni_text(r.cni) + ")";
  if (d == Direction::egress && (o.allow_dns || !o.allow_egress.empty())) {
    reason = "all egress denied except " + egress_exceptions(r, o) + " (" + cni_text(r.cni) + ")";
  }
  if (r.admin_network_policy) reason += "; AdminNetworkPolicy is served and may override (not evaluated)";
  return {Containment::contained, reason};
}

// The reasoned egress verdict corrected by what the probe measured.
Verdict with_wire(Verdict reasoned, bool from_allowances, const IsolateReport& r, const IsolateOptions& o) {
  const WireCheck& w = r.wire;
  switch (w.verdict) {
    case WireVerdict::not_run:
      return reasoned;
    case WireVerdict::not_contained:
      return {Containment::not_contained, w.reason, true};
    case WireVerdict::contained: {
      if (reasoned.state == Containment::not_contained && from_allowances) {
        reasoned.reason += "; the probe was blocked (" + w.reason + "), but a policy still allows other traffic";
        return reasoned;
      }
      std::string reason = w.reason;
      const std::string except = egress_exceptions(r, o);
      if (!except.empty()) reason += "; all egress denied except " + except;
      if (!r.cni.known || !r.cni.enforces) {
        reason += r.cni.known ? "; " + r.cni.name + " was thought not to enforce NetworkPolicy (" + r.cni.evidence +
                                    "): something does"
                              : "; no CNI recognised: the wire decides";
      }
      return {Containment::contained, reason, true};
    }
    case WireVerdict::unverified:
      reasoned.reason += " (not verified on the wire: " + w.reason + ")";
      return reasoned;
  }
  return reasoned;
}

// --allow-dns leaves a channel open; say so wherever egress is called contained.
void add_dns_note(Verdict& v, const IsolateReport& r) {
  if (r.dns_note.empty() || v.state != Containment::contained) return;
  v.reason += "; " + r.dns_note;
}

// Default destinations for --verify, most telling first: a sibling pod's declared TCP port (pod to
// pod, what every enforcing CNI governs), then the kubernetes Service unless the API server runs on
// the pod's own node (always reachable from its pods with some CNIs, so it would prove nothing).
// Best effort: what cannot be read is skipped and said in `notes`.
std::vector<ProbeTarget> default_targets(kube::Client& client, const json& pod, const PodAddresses& addresses,
                                         std::vector<std::string>& notes) {
  std::vector<ProbeTarget> out;
  const json& meta = member(pod, "metadata");
  const std::string ns = str(meta, "namespace");
  std::string owner_uid;
  for (const auto& ref : member(meta, "ownerReferences")) {
    if (member(ref, "controller").is_boolean() && ref["controller"].get<bool>()) owner_uid = str(ref, "uid");
  }
  auto pods = kube::get_object(client, fmt::format("/api/v1/namespaces/{}/pods?limit=200", util::url_encode(ns)),
                               "list pods in " + ns);
  if (pods) {
    std::optional<ProbeTarget> sibling, other;
    for (const auto& p : member(*pods, "items")) {
      const json& pm = member(p, "metadata");
      if (str(pm, "uid") == str(meta, "uid") || str(member(p, "status"), "phase") != "Running") continue;
      if (member(member(p, "spec"), "hostNetwork").is_boolean() && p["spec"]["hostNetwork"].get<bool>()) continue;
      const std::string ip = str(member(p, "status"), "podIP");
      if (ip.empty() || !unprobeable_reason(ip, addresses).empty()) continue;
      bool same_owner = false;
      for (const auto& ref : member(pm, "ownerReferences"))
        same_owner = same_owner || (!owner_uid.empty() && str(ref, "uid") == owner_uid);
      for (const auto& c : member(member(p, "spec"), "containers")) {
        for (const auto& port : member(c, "ports")) {
          const std::string proto = str(port, "protocol");
          if (!member(port, "containerPort").is_number_integer() || (!proto.empty() && proto != "TCP")) continue;
          ProbeTarget t{ip, port["containerPort"].get<int>(),
                        fmt::format("pod {}/{} port {}", ns, str(pm, "name"), port["containerPort"].get<int>())};
          if (same_owner && !sibling) sibling = t;
          if (!other) other = t;
        }
      }
    }
    if (sibling)
      out.push_back(*sibling);
    else if (other)
      out.push_back(*other);
  } else {
    notes.push_back("pods in " + ns + " not listed (" + pods.error().message + ")");
  }
  auto svc =
      kube::get_object(client, "/api/v1/namespaces/default/services/kubernetes", "get service default/kubernetes");
  if (svc) {
    const std::string ip = str(member(*svc, "spec"), "clusterIP");
    int port = 443;
    for (const auto& p : member(member(*svc, "spec"), "ports")) {
      if (member(p, "port").is_number_integer()) {
        port = p["port"].get<int>();
        break;
      }
    }
    bool on_node = false;
    if (auto eps = kube::get_object(client, "/api/v1/namespaces/default/endpoints/kubernetes",
                                    "get endpoints default/kubernetes")) {
      for (const auto& subset : member(*eps, "subsets")) {
        for (const auto& a : member(subset, "addresses"))
          on_node = on_node || !unprobeable_reason(str(a, "ip"), addresses).empty();
      }
    }
    if (on_node)
      notes.emplace_back("the kubernetes Service leads to the pod's own node: not a telling destination");
    else if (!ip.empty() && ip != "None")
      out.push_back({ip, port, "the kubernetes Service"});
  } else {
    notes.push_back("the kubernetes Service not read (" + svc.error().message + ")");
  }
  return out;
}

}  // namespace

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
  const bool verify = o.verify || !o.probe.empty();

  // A probe of what no policy governs proves nothing: refuse it before anything is written.
  std::optional<ProbeTarget> probe_target;
  const PodAddresses addresses = pod_addresses(pod, json());
  if (!o.probe.empty()) {
    IR_TRY_CTX(t, parse_probe_target(o.probe), what);
    t.what = o.probe_label;
    if (const std::string why = unprobeable_reason(t.host, addresses); !why.empty()) {
      return unexpected(Error(Errc::usage, what + ": --probe " + t.text() + ": " + why)
                            .with_hint("probe a destination outside the pod and its node: another pod's port, a "
                                       "Service, an external address (or --verify picks one)"));
    }
    probe_target = t;
  }

  // AdminNetworkPolicy first: --admin-policy must fail before anything is written.
  if (auto anp = kube::is_served(client, "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies"); anp && *anp) {
    r.admin_network_policy = true;
  }
  if (o.admin_policy && !r.admin_network_policy) {
    return unexpected(Error(Errc::failure, what + ": --admin-policy: this cluster does not serve AdminNetworkPolicy "
                                                  "(policy.networking.k8s.io/v1alpha1)")
                          .with_hint("drop --admin-policy, and use --exclusive to neutralise competing NetworkPolicies"));
  }

  // Does anything enforce policies? (Read before writing: --allow-dns needs NodeLocal DNSCache's
  // addresses in the policy it writes.)
  const CniDiscovery discovery = discover_cni(client, r.node);
  r.cni = discovery.cni;
  r.cni_note = discovery.note;
  if (o.allow_dns) {
    if (discovery.daemonsets.is_null()) {
      // Cannot look: allow the documented default, which is a link-local address on the node.
      r.node_local_dns = {k_node_local_dns_default};
      r.warnings.push_back(
          std::string("could not look for NodeLocal DNSCache (DaemonSets not readable): --allow-dns also allows "
                      "its default address ") +
          k_node_local_dns_default + " on 53");
    } else {
      r.node_local_dns = node_local_dns_addresses(discovery.daemonsets);
    }
    r.dns_note =
        "DNS remains an exfiltration channel: the pod can still send queries the cluster resolver forwards "
        "to any domain's name servers (DNS tunnelling)";
  }

  // RBAC preflight, before the first write (in a dry run too: the server checks them the same).
  const bool cordon = o.cordon && !r.node.empty() && !annotations.contains(k_ann_cordoned);
  auto needs = isolate_needs(o, cordon);
  if (verify && !dry) needs.push_back({"create", "", "pods", "exec", o.namespace_name, ""});
  if (verify && !dry && o.ephemeral)
    needs.push_back({"patch", "", "pods", "ephemeralcontainers", o.namespace_name, ""});
  IR_TRY(pf, preflight(client, what, needs));
  checked = pf;
  if (!checked.unchecked.empty()) r.warnings.push_back(checked.warning());

  // 0. Verification, before the quarantine: what the pod reaches now.
  std::optional<Prober> prober;
  if (verify && !dry && connector == nullptr) {
    r.wire.verdict = WireVerdict::unverified;
    r.wire.reason = "no exec connection to probe with";
  } else if (verify && !dry) {
    std::string container;
    const json& containers = member(spec, "containers");
    if (containers.is_array() && !containers.empty()) container = str(containers[0], "name");
    r.wire.probed_from = "container " + container + " (the image's nc)";
    if (o.ephemeral) {
      DebugContainerOptions dc;
      dc.namespace_name = o.namespace_name;
      dc.pod = o.pod;
      dc.image = o.debug_image;
      dc.name_prefix = "kubectl-ir-probe-";
      IR_TRY_CTX(name, add_debug_container(client, dc, clock, o.cancel), what);
      r.debug_container = name;
      container = name;
      r.wire.probed_from = "debug container " + name + " (" + o.debug_image + ")";
      log("isolate.ephemeral", {{"container", name},
                                {"image", o.debug_image},
                                {"purpose", "probe"},
                                {"note", "ephemeral containers cannot be removed; it exits after its sleep"}});
    }
    prober.emplace(client, *connector, o.namespace_name, o.pod, container, o.cancel);
    std::vector<std::string> notes;
    std::vector<ProbeTarget> targets;
    if (probe_target)
      targets.push_back(*probe_target);
    else
      targets = default_targets(client, pod, addresses, notes);
    if (targets.empty()) {
      r.wire.verdict = WireVerdict::unverified;
      r.wire.reason = "no destination to probe (" + util::join(notes, "; ") + "): give one with --probe HOST:PORT";
      prober.reset();
    } else if (r.already_isolated) {
      for (const auto& t : targets) r.wire.targets.push_back({t, std::nullopt, std::nullopt, 0, 0});
    } else {
      probe_before(*prober, targets, wire_options(o), r.wire);
      json before = json::array();
      for (const auto& t : r.wire.targets)
        before.push_back({{"target", t.target.text()},
                          {"what", t.target.what},
                          {"outcome", to_string(t.before->outcome)},
                          {"result", t.before->summary}});
      log("probe-before",
          {{"from", r.wire.probed_from}, {"targets", before}, {"connections", r.wire.connections.size()}});
    }
  }

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
  QuarantineSpec qs{o.namespace_name, o.pod,       r.pod_uid,      r.case_id,
                    o.ingress,        o.allow_dns, o.allow_egress, r.node_local_dns};
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

  // 4. The warnings the reasoning leaves.
  if (r.cni.known && !r.cni.enforces) {
    r.warnings.push_back(r.cni.name + " does not enforce NetworkPolicy (" + r.cni.evidence +
                         "): the quarantine policy may change nothing on the wire");
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

  // 6. Verification, after the quarantine: what the pod still reaches.
  if (prober) {
    probe_after(*prober, wire_options(o), clock, r.wire);
    json after = json::array();
    for (const auto& t : r.wire.targets) {
      after.push_back({{"target", t.target.text()},
                       {"what", t.target.what},
                       {"outcome", t.after ? to_string(t.after->outcome) : "not tried"},
                       {"result", t.after ? t.after->summary : ""},
                       {"attempts", t.attempts_after}});
    }
    json conns = json::array();
    for (const auto& c : r.wire.connections)
      conns.push_back({{"connection", c.before.local + " -> " + c.before.remote}, {"after", c.after}});
    log("probe-after", {{"from", r.wire.probed_from},
                        {"targets", after},
                        {"connections", conns},
                        {"verdict", to_string(r.wire.verdict)},
                        {"reason", r.wire.reason}});
  }
  bool from_allowances = false;
  r.egress = with_wire(direction_verdict(Direction::egress, r, o, from_allowances), from_allowances, r, o);
  add_dns_note(r.egress, r);
  r.ingress = direction_verdict(Direction::ingress, r, o, from_allowances);
  if (verify && o.ingress && r.ingress.state != Containment::not_requested) {
    r.ingress.reason += " (not measured: --verify probes egress; kubectl ir drill --ingress measures ingress)";
  }
  log("verdict",
      {{"egress",
        {{"state", to_string(r.egress.state)}, {"reason", r.egress.reason}, {"on_the_wire", r.egress.on_the_wire}}},
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

// --exclusive residue no live pod accounts for: for each policy carrying the saved selector, the
// cases in its NotIn whose quarantine label no pod in the namespace carries any more. One line per
// policy: "allow-egress: case-1, case-2".
Result<std::vector<std::string>> orphaned_residue(kube::Client& client, const std::string& ns, const json& policies) {
  std::map<std::string, std::vector<std::string>> by_policy;
  std::set<std::string> cases;
  for (const auto& p : policies) {
    const json& p_ann = member(member(p, "metadata"), "annotations");
    if (!p_ann.is_object() || !p_ann.contains(k_ann_original_selector)) continue;
    for (const auto& e : member(member(member(p, "spec"), "podSelector"), "matchExpressions")) {
      if (str(e, "key") != k_quarantine_label || str(e, "operator") != "NotIn") continue;
      for (const auto& v : member(e, "values")) {
        if (!v.is_string()) continue;
        by_policy[str(member(p, "metadata"), "name")].push_back(v.get<std::string>());
        cases.insert(v.get<std::string>());
      }
    }
  }
  std::vector<std::string> out;
  if (cases.empty()) return out;
  // Which of these cases still have a quarantined pod (one request for all of them).
  const std::string selector =
      std::string(k_quarantine_label) + " in (" + util::join({cases.begin(), cases.end()}, ",") + ")";
  IR_TRY(pods, kube::get_object(client,
                                fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}", util::url_encode(ns),
                                            util::url_encode(selector)),
                                "list quarantined pods in " + ns));
  std::set<std::string> live;
  for (const auto& p : member(pods, "items"))
    live.insert(str(member(member(p, "metadata"), "labels"), k_quarantine_label));
  for (const auto& [policy, values] : by_policy) {
    std::vector<std::string> orphans;
    for (const auto& v : values) {
      if (!live.count(v)) orphans.push_back(v);
    }
    if (!orphans.empty()) out.push_back(policy + ": " + util::join(orphans, ", "));
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
  if (r.was_isolated && !o.case_id.empty() && o.case_id != r.case_id) {
    r.warnings.push_back("the pod is quarantined under case " + r.case_id + ", not " + o.case_id + ": releasing " +
                         r.case_id);
  }
  // A pod that is gone cannot say its case: the caller's (--case, the journal) stands in.
  if (!r.pod_found && !o.case_id.empty()) {
    r.case_id = o.case_id;
    r.was_isolated = true;
  }
  // The case whose --exclusive residue is cleaned: the pod's, else the one asked for.
  const std::string clean_case = !r.case_id.empty() ? r.case_id : o.case_id;
  if (r.case_id.empty()) r.case_id = clean_case;
  std::string policy_name = str(annotations, k_ann_policy);
  if (policy_name.empty()) policy_name = quarantine_policy_name(o.pod);
  std::string anp = r.was_isolated ? str(annotations, k_ann_admin_policy) : "";
  const std::string cordoned = r.was_isolated && r.pod_found ? str(annotations, k_ann_cordoned) : "";

  // What --exclusive patched is recorded on the policies: read them before the first write. A
  // refused list is left to the preflight, which names it with whatever else is missing.
  std::vector<Restore> restores;
  std::optional<Error> list_error;
  const bool scan_residue = !r.pod_found && clean_case.empty();
  if (!clean_case.empty() || scan_residue) {
    auto policies = kube::list_network_policies(client, ns);
    if (policies && !clean_case.empty()) {
      restores = plan_restores(member(*policies, "items"), clean_case, r.warnings);
    } else if (policies) {
      IR_TRY_CTX(residue, orphaned_residue(client, ns, member(*policies, "items")), what);
      r.residue = std::move(residue);
    } else if (policies.error().code == Errc::forbidden && !scan_residue) {
      list_error = policies.error();
    } else if (policies.error().code == Errc::forbidden) {
      r.warnings.push_back("could not look for what --exclusive may have left on other policies: " +
                           policies.error().message);
    } else {
      return unexpected(policies.error().context(what));
    }
  }
  // --admin-policy's AdminNetworkPolicy has no owner (cluster-scoped): it outlives the pod.
  if (!r.pod_found && !clean_case.empty()) {
    const std::string name = admin_policy_name(ns, o.pod);
    auto found = kube::get_object(
        client, "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/" + util::url_encode(name),
        "get adminnetworkpolicy " + name);
    if (found && str(member(member(*found, "metadata"), "labels"), "kubectl-ir/case") == clean_case) anp = name;
  }

  // RBAC preflight for what will be undone (in a dry run too).
  std::vector<kube::ResourceAttributes> needs = {need("delete", k_netpol_group, "networkpolicies", ns)};
  if (!clean_case.empty()) needs.push_back(need("list", k_netpol_group, "networkpolicies", ns));
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

  // 2. Policies --exclusive patched for this case (also when the pod is gone, or not isolated any
  // more but the case was named).
  for (const auto& restore : restores) {
    IR_TRY_CTX(patched, kube::patch_object(client, netpol_path(ns, restore.name), restore.ops, k_json_patch, o.dry_run,
                                           fmt::format("patch networkpolicy {}/{}", ns, restore.name)),
               what);
    r.written.push_back(std::move(patched));
    r.restored_policies.push_back(restore.name);
    log("restore-policy", {{"policy", restore.name}, {"case", clean_case}, {"dry_run", dry}});
  }
  if (!r.pod_found || !r.was_isolated) return {};

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

namespace {

// release --case CASE without a pod: every pod of the case in the namespace, then what the case
// left on policies (its quarantine policies, should a deleted pod's not be collected yet, and its
// --exclusive residue).
Result<void> release_case_steps(kube::Client& client, const ReleaseOptions& o, const ActionLog& log, ReleaseReport& r,
                                Preflight& checked) {
  const std::string& ns = o.namespace_name;
  const std::string what = fmt::format("release case {} in namespace {}", o.case_id, ns);
  const bool dry = o.dry_run == kube::DryRun::all;
  r.case_id = o.case_id;
  r.pod_found = false;
  const std::string selector = std::string(k_quarantine_label) + "=" + o.case_id;
  IR_TRY_CTX(pods,
             kube::get_object(client,
                              fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}", util::url_encode(ns),
                                          util::url_encode(selector)),
                              "list pods of the case"),
             what);
  for (const auto& p : member(pods, "items")) {
    const std::string name = str(member(p, "metadata"), "name");
    ReleaseReport one;
    IR_CHECK(release_steps(client, {ns, name, o.dry_run, o.case_id}, log, one, checked));
    r.was_isolated = true;
    r.released_pods.push_back(name);
    for (auto& x : one.restored_policies) r.restored_policies.push_back(std::move(x));
    for (auto& x : one.warnings) r.warnings.push_back(name + ": " + x);
    for (auto& x : one.written) r.written.push_back(std::move(x));
    if (one.policy_deleted) r.deleted_policies.push_back(quarantine_policy_name(name));
  }
  // What is left once the pods are released: read afresh (a dry run changed nothing, so its
  // restores would be planned twice: skip the policies already restored).
  std::vector<kube::ResourceAttributes> needs = {need("list", k_netpol_group, "networkpolicies", ns)};
  IR_TRY_CTX(policies, kube::list_network_policies(client, ns), what);
  std::vector<std::string> to_delete;
  for (const auto& p : member(policies, "items")) {
    const json& labels = member(member(p, "metadata"), "labels");
    if (str(labels, "kubectl-ir/case") == o.case_id && str(labels, k_managed_by_label) == "kubectl-ir") {
      const std::string name = str(member(p, "metadata"), "name");
      if (std::find(r.deleted_policies.begin(), r.deleted_policies.end(), name) == r.deleted_policies.end())
        to_delete.push_back(name);
    }
  }
  auto restores = plan_restores(member(policies, "items"), o.case_id, r.warnings);
  restores.erase(std::remove_if(restores.begin(), restores.end(),
                                [&](const Restore& x) {
                                  return std::find(r.restored_policies.begin(), r.restored_policies.end(), x.name) !=
                                         r.restored_policies.end();
                                }),
                 restores.end());
  if (!to_delete.empty()) needs.push_back(need("delete", k_netpol_group, "networkpolicies", ns));
  if (!restores.empty()) needs.push_back(need("patch", k_netpol_group, "networkpolicies", ns));
  IR_TRY(pf, preflight(client, what, needs));
  if (!pf.unchecked.empty() && checked.unchecked.empty()) r.warnings.push_back(pf.warning());
  checked = pf;
  for (const auto& name : to_delete) {
    if (auto d = kube::delete_network_policy(client, ns, name, o.dry_run); d) {
      r.deleted_policies.push_back(name);
      log("delete-policy", {{"policy", name}, {"case", o.case_id}, {"dry_run", dry}});
    } else if (d.error().code != Errc::not_found) {
      return unexpected(d.error().context(what));
    }
  }
  for (const auto& restore : restores) {
    IR_TRY_CTX(patched,
               kube::patch_object(client, netpol_path(ns, restore.name), restore.ops, k_json_patch, o.dry_run,
                                  fmt::format("patch networkpolicy {}/{}", ns, restore.name)),
               what);
    r.written.push_back(std::move(patched));
    r.restored_policies.push_back(restore.name);
    log("restore-policy", {{"policy", restore.name}, {"case", o.case_id}, {"dry_run", dry}});
  }
  if (!r.restored_policies.empty() || !r.deleted_policies.empty()) r.was_isolated = true;
  return {};
}

}  // namespace

Result<ReleaseReport> release(kube::Client& client, const ReleaseOptions& o, const ActionLog& log) {
  ReleaseReport r;
  Preflight checked;
  if (o.pod.empty()) {
    if (o.case_id.empty()) return fail(Errc::usage, "release: name a pod or a case (--case)");
    if (auto done = release_case_steps(client, o, log, r, checked); !done)
      return unexpected(checked.explain(done.error()));
    return r;
  }
  if (auto done = release_steps(client, o, log, r, checked); !done) return unexpected(checked.explain(done.error()));
  return r;
}

}  // namespace ir::triage
