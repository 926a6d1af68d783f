// collect, API side: what the API server knows of the pod, read first (RFC 3227: it is lost when
// the pod goes, and reading it changes nothing).

#include <fmt/format.h>

#include "evidence/bundle.hpp"
#include "kube/api.hpp"
#include "triage/collect_steps.hpp"
#include "triage/netpol.hpp"
#include "forensics/procfs.hpp"
#include "util/strings.hpp"

namespace ir::triage::collect_detail {

using nlohmann::json;

namespace {

constexpr int k_max_owner_depth = 6;

evidence::ArtifactMeta api_meta(const std::string& source) { return {.source = source, .method = evidence::Method::api}; }

std::string pod_api_path(const CollectOptions& o) {
  return "/api/v1/namespaces/" + util::url_encode(o.namespace_name) + "/pods/" + util::url_encode(o.pod);
}

// The imageID of every container status, by container name.
json image_ids(const json& pod) {
  json ids = json::object();
  const json status = pod.value("status", json::object());
  for (const char* key : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
    for (const auto& cs : status.value(key, json::array())) {
      if (!cs.is_object() || !cs.contains("name") || !cs["name"].is_string()) continue;
      ids[cs["name"].get<std::string>()] = cs.value("imageID", "");
    }
  }
  return ids;
}

// A step refused by the preflight: recorded as failed without being tried.
void refused(Ctx& ctx, StepRecord step, Access a) {
  (void)ctx.allowed(a, step.container);
  step.status = util::Outcome::failed;
  step.detail = "not attempted: forbidden: " + ctx.denied.at(a);
  ctx.record(std::move(step));
}

void owners(Ctx& ctx, const json& pod) {
  StepRecord step{.step = "owners", .method = evidence::Method::api};
  if (ctx.denied.count(Access::owners) != 0) return refused(ctx, std::move(step), Access::owners);
  const std::string ns = ctx.options.namespace_name;
  json current = pod;
  json chain = json::array();
  for (int depth = 0; depth < k_max_owner_depth; ++depth) {
    const json refs = current.value("metadata", json::object()).value("ownerReferences", json::array());
    const json* controller = nullptr;
    for (const auto& r : refs) {
      if (r.is_object() && r.value("controller", false)) controller = &r;
    }
    if (controller == nullptr) break;
    const std::string api_version = controller->value("apiVersion", "");
    const std::string kind = controller->value("kind", "");
    const std::string name = controller->value("name", "");
    chain.push_back({{"apiVersion", api_version}, {"kind", kind}, {"name", name}});
    const auto path = kube::object_path(api_version, kind, ns, name);
    if (!path) {
      step.status = util::Outcome::partial;
      step.detail = fmt::format("owner {}/{} is of a kind kubectl-ir does not read", kind, name);
      break;
    }
    auto obj = kube::get_object(ctx.env.client, *path, fmt::format("get {} {}/{}", util::to_lower(kind), ns, name));
    if (!obj) {
      step.status = util::Outcome::failed;
      step.detail = obj.error().message;
      break;
    }
    ctx.add(step, fmt::format("pod/owner-{}-{}-{}.json", depth + 1, evidence::safe_component(util::to_lower(kind)),
                              evidence::safe_component(name)),
            pretty(*obj), api_meta("GET " + *path));
    current = std::move(*obj);
  }
  if (chain.empty()) step.detail = "the pod has no controller";
  else if (step.status == util::Outcome::ok) step.detail = fmt::format("{} owner{}", chain.size(), chain.size() == 1 ? "" : "s");
  ctx.record(std::move(step));
}

void node(Ctx& ctx) {
  StepRecord step{.step = "node", .method = evidence::Method::api};
  if (ctx.report.node.empty()) {
    step.status = util::Outcome::skipped;
    step.detail = "the pod is not scheduled";
    ctx.record(std::move(step));
    return;
  }
  if (ctx.denied.count(Access::node) != 0) return refused(ctx, std::move(step), Access::node);
  auto n = kube::get_node(ctx.env.client, ctx.report.node);
  if (!n) {
    step.status = util::Outcome::failed;
    step.detail = n.error().message;
  } else {
    const json info = n->value("status", json::object()).value("nodeInfo", json::object());
    if (info.value("architecture", "") == "s390x") ctx.byte_order = "big";
    ctx.add(step, "node/node.json", pretty(*n), api_meta("GET /api/v1/nodes/" + util::url_encode(ctx.report.node)));
  }
  ctx.record(std::move(step));
}

void events(Ctx& ctx) {
  StepRecord step{.step = "events", .method = evidence::Method::api};
  if (ctx.denied.count(Access::events) != 0) return refused(ctx, std::move(step), Access::events);
  auto e = kube::list_events_for(ctx.env.client, ctx.options.namespace_name, ctx.report.pod_uid);
  if (!e) {
    step.status = util::Outcome::failed;
    step.detail = e.error().message;
  } else {
    step.detail = fmt::format("{} events", e->value("items", json::array()).size());
    ctx.add(step, "pod/events.json", pretty(*e),
            api_meta(fmt::format("GET /api/v1/namespaces/{}/events?fieldSelector=involvedObject.uid={}",
                                 util::url_encode(ctx.options.namespace_name), ctx.report.pod_uid)));
  }
  ctx.record(std::move(step));
}

void network_policies(Ctx& ctx, const json& pod) {
  StepRecord step{.step = "networkpolicies", .method = evidence::Method::api};
  if (ctx.denied.count(Access::network_policies) != 0) return refused(ctx, std::move(step), Access::network_policies);
  auto list = kube::list_network_policies(ctx.env.client, ctx.options.namespace_name);
  if (!list) {
    step.status = util::Outcome::failed;
    step.detail = list.error().message;
    ctx.record(std::move(step));
    return;
  }
  const json labels = pod.value("metadata", json::object()).value("labels", json::object());
  json selecting = json::array();
  json problems = json::array();
  for (const auto& p : list->value("items", json::array())) {
    const std::string name = p.value("metadata", json::object()).value("name", "");
    auto m = selector_matches(p.value("spec", json::object()).value("podSelector", json::object()), labels);
    if (!m) problems.push_back({{"policy", name}, {"error", m.error().message}});
    else if (*m) selecting.push_back(p);
  }
  step.detail = fmt::format("{} of {} select the pod", selecting.size(), list->value("items", json::array()).size());
  json doc = {{"selecting", selecting}, {"problems", problems}};
  ctx.add(step, "pod/networkpolicies.json", pretty(doc),
          api_meta(fmt::format("GET /apis/networking.k8s.io/v1/namespaces/{}/networkpolicies (filtered by podSelector)",
                               util::url_encode(ctx.options.namespace_name))));
  ctx.record(std::move(step));
}

}  // namespace

void collect_api_state(Ctx& ctx, const json& pod) {
  StepRecord step{.step = "pod", .method = evidence::Method::api};
  ctx.add(step, "pod/pod.json", pretty(pod), api_meta("GET " + pod_api_path(ctx.options)));
  ctx.report.image_ids = image_ids(pod);
  ctx.add(step, "pod/images.json", pretty(ctx.report.image_ids), api_meta("status.*ContainerStatuses[].imageID of pod/pod.json"));
  step.detail = fmt::format("uid {}, node {}", ctx.report.pod_uid, ctx.report.node.empty() ? "-" : ctx.report.node);
  ctx.record(std::move(step));
  if (ctx.options.scope == CollectScope::snapshot) return;  // the pod object only
  if (!ctx.cancelled()) owners(ctx, pod);
  if (!ctx.cancelled()) node(ctx);
  if (!ctx.cancelled()) events(ctx);
  if (!ctx.cancelled()) network_policies(ctx, pod);
}

namespace {

// One log (current or previous) into logs/<container>[.previous].log, bounded on our side too
// (a server may ignore limitBytes).
void one_log(Ctx& ctx, StepRecord& step, const std::string& container, bool previous, bool expect_previous) {
  const auto& o = ctx.options;
  const std::string name = "logs/" + evidence::safe_component(container) + (previous ? ".previous" : "") + ".log";
  const std::string source =
      fmt::format("GET {}/log?container={}&timestamps=true&limitBytes={}{}", pod_api_path(o), util::url_encode(container),
                  o.max_log_bytes, previous ? "&previous=true" : "");
  auto entry = ctx.env.bundle.open_entry(name, api_meta(source));
  if (!entry) {
    step.status = util::Outcome::failed;
    step.detail = entry.error().message;
    return;
  }
  kube::LogOptions lo;
  lo.container = container;
  lo.previous = previous;
  lo.timestamps = true;
  lo.limit_bytes = static_cast<long long>(o.max_log_bytes);
  std::uint64_t got = 0;  // kept even when the transfer fails later (Ctrl-C, a cut connection)
  auto r = kube::stream_pod_logs(ctx.env.client, o.namespace_name, o.pod, lo, [&](std::string_view chunk) -> Result<void> {
    if (ctx.cancelled()) return fail(Errc::cancelled, "cancelled");
    got += chunk.size();
    return (*entry)->write(chunk);
  });
  if (!r && got == 0) {
    // No previous instance is the normal case, not a failure.
    if (previous && !expect_previous && (r.error().code == Errc::invalid || r.error().code == Errc::not_found)) return;
    if (step.status == util::Outcome::ok) step.status = util::Outcome::failed;
    step.detail += (step.detail.empty() ? "" : "; ") + r.error().message;
    return;
  }
  evidence::ArtifactMeta meta = api_meta(source);
  meta.truncated = !r || r->cut;
  if (!r) meta.note = r.error().message;
  else if (r->cut) meta.note = fmt::format("cut at --max-log-bytes ({} bytes)", o.max_log_bytes);
  auto a = (*entry)->commit(meta);
  if (!a) {
    step.status = util::Outcome::failed;
    step.detail = a.error().message;
    return;
  }
  ++step.artifacts;
  step.bytes += a->size;
  if (!r) {
    if (r.error().code == Errc::cancelled) step.status = util::Outcome::interrupted;
    else if (step.status == util::Outcome::ok) step.status = util::Outcome::partial;
    step.detail += (step.detail.empty() ? "" : "; ") + r.error().message;
  } else if (r->cut && step.detail.empty()) {
    step.detail = "cut at --max-log-bytes";
  }
}

}  // namespace

void collect_logs(Ctx& ctx, const json& pod) {
  const json status = pod.value("status", json::object());
  for (const char* key : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
    for (const auto& cs : status.value(key, json::array())) {
      if (ctx.cancelled()) return;
      if (!cs.is_object() || !cs.contains("name") || !cs["name"].is_string()) continue;
      const std::string container = cs["name"];
      StepRecord step{.container = container, .step = "logs", .method = evidence::Method::api};
      if (ctx.denied.count(Access::logs) != 0) {
        refused(ctx, std::move(step), Access::logs);
        continue;
      }
      const json state = cs.value("state", json::object());
      const bool started = state.contains("running") || state.contains("terminated");
      const bool restarted = cs.value("restartCount", 0) > 0 || cs.value("lastState", json::object()).contains("terminated");
      if (started) one_log(ctx, step, container, false, false);
      if (restarted || !started) one_log(ctx, step, container, true, restarted);
      if (step.artifacts == 0 && step.status == util::Outcome::ok) {
        step.status = util::Outcome::skipped;
        step.detail = "no log: the container has not started";
      }
      ctx.record(std::move(step));
    }
  }
}

}  // namespace ir::triage::collect_detail
