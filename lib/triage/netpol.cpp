#include "triage/netpol.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "util/crypto.hpp"
#include "util/strings.hpp"
#include "triage/json_fields.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

using json_fields::member;
using json_fields::str;

// One matchExpressions entry (metav1.LabelSelectorRequirement).
struct Requirement {
  std::string key;
  std::string op;
  std::vector<std::string> values;
};

std::vector<Requirement> requirements(const json& selector) {
  std::vector<Requirement> out;
  const json& exprs = member(selector, "matchExpressions");
  if (!exprs.is_array()) return out;
  for (const auto& e : exprs) {
    Requirement r{str(e, "key"), str(e, "operator"), {}};
    for (const auto& v : member(e, "values"))
      if (v.is_string()) r.values.push_back(v.get<std::string>());
    out.push_back(std::move(r));
  }
  return out;
}

// "app=web,tier in (a,b)" for messages.
std::string selector_text(const json& sel) {
  if (!sel.is_object()) return "(none)";
  std::vector<std::string> parts;
  for (const auto& [k, v] : member(sel, "matchLabels").items()) {
    parts.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  }
  for (const auto& r : requirements(sel)) {
    if (r.op == "Exists") parts.push_back(r.key);
    else if (r.op == "DoesNotExist") parts.push_back("!" + r.key);
    else parts.push_back(fmt::format("{} {} ({})", r.key, util::to_lower(r.op), util::join(r.values, ",")));
  }
  return parts.empty() ? "all" : util::join(parts, ",");
}

std::string ports_text(const json& ports) {
  if (!ports.is_array() || ports.empty()) return "all ports";
  std::vector<std::string> out;
  for (const auto& p : ports) {
    std::string proto = str(p, "protocol");
    if (proto.empty()) proto = "TCP";
    const json& port = member(p, "port");
    std::string text = port.is_null() ? proto + "/*" : proto + "/" + (port.is_string() ? port.get<std::string>() : port.dump());
    if (auto end = member(p, "endPort"); end.is_number()) text += "-" + end.dump();
    out.push_back(text);
  }
  return util::join(out, ",");
}

std::string peer_text(const json& peer) {
  if (const json& ip = member(peer, "ipBlock"); ip.is_object()) {
    std::string text = str(ip, "cidr");
    const json& except = member(ip, "except");
    if (except.is_array() && !except.empty()) {
      std::vector<std::string> ex;
      for (const auto& e : except)
        if (e.is_string()) ex.push_back(e.get<std::string>());
      text += " except " + util::join(ex, ",");
    }
    return text;
  }
  const json& ns = member(peer, "namespaceSelector");
  const json& pods = member(peer, "podSelector");
  std::string text = "pods " + (pods.is_null() ? std::string("all") : selector_text(pods));
  text += ns.is_null() ? " in the same namespace" : " in namespaces " + selector_text(ns);
  return text;
}

std::string rule_text(const json& rule, Direction d) {
  const json& peers = member(rule, d == Direction::egress ? "to" : "from");
  std::string who;
  if (!peers.is_array() || peers.empty()) {
    who = d == Direction::egress ? "all destinations" : "all sources";
  } else {
    std::vector<std::string> p;
    for (const auto& peer : peers) p.push_back(peer_text(peer));
    who = util::join(p, "; ");
  }
  return who + ", " + ports_text(member(rule, "ports"));
}

bool valid_cidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  const std::string addr = cidr.substr(0, slash);
  int bits = -1;
  const std::string b = cidr.substr(slash + 1);
  const auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
  if (ec != std::errc() || p != b.data() + b.size()) return false;
  const bool v6 = addr.find(':') != std::string::npos;
  if (bits < 0 || bits > (v6 ? 128 : 32)) return false;
  const std::string allowed = v6 ? "0123456789abcdefABCDEF:." : "0123456789.";
  if (addr.find_first_not_of(allowed) != std::string::npos) return false;
  if (!v6) {
    const auto octets = util::split(addr, '.');
    if (octets.size() != 4) return false;
    for (const auto& o : octets) {
      if (o.empty() || o.size() > 3 || std::stoi(o) > 255) return false;
    }
  }
  return true;
}

bool valid_port(int port) { return port >= 1 && port <= 65535; }

}  // namespace

Result<bool> selector_matches(const json& selector, const json& labels) {
  if (selector.is_null()) return false;
  if (!selector.is_object()) return fail(Errc::invalid, "label selector is not an object");
  auto label = [&](const std::string& key) -> std::optional<std::string> {
    if (!labels.is_object()) return std::nullopt;
    auto it = labels.find(key);
    if (it == labels.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const json& ml = member(selector, "matchLabels");
  if (ml.is_object()) {
    for (const auto& [k, v] : ml.items()) {
      if (!v.is_string() || label(k) != v.get<std::string>()) return false;
    }
  }
  for (const auto& r : requirements(selector)) {
    const auto have = label(r.key);
    const bool in = have && std::find(r.values.begin(), r.values.end(), *have) != r.values.end();
    if (r.op == "In") {
      if (!in) return false;
    } else if (r.op == "NotIn") {
      if (in) return false;  // a missing label satisfies NotIn, as in Kubernetes
    } else if (r.op == "Exists") {
      if (!have) return false;
    } else if (r.op == "DoesNotExist") {
      if (have) return false;
    } else {
      return fail(Errc::invalid, "unknown selector operator \"" + r.op + "\"");
    }
  }
  return true;
}

const char* to_string(Direction d) { return d == Direction::egress ? "egress" : "ingress"; }

std::vector<Direction> policy_types(const json& policy) {
  const json& spec = member(policy, "spec");
  const json& types = member(spec, "policyTypes");
  std::vector<Direction> out;
  if (types.is_array() && !types.empty()) {
    for (const auto& t : types) {
      if (t == "Ingress") out.push_back(Direction::ingress);
      if (t == "Egress") out.push_back(Direction::egress);
    }
    return out;
  }
  out.push_back(Direction::ingress);
  if (!member(spec, "egress").is_null()) out.push_back(Direction::egress);
  return out;
}

std::vector<Allowance> allowances_of(const json& p) {
  std::vector<Allowance> out;
  const std::string name = str(member(p, "metadata"), "name");
  for (const Direction d : policy_types(p)) {
    const json& rules = member(member(p, "spec"), d == Direction::egress ? "egress" : "ingress");
    if (!rules.is_array() || rules.empty()) continue;  // governs the direction and allows nothing
    Allowance a{name, d, {}};
    for (const auto& r : rules) a.rules.push_back(rule_text(r, d));
    out.push_back(std::move(a));
  }
  return out;
}

std::string describe_selector(const json& selector) {
  return selector_text(selector);
}

Result<std::vector<Allowance>> selecting_allowances(const json& policies, const json& labels,
                                                    const std::string& skip_name) {
  std::vector<Allowance> out;
  if (!policies.is_array()) return out;
  for (const auto& p : policies) {
    const std::string name = str(member(p, "metadata"), "name");
    if (name == skip_name) continue;
    auto matches = selector_matches(member(member(p, "spec"), "podSelector"), labels);
    if (!matches) return unexpected(matches.error().context("networkpolicy " + name));
    if (!*matches) continue;
    for (auto& a : allowances_of(p)) out.push_back(std::move(a));
  }
  return out;
}

std::string quarantine_policy_name(const std::string& pod_name) {
  constexpr std::size_t k_max_name = 253;  // a DNS subdomain, the limit for object names
  const std::string prefix = "kubectl-ir-quarantine-";
  if (prefix.size() + pod_name.size() <= k_max_name) return prefix + pod_name;
  const std::string hash = util::sha256_hex(pod_name).substr(0, 10);
  return prefix + pod_name.substr(0, k_max_name - prefix.size() - hash.size() - 1) + "-" + hash;
}

Result<EgressAllowance> parse_allow_egress(const std::string& text) {
  EgressAllowance a;
  std::string cidr = text;
  std::string port;
  if (!text.empty() && text[0] == '[') {  // [v6/len]:port
    const auto close = text.find(']');
    if (close == std::string::npos) return fail(Errc::usage, "--allow-egress \"" + text + "\": missing ']'");
    cidr = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return fail(Errc::usage, "--allow-egress \"" + text + "\": want [CIDR]:PORT");
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // IPv4 CIDR:PORT
    const auto colon = text.find(':');
    cidr = text.substr(0, colon);
    port = text.substr(colon + 1);
  }  // no colon: IPv4 CIDR; two or more: a bare IPv6 CIDR
  if (!valid_cidr(cidr)) {
    return fail(Errc::usage, "--allow-egress \"" + text + "\": want CIDR or CIDR:PORT, e.g. 10.1.2.3/32:443");
  }
  a.cidr = cidr;
  if (!port.empty()) {
    int p = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || !valid_port(p)) {
      return fail(Errc::usage, "--allow-egress \"" + text + "\": port must be 1-65535");
    }
    a.port = p;
  }
  return a;
}

Result<json> render_quarantine_policy(const QuarantineSpec& s) {
  json egress = json::array();
  if (s.allow_dns) {
    // The cluster DNS pods carry k8s-app=kube-dns (CoreDNS and kube-dns alike) in any namespace.
    egress.push_back({{"to", json::array({{{"namespaceSelector", json::object()},
                                           {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}})},
                      {"ports", json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}})}});
    if (!s.node_local_dns.empty()) {
      json to = json::array();
      for (const auto& ip : s.node_local_dns) to.push_back({{"ipBlock", {{"cidr", ip + "/32"}}}});
      egress.push_back(
          {{"to", to},
           {"ports", json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}})}});
    }
  }
  for (const auto& text : s.allow_egress) {
    IR_TRY(a, parse_allow_egress(text));
    json rule = {{"to", json::array({{{"ipBlock", {{"cidr", a.cidr}}}}})}};
    if (a.port) rule["ports"] = json::array({{{"protocol", "TCP"}, {"port", *a.port}}});
    egress.push_back(std::move(rule));
  }
  json types = json::array({"Egress"});
  if (s.ingress) types.push_back("Ingress");
  json spec = {{"podSelector", {{"matchLabels", {{k_quarantine_label, s.case_id}}}}},
               {"policyTypes", types},
               {"egress", egress}};
  if (s.ingress) spec["ingress"] = json::array();
  return json{{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata",
               {{"name", quarantine_policy_name(s.pod_name)},
                {"namespace", s.namespace_name},
                {"labels", {{k_managed_by_label, "kubectl-ir"}, {"kubectl-ir/case", s.case_id}}},
                {"annotations", {{"kubectl-ir/pod", s.pod_name}}},
                {"ownerReferences", json::array({{{"apiVersion", "v1"},
                                                  {"kind", "Pod"},
                                                  {"name", s.pod_name},
                                                  {"uid", s.pod_uid},
                                                  {"blockOwnerDeletion", false},
                                                  {"controller", false}}})}}},
              {"spec", spec}};
}

std::string admin_policy_name(const std::string& namespace_name, const std::string& pod_name) {
  return quarantine_policy_name(namespace_name + "-" + pod_name);
}

Result<json> render_admin_quarantine_policy(const QuarantineSpec& s) {
  json egress = json::array();
  if (s.allow_dns) {
    egress.push_back({{"name", "kubectl-ir-allow-dns"},
                      {"action", "Allow"},
                      {"to", json::array({{{"pods", {{"namespaceSelector", json::object()},
                                                     {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}}}})},
                      {"ports", json::array({{{"portNumber", {{"protocol", "UDP"}, {"port", 53}}}},
                                             {{"portNumber", {{"protocol", "TCP"}, {"port", 53}}}}})}});
    if (!s.node_local_dns.empty()) {
      json networks = json::array();
      for (const auto& ip : s.node_local_dns) networks.push_back(ip + "/32");
      egress.push_back({{"name", "kubectl-ir-allow-node-local-dns"},
                        {"action", "Allow"},
                        {"to", json::array({{{"networks", networks}}})},
                        {"ports", json::array({{{"portNumber", {{"protocol", "UDP"}, {"port", 53}}}},
                                               {{"portNumber", {{"protocol", "TCP"}, {"port", 53}}}}})}});
    }
  }
  int n = 0;
  for (const auto& text : s.allow_egress) {
    IR_TRY(a, parse_allow_egress(text));
    json rule = {{"name", fmt::format("kubectl-ir-allow-egress-{}", n++)},
                 {"action", "Allow"},
                 {"to", json::array({{{"networks", json::array({a.cidr})}}})}};
    if (a.port) rule["ports"] = json::array({{{"portNumber", {{"protocol", "TCP"}, {"port", *a.port}}}}});
    egress.push_back(std::move(rule));
  }
  egress.push_back({{"name", "kubectl-ir-deny-all-egress"},
                    {"action", "Deny"},
                    {"to", json::array({{{"namespaces", json::object()}}, {{"networks", json::array({"0.0.0.0/0", "::/0"})}}})}});
  json spec = {{"priority", 0},
               {"subject", {{"pods", {{"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", s.namespace_name}}}}},
                                       {"podSelector", {{"matchLabels", {{k_quarantine_label, s.case_id}}}}}}}}},
               {"egress", egress}};
  if (s.ingress) {
    spec["ingress"] = json::array({{{"name", "kubectl-ir-deny-all-ingress"},
                                    {"action", "Deny"},
                                    {"from", json::array({{{"namespaces", json::object()}}})}}});
  }
  return json{{"apiVersion", "policy.networking.k8s.io/v1alpha1"},
              {"kind", "AdminNetworkPolicy"},
              {"metadata",
               {{"name", admin_policy_name(s.namespace_name, s.pod_name)},
                {"labels", {{k_managed_by_label, "kubectl-ir"}, {"kubectl-ir/case", s.case_id}}},
                {"annotations", {{"kubectl-ir/pod", s.namespace_name + "/" + s.pod_name}}}}},
              {"spec", spec}};
}

std::optional<json> exclude_case(const json& pod_selector, const std::string& case_id) {
  json sel = pod_selector.is_object() ? pod_selector : json::object();
  json& exprs = sel["matchExpressions"];
  if (!exprs.is_array()) exprs = json::array();
  for (auto& e : exprs) {
    if (str(e, "key") == k_quarantine_label && str(e, "operator") == "NotIn") {
      json& values = e["values"];
      if (!values.is_array()) values = json::array();
      if (std::find(values.begin(), values.end(), case_id) != values.end()) return std::nullopt;
      values.push_back(case_id);
      return sel;
    }
  }
  exprs.push_back({{"key", k_quarantine_label}, {"operator", "NotIn"}, {"values", json::array({case_id})}});
  return sel;
}

json include_case(const json& pod_selector, const std::string& case_id) {
  json sel = pod_selector;
  if (!sel.is_object() || !sel.contains("matchExpressions") || !sel["matchExpressions"].is_array()) return sel;
  json kept = json::array();
  for (auto e : sel["matchExpressions"]) {
    if (str(e, "key") == k_quarantine_label && str(e, "operator") == "NotIn" && e["values"].is_array()) {
      json values = json::array();
      for (const auto& v : e["values"])
        if (v != case_id) values.push_back(v);
      if (values.empty()) continue;
      e["values"] = values;
    }
    kept.push_back(e);
  }
  sel["matchExpressions"] = kept;
  return sel;
}

}  // namespace ir::triage
