#include "kube/api.hpp"

#include <algorithm>

#include <charconv>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::kube {

using nlohmann::json;

namespace {

constexpr const char* k_field_manager = "kubectl-ir";

std::string ns_path(const std::string& prefix, const std::string& ns, const std::string& resource) {
  return fmt::format("{}/namespaces/{}/{}", prefix, util::url_encode(ns), resource);
}

std::string pod_path(const std::string& ns, const std::string& name) {
  return ns_path("/api/v1", ns, "pods/" + util::url_encode(name));
}

std::string netpol_path(const std::string& ns) { return ns_path("/apis/networking.k8s.io/v1", ns, "networkpolicies"); }

Query dry_run_query(DryRun dry_run) { return dry_run == DryRun::all ? Query{{"dryRun", "All"}} : Query{}; }

Result<json> write(Client& client, const std::string& method, const std::string& path, Query query, const json& body,
                   const std::string& content_type, const std::string& what) {
  Call c;
  c.method = method;
  c.path = path;
  c.query = std::move(query);
  c.body = body.dump();
  c.content_type = content_type;
  c.what = what;
  return client.send_json(c);
}

int parse_minor(std::string s) {
  while (!s.empty() && (s.back() < '0' || s.back() > '9')) s.pop_back();  // "26+" on some providers
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<ServerVersion> get_server_version(Client& client) {
  IR_TRY(j, client.get_json("/version", {}, "get server version"));
  ServerVersion v;
  v.git_version = str(j, "gitVersion");
  v.major = parse_minor(str(j, "major"));
  v.minor = parse_minor(str(j, "minor"));
  v.platform = str(j, "platform");
  if (v.git_version.empty()) return fail(Errc::protocol, "get server version: the answer has no gitVersion");
  return v;
}

Result<bool> is_served(Client& client, const std::string& group, const std::string& version,
                       const std::string& resource) {
  const std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  auto doc = client.get_json(path, {}, "discover " + (group.empty() ? version : group + "/" + version));
  if (!doc) {
    if (doc.error().code == Errc::not_found) return false;
    return unexpected(doc.error());
  }
  if (auto it = doc->find("resources"); it != doc->end() && it->is_array()) {
    for (const auto& r : *it) {
      if (str(r, "name") == resource) return true;
    }
  }
  return false;
}

Result<std::optional<UserInfo>> self_subject_review(Client& client) {
  for (const char* version : {"v1", "v1beta1"}) {
    const json body = {{"apiVersion", std::string("authentication.k8s.io/") + version}, {"kind", "SelfSubjectReview"}};
    auto r = write(client, "POST", std::string("/apis/authentication.k8s.io/") + version + "/selfsubjectreviews", {},
                   body, "application/json", "create selfsubjectreview");
    if (!r) {
      // 404: not served in this version (1.26 has neither; 1.27 has v1beta1 only).
      if (r.error().code == Errc::not_found) continue;
      return unexpected(r.error());
    }
    UserInfo u;
    const json& info = (*r)["status"]["userInfo"];
    if (!info.is_object()) return fail(Errc::protocol, "create selfsubjectreview: no status.userInfo in the answer");
    u.username = str(info, "username");
    u.uid = str(info, "uid");
    if (auto g = info.find("groups"); g != info.end() && g->is_array()) {
      for (const auto& x : *g)
        if (x.is_string()) u.groups.push_back(x.get<std::string>());
    }
    return std::optional<UserInfo>(std::move(u));
  }
  return std::optional<UserInfo>{};
}

Result<AccessDecision> access_review(Client& client, const ResourceAttributes& a) {
  json attrs = {{"verb", a.verb}, {"group", a.group}, {"resource", a.resource}};
  if (!a.subresource.empty()) attrs["subresource"] = a.subresource;
  if (!a.namespace_name.empty()) attrs["namespace"] = a.namespace_name;
  if (!a.name.empty()) attrs["name"] = a.name;
  const json body = {{"apiVersion", "authorization.k8s.io/v1"},
                     {"kind", "SelfSubjectAccessReview"},
                     {"spec", {{"resourceAttributes", attrs}}}};
  IR_TRY(r, write(client, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {}, body,
                  "application/json", "create selfsubjectaccessreview"));
  AccessDecision d;
  const json& st = r["status"];
  if (!st.is_object()) return fail(Errc::protocol, "create selfsubjectaccessreview: no status in the answer");
  d.allowed = st.value("allowed", false);
  d.denied = st.value("denied", false);
  d.reason = str(st, "reason");
  return d;
}

Result<RulesReview> rules_review(Client& client, const std::string& ns) {
  const json body = {{"apiVersion", "authorization.k8s.io/v1"},
                     {"kind", "SelfSubjectRulesReview"},
                     {"spec", {{"namespace", ns}}}};
  IR_TRY(r, write(client, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {}, body,
                  "application/json", "create selfsubjectrulesreview"));
  const json& st = r["status"];
  if (!st.is_object()) return fail(Errc::protocol, "create selfsubjectrulesreview: no status in the answer");
  const auto strings = [](const json& rule, const char* key) {
    std::vector<std::string> out;
    const auto it = rule.find(key);
    if (it == rule.end() || !it->is_array()) return out;
    for (const auto& v : *it) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  };
  RulesReview review;
  review.incomplete = st.value("incomplete", false) || !str(st, "evaluationError").empty();
  const auto rules = st.find("resourceRules");
  if (rules != st.end() && rules->is_array()) {
    for (const auto& rule : *rules) {
      if (!rule.is_object()) continue;
      review.rules.push_back({strings(rule, "verbs"), strings(rule, "apiGroups"), strings(rule, "resources"),
                              strings(rule, "resourceNames")});
    }
  }
  return review;
}

bool rules_allow(const std::vector<ResourceRule>& rules, const ResourceAttributes& need) {
  const auto has = [](const std::vector<std::string>& list, const std::string& v) {
    return std::find(list.begin(), list.end(), v) != list.end();
  };
  const std::string combined = need.subresource.empty() ? need.resource : need.resource + "/" + need.subresource;
  return std::any_of(rules.begin(), rules.end(), [&](const ResourceRule& r) {
    const bool verb = has(r.verbs, "*") || has(r.verbs, need.verb);
    const bool group = has(r.api_groups, "*") || has(r.api_groups, need.group);
    const bool resource = has(r.resources, "*") || has(r.resources, combined) ||
                          (!need.subresource.empty() && has(r.resources, "*/" + need.subresource));
    const bool name = r.resource_names.empty() || (!need.name.empty() && has(r.resource_names, need.name));
    return verb && group && resource && name;
  });
}

std::string qualified_resource(const ResourceAttributes& a) {
  std::string r = a.resource;
  if (!a.subresource.empty()) r += "/" + a.subresource;
  if (!a.group.empty()) r += "." + a.group;
  return r;
}

Result<json> get_pod(Client& client, const std::string& ns, const std::string& name) {
  return client.get_json(pod_path(ns, name), {}, fmt::format("get pod {}/{}", ns, name));
}

Pager list_pods(Client& client, const ListOptions& o) {
  Query q;
  if (!o.label_selector.empty()) q.emplace_back("labelSelector", o.label_selector);
  if (!o.field_selector.empty()) q.emplace_back("fieldSelector", o.field_selector);
  const std::string path = o.namespace_name.empty() ? "/api/v1/pods" : ns_path("/api/v1", o.namespace_name, "pods");
  const std::string what = o.namespace_name.empty() ? "list pods in all namespaces" : "list pods in " + o.namespace_name;
  return Pager(client, path, std::move(q), o.limit, what);
}

Result<json> patch_pod_metadata(Client& client, const std::string& ns, const std::string& name,
                                const json& metadata_patch, DryRun dry_run) {
  return write(client, "PATCH", pod_path(ns, name), dry_run_query(dry_run), json{{"metadata", metadata_patch}},
               "application/merge-patch+json", fmt::format("patch pod {}/{}", ns, name));
}

Result<LogResult> stream_pod_logs(Client& client, const std::string& ns, const std::string& pod,
                                  const LogOptions& o, const BodySink& sink) {
  Query q;
  if (!o.container.empty()) q.emplace_back("container", o.container);
  if (o.previous) q.emplace_back("previous", "true");
  if (o.timestamps) q.emplace_back("timestamps", "true");
  if (o.limit_bytes > 0) q.emplace_back("limitBytes", std::to_string(o.limit_bytes));
  LogResult result;
  bool stopped = false;  // we ended the transfer at the limit
  Call c;
  c.path = pod_path(ns, pod) + "/log";
  c.query = std::move(q);
  c.accept = "*/*";
  c.what = fmt::format("get logs of {}/{}{}{}", ns, pod, o.container.empty() ? "" : " container " + o.container,
                       o.previous ? " (previous)" : "");
  c.on_body = [&](std::string_view chunk) -> Result<void> {
    if (o.limit_bytes > 0) {
      const auto room = static_cast<std::size_t>(o.limit_bytes - result.bytes);
      if (chunk.size() >= room) {
        chunk = chunk.substr(0, room);
        result.cut = true;
      }
    }
    result.bytes += static_cast<long long>(chunk.size());
    IR_CHECK(sink(chunk));
    if (result.cut) {
      stopped = true;
      return fail(Errc::cancelled, "log limit reached");
    }
    return {};
  };
  auto r = client.send(c);
  if (!r && !stopped) return unexpected(r.error());
  return result;
}

Result<json> list_events_for(Client& client, const std::string& ns, const std::string& uid) {
  return client.get_json(ns_path("/api/v1", ns, "events"), {{"fieldSelector", "involvedObject.uid=" + uid}},
                         fmt::format("list events in {} for {}", ns, uid));
}

Result<json> get_node(Client& client, const std::string& name) {
  return client.get_json("/api/v1/nodes/" + util::url_encode(name), {}, "get node " + name);
}

Result<json> patch_node(Client& client, const std::string& name, const json& patch, DryRun dry_run) {
  return write(client, "PATCH", "/api/v1/nodes/" + util::url_encode(name), dry_run_query(dry_run), patch,
               "application/strategic-merge-patch+json", "patch node " + name);
}

Result<json> list_network_policies(Client& client, const std::string& ns) {
  return client.get_json(netpol_path(ns), {}, "list networkpolicies in " + ns);
}

Result<json> get_network_policy(Client& client, const std::string& ns, const std::string& name) {
  return client.get_json(netpol_path(ns) + "/" + util::url_encode(name), {},
                         fmt::format("get networkpolicy {}/{}", ns, name));
}

Result<json> create_network_policy(Client& client, const std::string& ns, const json& policy, DryRun dry_run) {
  return write(client, "POST", netpol_path(ns), dry_run_query(dry_run), policy, "application/json",
               fmt::format("create networkpolicy {}/{}", ns, str(policy.value("metadata", json::object()), "name")));
}

Result<json> apply_network_policy(Client& client, const std::string& ns, const json& policy, DryRun dry_run) {
  const std::string name = str(policy.value("metadata", json::object()), "name");
  Query q = dry_run_query(dry_run);
  q.emplace_back("fieldManager", k_field_manager);
  q.emplace_back("force", "true");
  // JSON is valid YAML: apply-patch+yaml accepts it.
  return write(client, "PATCH", netpol_path(ns) + "/" + util::url_encode(name), std::move(q), policy,
               "application/apply-patch+yaml", fmt::format("apply networkpolicy {}/{}", ns, name));
}

Result<json> patch_network_policy(Client& client, const std::string& ns, const std::string& name, const json& patch,
                                  DryRun dry_run) {
  return write(client, "PATCH", netpol_path(ns) + "/" + util::url_encode(name), dry_run_query(dry_run), patch,
               "application/merge-patch+json", fmt::format("patch networkpolicy {}/{}", ns, name));
}

Result<void> delete_network_policy(Client& client, const std::string& ns, const std::string& name, DryRun dry_run) {
  Call c;
  c.method = "DELETE";
  c.path = netpol_path(ns) + "/" + util::url_encode(name);
  c.query = dry_run_query(dry_run);
  c.what = fmt::format("delete networkpolicy {}/{}", ns, name);
  IR_CHECK(client.send(c));
  return {};
}

namespace {
std::string anp_path(const std::string& name) {
  return std::string("/apis/") + k_admin_network_policy_group + "/" + k_admin_network_policy_version +
         "/adminnetworkpolicies/" + util::url_encode(name);
}
}  // namespace

Result<json> apply_admin_network_policy(Client& client, const json& policy, DryRun dry_run) {
  const std::string name = str(policy.value("metadata", json::object()), "name");
  Query q = dry_run_query(dry_run);
  q.emplace_back("fieldManager", k_field_manager);
  q.emplace_back("force", "true");
  return write(client, "PATCH", anp_path(name), std::move(q), policy, "application/apply-patch+yaml",
               "apply adminnetworkpolicy " + name);
}

Result<void> delete_admin_network_policy(Client& client, const std::string& name, DryRun dry_run) {
  Call c;
  c.method = "DELETE";
  c.path = anp_path(name);
  c.query = dry_run_query(dry_run);
  c.what = "delete adminnetworkpolicy " + name;
  IR_CHECK(client.send(c));
  return {};
}

Result<json> get_object(Client& client, const std::string& path, const std::string& what) {
  return client.get_json(path, {}, what);
}

Result<json> patch_object(Client& client, const std::string& path, const json& patch, const std::string& content_type,
                          DryRun dry_run, const std::string& what) {
  return write(client, "PATCH", path, dry_run_query(dry_run), patch, content_type, what);
}

std::optional<std::string> object_path(const std::string& api_version, const std::string& kind, const std::string& ns,
                                       const std::string& name) {
  struct Known {
    const char* api_version;
    const char* kind;
    const char* prefix;
    const char* resource;
  };
  static constexpr Known k_known[] = {
      {"v1", "Pod", "/api/v1", "pods"},
      {"v1", "ReplicationController", "/api/v1", "replicationcontrollers"},
      {"apps/v1", "ReplicaSet", "/apis/apps/v1", "replicasets"},
      {"apps/v1", "Deployment", "/apis/apps/v1", "deployments"},
      {"apps/v1", "StatefulSet", "/apis/apps/v1", "statefulsets"},
      {"apps/v1", "DaemonSet", "/apis/apps/v1", "daemonsets"},
      {"batch/v1", "Job", "/apis/batch/v1", "jobs"},
      {"batch/v1", "CronJob", "/apis/batch/v1", "cronjobs"},
  };
  for (const auto& k : k_known) {
    if (api_version == k.api_version && kind == k.kind) {
      return ns_path(k.prefix, ns, k.resource) + "/" + util::url_encode(name);
    }
  }
  return std::nullopt;
}

}  // namespace ir::kube
