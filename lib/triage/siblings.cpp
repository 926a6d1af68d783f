#include "triage/siblings.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "kube/api.hpp"
#include "kube/pager.hpp"
#include "triage/od_fields.hpp"
#include "util/strings.hpp"

namespace ir::triage {

namespace od = simdjson::ondemand;
using od_fields::text;

namespace {

// Not-started containers are kept until the end of the scan (the repositories that make them
// interesting are only known then); past this many pods they are counted, not kept, so a cluster
// full of pending pods cannot grow memory without bound.
constexpr std::size_t k_max_unknown_candidates = 20000;

// A pod as read from a page: views into the parser's buffers, valid until the next page. Only the
// pods that matter are copied out.
struct ContainerView {
  std::string_view name;
  std::string_view image;         // spec
  std::string_view status_image;  // status.image
  std::string_view image_id;
  ContainerType type = ContainerType::container;
};

struct PodView {
  std::string_view namespace_name, name, uid, node, phase, created;
  bool terminating = false;
  std::string_view owner_api_version, owner_kind, owner_name;  // the controller ownerRef, if any
  std::vector<ContainerView> containers;  // capacity reused from pod to pod

  void clear() {
    namespace_name = name = uid = node = phase = created = {};
    owner_api_version = owner_kind = owner_name = {};
    terminating = false;
    containers.clear();
  }
  // Spec and status entries meet here by (type, name), in whichever order they come.
  ContainerView& container(ContainerType type, std::string_view cname) {
    for (auto& c : containers) {
      if (c.type == type && c.name == cname) return c;
    }
    containers.push_back(ContainerView{cname, {}, {}, {}, type});
    return containers.back();
  }
};

// The readers below walk each object's fields once, in document order (the On-Demand parser is
// forward-only), and read leaves with error codes: a value of an unexpected type reads as absent.
// Structural errors (truncation, invalid UTF-8) throw simdjson_error, caught per page.

void read_owner(od::value refs, PodView& pod) {
  od::array arr;
  if (refs.get_array().get(arr) != simdjson::SUCCESS) return;
  for (auto r : arr) {
    od::object o;
    if (r.get_object().get(o) != simdjson::SUCCESS) continue;
    std::string_view api_version, kind, name;
    bool controller = false;
    for (auto f : o) {
      const auto key = f.key().value();
      if (key == "apiVersion") api_version = text(f.value());
      else if (key == "kind") kind = text(f.value());
      else if (key == "name") name = text(f.value());
      else if (key == "controller") {
        bool b = false;
        controller = f.value().get_bool().get(b) == simdjson::SUCCESS && b;
      }
    }
    if (controller && !kind.empty() && !name.empty() && pod.owner_kind.empty()) {
      pod.owner_api_version = api_version;
      pod.owner_kind = kind;
      pod.owner_name = name;
    }
  }
}

// spec.containers / initContainers / ephemeralContainers (name, image) and
// status.containerStatuses / initContainerStatuses / ephemeralContainerStatuses (name, image, imageID).
void read_containers(od::value list, ContainerType type, bool status, PodView& pod) {
  od::array arr;
  if (list.get_array().get(arr) != simdjson::SUCCESS) return;
  for (auto c : arr) {
    od::object o;
    if (c.get_object().get(o) != simdjson::SUCCESS) continue;
    std::string_view name, image, image_id;
    for (auto f : o) {
      const auto key = f.key().value();
      if (key == "name") name = text(f.value());
      else if (key == "image") image = text(f.value());
      else if (status && key == "imageID") image_id = text(f.value());
    }
    auto& view = pod.container(type, name);
    if (status) {
      view.status_image = image;
      view.image_id = image_id;
    } else {
      view.image = image;
    }
  }
}

void read_pod(od::object obj, PodView& pod) {
  pod.clear();
  for (auto field : obj) {
    const auto key = field.key().value();
    od::object sub;
    if (key != "metadata" && key != "spec" && key != "status") continue;
    if (field.value().get_object().get(sub) != simdjson::SUCCESS) continue;
    if (key == "metadata") {
      for (auto m : sub) {
        const auto k = m.key().value();
        if (k == "name") pod.name = text(m.value());
        else if (k == "namespace") pod.namespace_name = text(m.value());
        else if (k == "uid") pod.uid = text(m.value());
        else if (k == "creationTimestamp") pod.created = text(m.value());
        else if (k == "deletionTimestamp") pod.terminating = !text(m.value()).empty();
        else if (k == "ownerReferences") read_owner(m.value(), pod);
      }
    } else if (key == "spec") {
      for (auto s : sub) {
        const auto k = s.key().value();
        if (k == "nodeName") pod.node = text(s.value());
        else if (k == "containers") read_containers(s.value(), ContainerType::container, false, pod);
        else if (k == "initContainers") read_containers(s.value(), ContainerType::init, false, pod);
        else if (k == "ephemeralContainers") read_containers(s.value(), ContainerType::ephemeral, false, pod);
      }
    } else {
      for (auto s : sub) {
        const auto k = s.key().value();
        if (k == "phase") pod.phase = text(s.value());
        else if (k == "containerStatuses") read_containers(s.value(), ContainerType::container, true, pod);
        else if (k == "initContainerStatuses") read_containers(s.value(), ContainerType::init, true, pod);
        else if (k == "ephemeralContainerStatuses") read_containers(s.value(), ContainerType::ephemeral, true, pod);
      }
    }
  }
}

// Calls `on_pod` for every item of a PodList page, with simdjson's On-Demand parser: it indexes
// the page at several GB/s (validating UTF-8 on the way) and materialises only the fields read,
// so neither time nor memory goes into the rest of each pod. Truncated or malformed pages fail as
// a whole; parts never read (other fields of a pod) are only checked for structure.
template <class F>
Result<void> for_each_pod(od::parser& parser, std::string& page, PodView& view, F&& on_pod) {
  page.reserve(page.size() + simdjson::SIMDJSON_PADDING);  // the SIMD parser reads ahead
  try {
    if (parser.capacity() < page.size()) {
      // Pages differ a little in size: room for the next ones too, so the parser's buffers are
      // allocated (and their memory faulted in) once, not on every larger page.
      if (const auto e = parser.allocate(page.size() + page.size() / 4); e != simdjson::SUCCESS) {
        return fail(Errc::failure, std::string("JSON parser: ") + simdjson::error_message(e));
      }
    }
    od::document doc = parser.iterate(simdjson::padded_string_view(page.data(), page.size(), page.capacity()));
    od::object list = doc.get_object();
    for (auto field : list) {
      if (field.key().value() != "items") continue;
      od::array items;
      if (field.value().get_array().get(items) != simdjson::SUCCESS) continue;  // "items": null — an empty list
      for (auto item : items) {
        od::object obj;
        if (item.get_object().get(obj) != simdjson::SUCCESS) continue;
        read_pod(obj, view);
        on_pod(view);
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    return fail(Errc::protocol, std::string("the pod list page is not valid JSON: ") + e.what());
  }
  return {};
}

std::string owned(std::string_view s) { return std::string(s); }

SiblingPod pod_from(const PodView& v) {
  SiblingPod p;
  p.namespace_name = owned(v.namespace_name);
  p.name = owned(v.name);
  p.uid = owned(v.uid);
  p.node = owned(v.node);
  p.phase = owned(v.phase);
  p.created = owned(v.created);
  p.terminating = v.terminating;
  if (!v.owner_kind.empty()) p.controller = OwnerRef{owned(v.owner_api_version), owned(v.owner_kind), owned(v.owner_name)};
  return p;
}

ContainerImage container_from(const ContainerView& c) {
  ContainerImage ci;
  ci.name = owned(c.name);
  ci.type = c.type;
  ci.image = owned(c.image.empty() ? c.status_image : c.image);
  ci.image_id = owned(c.image_id);
  return ci;
}

bool comparable(DigestKind k) { return k == DigestKind::repo_digest || k == DigestKind::config_id; }

void sort_and_dedupe(std::vector<SiblingPod>& pods) {
  // An inconsistent continuation may hand out a pod twice.
  std::stable_sort(pods.begin(), pods.end(), [](const SiblingPod& a, const SiblingPod& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });
  pods.erase(std::unique(pods.begin(), pods.end(),
                         [](const SiblingPod& a, const SiblingPod& b) {
                           return a.namespace_name == b.namespace_name && a.name == b.name;
                         }),
             pods.end());
}

}  // namespace

const char* to_string(ContainerType type) {
  switch (type) {
    case ContainerType::container: return "container";
    case ContainerType::init: return "init";
    case ContainerType::ephemeral: return "ephemeral";
  }
  return "container";
}

// ---- PodScanner ----

struct PodScanner::Impl {
  std::vector<Target> targets;
  std::string suspect_namespace, suspect_name;
  std::set<std::string> repositories;  // repositories the target image is known under
  std::vector<SiblingPod> matches;
  std::vector<SiblingPod> candidates;  // not matched, with not-started containers
  long long pods = 0, other_kind = 0, unrecognised = 0, dropped = 0;
  struct Mark {
    std::size_t matches = 0, candidates = 0;
    long long pods = 0, other_kind = 0, unrecognised = 0, dropped = 0;
  } mark;
  od::parser parser;  // reused: its buffers grow to the largest page once
  PodView view;

  void add_repository(std::string_view reference_or_repo, bool is_reference) {
    if (reference_or_repo.empty()) return;
    std::string repo = is_reference ? image_repository(reference_or_repo) : std::string(reference_or_repo);
    if (!repo.empty()) repositories.insert(std::move(repo));
  }

  // The target a started container matches, or -1.
  int match(const ImageDigest& id) const {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (same_image(targets[t].id, id, targets[t].any_kind)) return static_cast<int>(t);
    }
    return -1;
  }
  bool kind_searched(DigestKind k) const {
    return std::any_of(targets.begin(), targets.end(), [k](const Target& t) { return t.any_kind || t.id.kind == k; });
  }
  bool pinned_to_target(std::string_view reference) const {
    const std::string d = pinned_digest(reference);
    if (d.empty()) return false;
    return std::any_of(targets.begin(), targets.end(), [&](const Target& t) {
      return t.id.digest == d && (t.any_kind || t.id.kind == DigestKind::repo_digest);
    });
  }

  void judge(const PodView& v) {
    ++pods;
    SiblingPod* hit = nullptr;
    bool not_started = false;
    for (const auto& c : v.containers) {
      if (c.image_id.empty()) {
        not_started = true;
        continue;
      }
      ImageDigest id = parse_image_id(c.image_id);
      const int t = match(id);
      if (t < 0) {
        if (id.kind == DigestKind::unrecognised) ++unrecognised;
        else if (comparable(id.kind) && !kind_searched(id.kind)) ++other_kind;
        continue;
      }
      if (hit == nullptr) {
        matches.push_back(pod_from(v));
        hit = &matches.back();
        hit->suspect = v.namespace_name == suspect_namespace && v.name == suspect_name && !suspect_name.empty();
      }
      ContainerImage ci = container_from(c);
      ci.id = std::move(id);
      ci.target = t;
      // The same image under other names (a mirror, a tag) makes not-started pods that name it
      // worth listing as unknown.
      add_repository(ci.image, true);
      add_repository(ci.id.repository, false);
      hit->containers.push_back(std::move(ci));
    }
    if (hit != nullptr || !not_started) return;
    if (candidates.size() >= k_max_unknown_candidates) {
      ++dropped;
      return;
    }
    SiblingPod p = pod_from(v);
    for (const auto& c : v.containers) {
      if (c.image_id.empty()) p.containers.push_back(container_from(c));
    }
    candidates.push_back(std::move(p));
  }
};

PodScanner::PodScanner(std::vector<Target> targets, std::string suspect_namespace, std::string suspect_name)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->targets = std::move(targets);
  m_impl->suspect_namespace = std::move(suspect_namespace);
  m_impl->suspect_name = std::move(suspect_name);
  for (const auto& t : m_impl->targets) {
    m_impl->add_repository(t.image, true);
    m_impl->add_repository(t.id.repository, false);
  }
}

PodScanner::~PodScanner() = default;

Result<void> PodScanner::consume(std::string& page) {
  auto& impl = *m_impl;
  return for_each_pod(impl.parser, page, impl.view, [&impl](const PodView& v) { impl.judge(v); });
}

void PodScanner::checkpoint() {
  auto& i = *m_impl;
  i.mark = {i.matches.size(), i.candidates.size(), i.pods, i.other_kind, i.unrecognised, i.dropped};
}

void PodScanner::rollback() {
  auto& i = *m_impl;
  i.matches.resize(i.mark.matches);
  i.candidates.resize(i.mark.candidates);
  i.pods = i.mark.pods;
  i.other_kind = i.mark.other_kind;
  i.unrecognised = i.mark.unrecognised;
  i.dropped = i.mark.dropped;
}

const std::vector<SiblingPod>& PodScanner::matches() const { return m_impl->matches; }

std::vector<SiblingPod> PodScanner::take_matches() { return std::move(m_impl->matches); }

std::vector<SiblingPod> PodScanner::unknown() const {
  std::vector<SiblingPod> out;
  for (const auto& cand : m_impl->candidates) {
    SiblingPod p = cand;
    p.containers.clear();
    for (auto c : cand.containers) {
      c.pinned = m_impl->pinned_to_target(c.image);
      if (c.pinned || m_impl->repositories.count(image_repository(c.image)) != 0) p.containers.push_back(std::move(c));
    }
    if (!p.containers.empty()) out.push_back(std::move(p));
  }
  return out;
}

long long PodScanner::pods() const { return m_impl->pods; }
long long PodScanner::other_kind() const { return m_impl->other_kind; }
long long PodScanner::unrecognised() const { return m_impl->unrecognised; }
long long PodScanner::unknown_dropped() const { return m_impl->dropped; }

// ---- targets ----

Result<std::vector<Target>> suspect_targets(std::string pod_json, const std::string& container,
                                            std::vector<std::string>* skipped) {
  // The suspect goes through the same reader as every listed pod, so both agree on what a
  // container status says.
  std::string page = "{\"items\":[" + pod_json + "]}";
  od::parser parser;
  PodView view;
  std::vector<std::string> names;  // owned copies: the views die with the parser's next use
  std::vector<Target> targets;
  bool seen = false;
  auto r = for_each_pod(parser, page, view, [&](const PodView& v) {
    if (seen) return;
    seen = true;
    // Containers, then init, then ephemeral ones, whatever the order of the JSON's keys.
    std::vector<ContainerView> ordered = v.containers;
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const ContainerView& a, const ContainerView& b) { return a.type < b.type; });
    for (const auto& c : ordered) {
      names.push_back(owned(c.name));
      if (container.empty() ? c.type == ContainerType::ephemeral : c.name != container) continue;
      const std::string cname = owned(c.name);
      ImageDigest id = parse_image_id(c.image_id);
      if (id.kind == DigestKind::none) {
        if (skipped) skipped->push_back(fmt::format("container {} has not started: its image digest is not known yet", cname));
        continue;
      }
      if (id.kind == DigestKind::unrecognised) {
        if (skipped) {
          skipped->push_back(fmt::format("container {} reports imageID \"{}\", which is not a digest", cname,
                                         util::esc(c.image_id, util::Cap::field)));
        }
        continue;
      }
      auto same = std::find_if(targets.begin(), targets.end(), [&](const Target& t) {
        return t.id.kind == id.kind && t.id.digest == id.digest;
      });
      if (same != targets.end()) {
        same->containers.push_back(cname);
        continue;
      }
      Target t;
      t.id = std::move(id);
      t.image_id = owned(c.image_id);
      t.containers.push_back(cname);
      t.image = owned(c.image.empty() ? c.status_image : c.image);
      targets.push_back(std::move(t));
    }
  });
  if (!r) return unexpected(r.error());
  if (!seen) return fail(Errc::protocol, "the pod is not a JSON object");
  if (!container.empty() && std::find(names.begin(), names.end(), container) == names.end()) {
    return fail(Errc::usage, fmt::format("the pod has no container \"{}\" (it has: {})", container, util::join(names, ", ")));
  }
  if (targets.empty()) {
    return unexpected(Error(Errc::failure, container.empty() ? "no container of the pod has an image digest yet"
                                                             : "container " + container + " has no image digest yet")
                          .with_hint("a container's imageID appears once it has started; pass --digest sha256:... "
                                     "(from a running replica or the registry) to search anyway"));
  }
  return targets;
}

Result<Target> digest_target(const std::string& digest) {
  Target t;
  t.id = parse_image_id(digest);
  if (!comparable(t.id.kind)) {
    return fail(Errc::usage, fmt::format("invalid --digest \"{}\": want sha256:<64 hex digits>, a 64-hex image id, or an "
                                         "imageID such as repo@sha256:<hex>",
                                         digest));
  }
  t.image_id = util::trim(digest);
  t.any_kind = true;  // the user may not know whether it is a repository digest or a config id
  return t;
}

// ---- grouping ----

std::vector<SiblingGroup> group_siblings(const std::vector<SiblingPod>& pods, GroupBy by) {
  std::map<std::string, SiblingGroup> groups;
  for (std::size_t i = 0; i < pods.size(); ++i) {
    const auto& p = pods[i];
    std::string key;
    switch (by) {
      case GroupBy::workload: key = p.namespace_name + "/" + to_string(p.workload); break;
      case GroupBy::namespace_name: key = p.namespace_name; break;
      case GroupBy::node: key = p.node.empty() ? "<none>" : p.node; break;
    }
    auto& g = groups[key];
    g.key = key;
    g.members.push_back(i);
    g.has_suspect = g.has_suspect || p.suspect;
  }
  std::vector<SiblingGroup> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  // The suspect's own group first: it is where a responder looks first.
  std::stable_partition(out.begin(), out.end(), [](const SiblingGroup& g) { return g.has_suspect; });
  return out;
}

// ---- the search ----

namespace {

struct ListOutcome {
  std::optional<Error> error;
  bool failed_first = false;  // the error came before any page: nothing was read
};

bool is_cancelled(const SiblingsOptions& o) { return o.cancel != nullptr && o.cancel->cancelled(); }

// Fetches the pages of a list on a second thread while the caller parses the previous one, so
// the transfer (TLS, gzip) and the parse overlap instead of adding up. At most one fetched page
// waits, so memory stays at a few pages. Only this thread uses the pager (and its client) until
// the prefetcher is destroyed.
class Prefetcher {
 public:
  explicit Prefetcher(kube::Pager& pager) : m_pager(pager) { m_thread = std::thread([this] { run(); }); }
  ~Prefetcher() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();  // a request in flight finishes first (Ctrl-C aborts it in the transport)
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Hands back a parsed page's body: the next fetch reuses its memory.
  void recycle(std::string body) {
    std::lock_guard lock(m_mutex);
    m_spare = std::move(body);
  }

  // The next page, as Pager::next_raw() would return it.
  Result<std::optional<kube::RawPage>> next() {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [this] { return m_ready.has_value(); });
    auto page = std::move(*m_ready);
    m_ready.reset();
    m_cv.notify_all();
    return page;
  }

 private:
  void run() {
    for (;;) {
      std::string buffer;
      {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [this] { return m_stop || !m_ready.has_value(); });
        if (m_stop) return;
        buffer = std::move(m_spare);
      }
      auto page = m_pager.next_raw(std::move(buffer));
      const bool last = !page || !page->has_value();
      {
        std::lock_guard lock(m_mutex);
        m_ready.emplace(std::move(page));
      }
      m_cv.notify_all();
      if (last) return;
    }
  }

  kube::Pager& m_pager;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::optional<Result<std::optional<kube::RawPage>>> m_ready;
  std::string m_spare;  // a parsed page's body, to be filled again
  bool m_stop = false;
  std::thread m_thread;  // last: started once everything above exists
};

ListOutcome scan_list(kube::Client& client, const SiblingsOptions& o, const std::string& ns, PodScanner& scanner,
                      SiblingsReport& report) {
  kube::ListOptions lo;
  lo.namespace_name = ns;
  lo.limit = o.chunk_size;
  kube::Pager pager = kube::list_pods(client, lo);
  scanner.checkpoint();
  ListOutcome out;
  int pages = 0;
  ScanProgress progress;
  progress.scope = ns.empty() ? "all namespaces" : "namespace " + ns;
  {
    Prefetcher prefetch(pager);
    for (;;) {
      if (is_cancelled(o)) {
        out.error = Error(Errc::cancelled, "interrupted");
        break;
      }
      auto page = prefetch.next();
      if (!page) {
        out.error = page.error();
        out.failed_first = pages == 0;
        break;
      }
      if (!page->has_value()) break;
      if ((*page)->restarted) scanner.rollback();  // the list starts over: drop this list's pages
      if (auto r = scanner.consume((*page)->body); !r) {
        out.error = r.error().context(ns.empty() ? "list pods in all namespaces" : "list pods in " + ns);
        out.failed_first = pages == 0;
        break;
      }
      prefetch.recycle(std::move((*page)->body));
      ++pages;
      ++report.pages;
      if (o.on_progress) {
        progress.pods = scanner.pods();
        progress.pages = report.pages;
        progress.matches = static_cast<long long>(scanner.matches().size());
        o.on_progress(progress);
      }
    }
  }  // the fetching thread has stopped: the pager is ours again
  report.restarts += pager.restarts();
  report.inconsistent = report.inconsistent || pager.inconsistent();
  return out;
}

// Namespace names, if the user may list them.
Result<std::vector<std::string>> list_namespaces(kube::Client& client, int chunk_size) {
  kube::Pager pager(client, "/api/v1/namespaces", {}, chunk_size, "list namespaces");
  std::vector<std::string> names;
  for (;;) {
    IR_TRY(page, pager.next_raw());
    if (!page) break;
    if (page->restarted) names.clear();
    IR_TRY(facts, parse_object_facts(page->body));
    for (auto& f : facts) names.push_back(std::move(f.name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void add_partial(SiblingsReport& r, const std::string& reason) {
  r.partial = true;
  r.partial_reason += (r.partial_reason.empty() ? "" : "; ") + reason;
}

// The search without cluster-wide list permission: namespace by namespace.
Result<void> scan_namespaces(kube::Client& client, const SiblingsOptions& o, PodScanner& scanner,
                             SiblingsReport& report, const Error& cluster_error) {
  report.all_namespaces = false;
  std::vector<std::string> candidates;
  auto all = list_namespaces(client, o.chunk_size);
  const bool enumerated = all.has_value();
  if (all) {
    candidates = std::move(*all);
  } else {
    if (all.error().code == Errc::cancelled) return unexpected(all.error());
    std::vector<std::string> known{o.namespace_name};
    known.insert(known.end(), o.fallback_namespaces.begin(), o.fallback_namespaces.end());
    for (auto& ns : known) {
      if (!ns.empty() && std::find(candidates.begin(), candidates.end(), ns) == candidates.end()) candidates.push_back(ns);
    }
  }
  std::vector<std::string> failures;
  for (const auto& ns : candidates) {
    auto outcome = scan_list(client, o, ns, scanner, report);
    if (!outcome.error) {
      report.namespaces_listed.push_back(ns);
      continue;
    }
    const Error& e = *outcome.error;
    if (e.code == Errc::cancelled) return unexpected(e);
    if (outcome.failed_first && e.code == Errc::forbidden) {
      report.namespaces_denied.push_back(ns);
      continue;
    }
    if (!outcome.failed_first) report.namespaces_listed.push_back(ns);
    failures.push_back(e.message);
  }
  if (report.namespaces_listed.empty()) {
    Error e = failures.empty() ? cluster_error : Error(Errc::failure, failures.front());
    return unexpected(e.with_hint("siblings needs list on pods: in all namespaces, or at least in the suspect's (kubectl ir "
                                  "doctor shows what is allowed)"));
  }
  if (!enumerated) {
    add_partial(report, fmt::format("no permission to list pods in all namespaces (nor to list namespaces): searched only {} {}",
                                    report.namespaces_listed.size() == 1 ? "namespace" : "namespaces",
                                    util::join(report.namespaces_listed, ", ")));
  }
  if (!report.namespaces_denied.empty()) {
    add_partial(report, fmt::format("pods in {} could not be listed (forbidden)", util::join(report.namespaces_denied, ", ")));
  }
  for (const auto& f : failures) add_partial(report, f);
  return {};
}

void add_digest_notes(SiblingsReport& r) {
  bool repo = false;
  for (const auto& t : r.targets) {
    if (t.any_kind) {
      repo = true;
      continue;
    }
    if (t.id.kind == DigestKind::config_id) {
      r.notes.push_back(fmt::format(
          "the suspect's container {} reports an image config id ({}), not a repository digest: only pods whose runtime also "
          "reports a config id can match it; {} started containers report repository digests and could not be compared",
          util::join(t.containers, ", "), t.image_id, r.other_kind));
    } else {
      repo = true;
    }
  }
  const bool any_repo_target = std::any_of(r.targets.begin(), r.targets.end(), [](const Target& t) {
    return !t.any_kind && t.id.kind == DigestKind::repo_digest;
  });
  if (any_repo_target && r.other_kind > 0) {
    r.notes.push_back(fmt::format("{} started containers report only an image config id (e.g. docker://sha256:...): it cannot "
                                  "be compared with a repository digest, so they were not matched",
                                  r.other_kind));
  }
  if (r.unrecognised > 0) {
    r.notes.push_back(fmt::format("{} started containers report an imageID that is not a digest: they were not compared",
                                  r.unrecognised));
  }
  if (!repo || r.siblings.empty()) return;
  std::map<std::string, int> archs;
  for (const auto& p : r.siblings) ++archs[p.architecture.empty() ? "unknown" : p.architecture];
  std::vector<std::string> parts;
  for (const auto& [a, n] : archs) parts.push_back(fmt::format("{} ({})", a, n));
  const std::size_t known = archs.size() - (archs.count("unknown") != 0 ? 1 : 0);
  if (known > 1) {
    r.notes.push_back("the matches run on several architectures: " + util::join(parts, ", ") +
                      ": the digest is a multi-arch index, the same on every architecture, while the image that runs differs "
                      "per architecture");
  } else {
    r.notes.push_back("a repository digest may name a multi-arch index, the same digest on every architecture; node "
                      "architectures of the matches: " +
                      util::join(parts, ", "));
  }
}

}  // namespace

Result<SiblingsReport> find_siblings(kube::Client& client, const SiblingsOptions& o) {
  const int requests_before = client.requests_sent();
  SiblingsReport report;
  std::vector<std::string> skipped;
  if (!o.digest.empty()) {
    IR_TRY(t, digest_target(o.digest));
    report.targets.push_back(std::move(t));
  } else {
    report.suspect_namespace = o.namespace_name;
    report.suspect_name = o.pod;
    IR_TRY(pod, kube::get_pod(client, o.namespace_name, o.pod));
    IR_TRY_CTX(targets, suspect_targets(pod.dump(), o.container, &skipped),
               fmt::format("pod {}/{}", o.namespace_name, o.pod));
    report.targets = std::move(targets);
  }
  for (auto& s : skipped) report.notes.push_back("the suspect's " + s + ": not searched for");

  {
    // The scanner (and its parser's page-sized buffers) lives only for the scan: owners are
    // resolved after it is gone, so the peaks of the two phases do not add up.
    PodScanner scanner(report.targets, report.suspect_namespace, report.suspect_name);
    auto cluster = scan_list(client, o, "", scanner, report);
    if (cluster.error) {
      const Error& e = *cluster.error;
      if (e.code == Errc::cancelled) return unexpected(e);
      if (cluster.failed_first && e.code == Errc::forbidden) {
        IR_CHECK(scan_namespaces(client, o, scanner, report, e));
      } else if (cluster.failed_first) {
        return unexpected(e);
      } else {
        add_partial(report, fmt::format("the list stopped after {} pages: {}", report.pages, e.message));
      }
    }
    report.unknown = scanner.unknown();
    report.siblings = scanner.take_matches();
    report.pods_scanned = scanner.pods();
    report.other_kind = scanner.other_kind();
    report.unrecognised = scanner.unrecognised();
    if (scanner.unknown_dropped() > 0) {
      report.notes.push_back(fmt::format("{} more pods with containers not started were not examined (too many to keep)",
                                         scanner.unknown_dropped()));
    }
  }
  sort_and_dedupe(report.siblings);
  sort_and_dedupe(report.unknown);
  if (report.restarts > 0 && !report.inconsistent) {
    report.notes.push_back("the list's continue token expired and the list was restarted from the beginning");
  }
  if (report.inconsistent) {
    report.notes.push_back("the list's continue token expired again: the rest was read from a newer state of the cluster, so "
                           "pods created or deleted meanwhile may be missing or repeated");
  }

  ObjectResolver resolver(client, ResolverOptions{o.max_owner_gets, o.chunk_size, o.cancel});
  std::vector<PodOwner> owners;
  for (const auto* list : {&report.siblings, &report.unknown}) {
    for (const auto& p : *list) owners.push_back({p.namespace_name, p.controller});
  }
  auto workloads = resolver.workloads(owners);
  std::size_t w = 0;
  for (auto* list : {&report.siblings, &report.unknown}) {
    for (auto& p : *list) p.workload = std::move(workloads[w++]);
  }
  const bool repo_search = std::any_of(report.targets.begin(), report.targets.end(), [](const Target& t) {
    return t.any_kind || t.id.kind == DigestKind::repo_digest;
  });
  if (o.architectures && repo_search && !report.siblings.empty()) {
    std::set<std::string> nodes;
    for (const auto& p : report.siblings) nodes.insert(p.node);
    const auto archs = resolver.architectures(nodes);
    for (auto& p : report.siblings) {
      if (const auto it = archs.find(p.node); it != archs.end()) p.architecture = it->second;
    }
  }
  if (is_cancelled(o)) return fail(Errc::cancelled, "interrupted");
  for (const auto& problem : resolver.problems()) report.notes.push_back("not resolved: " + problem);

  if (!report.suspect_name.empty()) {
    const bool found = std::any_of(report.siblings.begin(), report.siblings.end(), [](const SiblingPod& p) { return p.suspect; });
    if (!found) report.notes.push_back("the suspect itself was not in the list (deleted meanwhile, or not listed)");
  }
  add_digest_notes(report);
  report.requests = client.requests_sent() - requests_before;
  return report;
}

}  // namespace ir::triage
