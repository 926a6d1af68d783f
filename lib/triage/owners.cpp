#include "triage/owners.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "kube/api.hpp"
#include "kube/pager.hpp"
#include "triage/od_fields.hpp"
#include "util/strings.hpp"

namespace ir::triage {

namespace od = simdjson::ondemand;
using od_fields::text;
using nlohmann::json;

struct ObjectResolver::Resource {
  const char* display;  // "replicasets.apps", as the API server names it in messages
  const char* prefix;   // "/apis/apps/v1"
  const char* plural;   // "replicasets"
  bool namespaced;
};

namespace {

const ObjectResolver::Resource k_replicasets{"replicasets.apps", "/apis/apps/v1", "replicasets", true};
const ObjectResolver::Resource k_jobs{"jobs.batch", "/apis/batch/v1", "jobs", true};
const ObjectResolver::Resource k_nodes{"nodes", "/api/v1", "nodes", false};

// Only these owners have a well-known controller above them (Deployment, CronJob); any other kind
// is taken as the workload without reading it.
const ObjectResolver::Resource* resource_for(const OwnerRef& ref) {
  const auto slash = ref.api_version.find('/');
  const std::string group = slash == std::string::npos ? std::string() : ref.api_version.substr(0, slash);
  if (ref.kind == "ReplicaSet" && group == "apps") return &k_replicasets;
  if (ref.kind == "Job" && group == "batch") return &k_jobs;
  return nullptr;
}

constexpr int k_max_chain = 4;  // Pod → ReplicaSet → Deployment needs 2; owners above are rare

std::optional<OwnerRef> controller_of(od::value refs) {
  od::array arr;
  if (refs.get_array().get(arr) != simdjson::SUCCESS) return std::nullopt;
  std::optional<OwnerRef> found;
  for (auto r : arr) {
    od::object o;
    if (r.get_object().get(o) != simdjson::SUCCESS) continue;
    OwnerRef ref;
    bool controller = false;
    for (auto f : o) {
      const auto key = f.key().value();
      if (key == "apiVersion") ref.api_version = text(f.value());
      else if (key == "kind") ref.kind = text(f.value());
      else if (key == "name") ref.name = text(f.value());
      else if (key == "controller") {
        bool b = false;
        controller = f.value().get_bool().get(b) == simdjson::SUCCESS && b;
      }
    }
    if (controller && !ref.kind.empty() && !ref.name.empty() && !found) found = std::move(ref);
  }
  return found;
}

std::optional<OwnerRef> controller_of(const json& obj) {
  const json& refs = obj.value("metadata", json::object()).value("ownerReferences", json::array());
  if (!refs.is_array()) return std::nullopt;
  for (const auto& r : refs) {
    if (!r.is_object() || !r.value("controller", false)) continue;
    OwnerRef ref{r.value("apiVersion", ""), r.value("kind", ""), r.value("name", "")};
    if (!ref.kind.empty() && !ref.name.empty()) return ref;
  }
  return std::nullopt;
}

std::string string_at(const json& obj, const json::json_pointer& p) {
  return obj.contains(p) && obj.at(p).is_string() ? obj.at(p).get<std::string>() : std::string();
}

ObjectFacts facts_of(const json& obj) {
  ObjectFacts f;
  f.namespace_name = string_at(obj, json::json_pointer("/metadata/namespace"));
  f.name = string_at(obj, json::json_pointer("/metadata/name"));
  f.controller = controller_of(obj);
  f.architecture = string_at(obj, json::json_pointer("/metadata/labels/kubernetes.io~1arch"));
  if (f.architecture.empty()) f.architecture = string_at(obj, json::json_pointer("/status/nodeInfo/architecture"));
  return f;
}

std::string cache_key(const ObjectResolver::Resource& r, const std::string& ns, const std::string& name) {
  return std::string(r.display) + "/" + ns + "/" + name;
}

std::string scope_of(const ObjectResolver::Resource& r, const std::string& ns) {
  return r.namespaced ? " in " + ns : "";
}

}  // namespace

std::string to_string(const Workload& w) { return w.kind.empty() ? std::string("<none>") : w.kind + "/" + w.name; }

Result<std::vector<ObjectFacts>> parse_object_facts(std::string& page) {
  page.reserve(page.size() + simdjson::SIMDJSON_PADDING);  // the SIMD parser reads ahead
  std::vector<ObjectFacts> out;
  // On-Demand, forward-only: each object's fields are walked once in document order; leaves are
  // read with error codes (odd types read as absent), structural errors throw and fail the page.
  try {
    od::parser parser;
    od::document doc = parser.iterate(simdjson::padded_string_view(page.data(), page.size(), page.capacity()));
    od::object list = doc.get_object();
    for (auto top : list) {
      od::array items;
      if (top.key().value() != "items" || top.value().get_array().get(items) != simdjson::SUCCESS) continue;
      for (auto item : items) {
        od::object obj;
        if (item.get_object().get(obj) != simdjson::SUCCESS) continue;
        ObjectFacts f;
        std::string node_arch;
        for (auto field : obj) {
          const auto key = field.key().value();
          od::object sub;
          if ((key != "metadata" && key != "status") || field.value().get_object().get(sub) != simdjson::SUCCESS) continue;
          for (auto m : sub) {
            const auto k = m.key().value();
            od::object inner;
            if (key == "metadata" && k == "name") f.name = text(m.value());
            else if (key == "metadata" && k == "namespace") f.namespace_name = text(m.value());
            else if (key == "metadata" && k == "ownerReferences") f.controller = controller_of(m.value());
            else if (key == "metadata" && k == "labels" && m.value().get_object().get(inner) == simdjson::SUCCESS) {
              for (auto l : inner) {
                if (l.key().value() == "kubernetes.io/arch") f.architecture = text(l.value());
              }
            } else if (key == "status" && k == "nodeInfo" && m.value().get_object().get(inner) == simdjson::SUCCESS) {
              for (auto i : inner) {
                if (i.key().value() == "architecture") node_arch = text(i.value());
              }
            }
          }
        }
        if (f.architecture.empty()) f.architecture = std::move(node_arch);  // the label wins, as kubectl shows it
        out.push_back(std::move(f));
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    return fail(Errc::protocol, std::string("the list page is not valid JSON: ") + e.what());
  }
  return out;
}

ObjectResolver::ObjectResolver(kube::Client& client, ResolverOptions options)
    : m_client(client), m_options(options) {}

bool ObjectResolver::cancelled() const { return m_options.cancel != nullptr && m_options.cancel->cancelled(); }

void ObjectResolver::note_problem(const std::string& line) {
  if (std::find(m_problems.begin(), m_problems.end(), line) == m_problems.end()) m_problems.push_back(line);
}

const ObjectResolver::Entry* ObjectResolver::cached(const Resource& r, const std::string& ns,
                                                    const std::string& name) const {
  const auto it = m_cache.find(cache_key(r, ns, name));
  return it == m_cache.end() ? nullptr : &it->second;
}

void ObjectResolver::fetch(const Resource& r, const std::set<std::pair<std::string, std::string>>& names) {
  std::set<std::pair<std::string, std::string>> missing;
  for (const auto& [ns, name] : names) {
    if (cached(r, ns, name) != nullptr) continue;
    if (const auto d = m_denied.find(std::string(r.display) + "/" + ns); d != m_denied.end()) {
      m_cache[cache_key(r, ns, name)] = Entry{false, {}, d->second};  // asked and refused before
      continue;
    }
    missing.insert({ns, name});
  }
  const int before = m_client.requests_sent();
  if (static_cast<int>(missing.size()) > m_options.max_gets && !cancelled()) {
    // Many objects of one kind: one paged list costs a few requests instead of one per object.
    // Only the facts of objects asked for are kept, so memory follows the answer, not the cluster.
    kube::Pager pager(m_client, std::string(r.prefix) + "/" + r.plural, {}, m_options.chunk_size,
                      fmt::format("list {}{}", r.display, r.namespaced ? " in all namespaces" : ""));
    std::optional<Error> error;
    bool first = true;
    while (!cancelled()) {
      auto page = pager.next_raw();
      if (!page) {
        error = page.error();
        break;
      }
      if (!page->has_value()) break;
      first = false;
      auto facts = parse_object_facts((*page)->body);
      if (!facts) {
        error = facts.error().context(fmt::format("list {}", r.display));
        break;
      }
      for (auto& f : *facts) {
        const std::string ns = r.namespaced ? f.namespace_name : std::string();
        if (missing.count({ns, f.name}) == 0) continue;
        const std::string key = cache_key(r, ns, f.name);  // before f is moved from
        m_cache[key] = Entry{true, std::move(f), {}};
      }
    }
    if (!error && !cancelled()) {
      // A complete list: whatever it did not hold no longer exists.
      for (const auto& [ns, name] : missing) {
        auto& e = m_cache[cache_key(r, ns, name)];
        if (!e.found) e.problem = fmt::format("{} \"{}\"{} not found", r.display, name, scope_of(r, ns));
      }
      missing.clear();
    } else if (error && !(first && error->code == Errc::forbidden)) {
      // Anything but "may not list" (then single gets may still be allowed) would fail the gets too.
      note_problem(error->message);
      for (const auto& [ns, name] : missing) {
        auto& e = m_cache[cache_key(r, ns, name)];
        if (!e.found) e.problem = error->message;
      }
      missing.clear();
    }
  }
  for (const auto& [ns, name] : missing) {
    if (cancelled()) break;
    if (cached(r, ns, name) != nullptr) continue;
    const std::string deny_key = std::string(r.display) + "/" + ns;
    if (const auto d = m_denied.find(deny_key); d != m_denied.end()) {
      m_cache[cache_key(r, ns, name)] = Entry{false, {}, d->second};
      continue;
    }
    const std::string path = r.namespaced ? fmt::format("{}/namespaces/{}/{}/{}", r.prefix, util::url_encode(ns),
                                                        r.plural, util::url_encode(name))
                                          : fmt::format("{}/{}/{}", r.prefix, r.plural, util::url_encode(name));
    auto obj = kube::get_object(m_client, path, fmt::format("get {} {}{}", r.display, name, scope_of(r, ns)));
    if (obj) {
      m_cache[cache_key(r, ns, name)] = Entry{true, facts_of(*obj), {}};
      continue;
    }
    const Error& e = obj.error();
    if (e.code == Errc::forbidden) {
      // RBAC is per namespace and resource: every other get of this kind here would be refused too.
      const std::string line = fmt::format("cannot get {}{}: forbidden", r.display, scope_of(r, ns));
      m_denied[deny_key] = line;
      note_problem(line);
      m_cache[cache_key(r, ns, name)] = Entry{false, {}, line};
    } else if (e.code == Errc::not_found) {
      m_cache[cache_key(r, ns, name)] = Entry{false, {}, fmt::format("{} \"{}\"{} not found", r.display, name, scope_of(r, ns))};
    } else {
      note_problem(e.message);
      m_cache[cache_key(r, ns, name)] = Entry{false, {}, e.message};
    }
  }
  m_requests += m_client.requests_sent() - before;
}

std::vector<Workload> ObjectResolver::workloads(const std::vector<PodOwner>& pods) {
  std::vector<Workload> out(pods.size());
  std::vector<std::optional<OwnerRef>> current(pods.size());
  std::vector<bool> done(pods.size(), false);
  for (std::size_t i = 0; i < pods.size(); ++i) {
    current[i] = pods[i].controller;
    if (current[i]) {
      out[i] = Workload{current[i]->kind, current[i]->name, true, {}};
    } else {
      done[i] = true;
    }
  }
  // Level by level, so each level's lookups of one kind can share a list.
  for (int level = 0; level < k_max_chain; ++level) {
    // Keyed by resource name, so the order of requests is the same on every run.
    std::map<std::string, std::pair<const Resource*, std::set<std::pair<std::string, std::string>>>> wanted;
    for (std::size_t i = 0; i < pods.size(); ++i) {
      if (done[i]) continue;
      const Resource* r = resource_for(*current[i]);
      if (r == nullptr) {
        done[i] = true;  // a kind with no well-known owner above it: the workload itself
        continue;
      }
      auto& w = wanted[r->display];
      w.first = r;
      w.second.insert({pods[i].namespace_name, current[i]->name});
    }
    if (wanted.empty()) break;
    for (const auto& [name, w] : wanted) fetch(*w.first, w.second);
    for (std::size_t i = 0; i < pods.size(); ++i) {
      if (done[i]) continue;
      const Resource* r = resource_for(*current[i]);
      const Entry* e = cached(*r, pods[i].namespace_name, current[i]->name);
      if (e == nullptr || !e->found) {
        out[i].resolved = false;
        out[i].note = e != nullptr ? e->problem : "interrupted";
        done[i] = true;
        continue;
      }
      if (!e->facts.controller) {
        done[i] = true;  // e.g. a ReplicaSet created by hand: it is the workload
        continue;
      }
      current[i] = e->facts.controller;
      out[i] = Workload{current[i]->kind, current[i]->name, true, {}};
    }
  }
  return out;
}

std::map<std::string, std::string> ObjectResolver::architectures(const std::set<std::string>& nodes) {
  std::set<std::pair<std::string, std::string>> names;
  for (const auto& n : nodes) {
    if (!n.empty()) names.insert({std::string(), n});
  }
  fetch(k_nodes, names);
  std::map<std::string, std::string> out;
  for (const auto& n : nodes) {
    const Entry* e = n.empty() ? nullptr : cached(k_nodes, std::string(), n);
    out[n] = e != nullptr && e->found ? e->facts.architecture : std::string();
  }
  return out;
}

}  // namespace ir::triage
