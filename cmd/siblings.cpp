#include "cmd/siblings.hpp"

#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;
using triage::GroupBy;
using triage::SiblingPod;
using triage::SiblingsReport;

namespace {

constexpr int k_progress_every = 20;  // pages between progress lines when stderr is not a terminal

const std::map<std::string, GroupBy>& group_names() {
  static const std::map<std::string, GroupBy> k{
      {"workload", GroupBy::workload}, {"namespace", GroupBy::namespace_name}, {"node", GroupBy::node}};
  return k;
}

const char* group_name(GroupBy g) {
  switch (g) {
    case GroupBy::workload: return "workload";
    case GroupBy::namespace_name: return "namespace";
    case GroupBy::node: return "node";
  }
  return "workload";
}


std::string plural(std::size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

std::string container_label(const triage::ContainerImage& c) {
  switch (c.type) {
    case triage::ContainerType::init: return "init:" + c.name;
    case triage::ContainerType::ephemeral: return "ephemeral:" + c.name;
    case triage::ContainerType::container: break;
  }
  return c.name;
}

std::string containers_cell(const SiblingPod& p) {
  std::vector<std::string> names;
  for (const auto& c : p.containers) names.push_back(container_label(c));
  return util::join(names, ",");
}

std::string workload_cell(const SiblingPod& p) {
  return triage::to_string(p.workload) + (p.workload.resolved ? "" : "?");
}

std::string phase_cell(const SiblingPod& p) {
  if (p.terminating) return "Terminating";
  return p.phase.empty() ? "<unknown>" : p.phase;
}

// Pods in the grouped order: the suspect's group first, then by key; by namespace/name inside.
std::vector<std::size_t> grouped_order(const std::vector<SiblingPod>& pods, GroupBy by,
                                       std::vector<std::size_t>* group_starts = nullptr) {
  std::vector<std::size_t> order;
  for (const auto& g : triage::group_siblings(pods, by)) {
    if (group_starts) group_starts->push_back(order.size());
    order.insert(order.end(), g.members.begin(), g.members.end());
  }
  return order;
}

json workload_json(const triage::Workload& w) {
  json j = {{"kind", w.kind}, {"name", w.name}, {"resolved", w.resolved}};
  if (!w.note.empty()) j["note"] = w.note;
  return j;
}

json pod_json(const SiblingPod& p, bool unknown) {
  json containers = json::array();
  for (const auto& c : p.containers) {
    json cj = {{"name", c.name}, {"type", triage::to_string(c.type)}, {"image", c.image}};
    if (unknown) {
      cj["pinned"] = c.pinned;
    } else {
      cj["imageID"] = c.image_id;
      cj["digest"] = c.id.digest;
      cj["digestKind"] = triage::to_string(c.id.kind);
    }
    containers.push_back(std::move(cj));
  }
  json j = {{"namespace", p.namespace_name},
            {"name", p.name},
            {"uid", p.uid},
            {"workload", workload_json(p.workload)},
            {"node", p.node},
            {"phase", p.phase},
            {"terminating", p.terminating},
            {"creationTimestamp", p.created},
            {"containers", std::move(containers)}};
  if (!unknown) {
    j["suspect"] = p.suspect;
    j["architecture"] = p.architecture;
  }
  return j;
}

std::string scope_text(const SiblingsReport& r) {
  std::string where;
  if (r.all_namespaces) {
    where = "all namespaces";
  } else {
    where = fmt::format("{} {} (namespace by namespace)", r.namespaces_listed.size() == 1 ? "namespace" : "namespaces",
                        util::join(r.namespaces_listed, ", "));
  }
  std::string restarted = r.restarts > 0 ? fmt::format(", restarted {}", plural(static_cast<std::size_t>(r.restarts), "time", "times")) : "";
  return fmt::format("{}: {} in {}{}", where, plural(static_cast<std::size_t>(r.pods_scanned), "pod", "pods"),
                     plural(static_cast<std::size_t>(r.pages), "page", "pages"), restarted);
}

std::string target_text(const triage::Target& t) {
  std::string kind = t.any_kind ? "as given" : (t.id.kind == triage::DigestKind::repo_digest ? "repository digest" : "image config id");
  std::string from = t.containers.empty() ? "" : ", container " + util::join(t.containers, ", ");
  return fmt::format("{} ({}{})", t.id.digest, kind, from);
}

// Progress on stderr: a self-updating line on a terminal, a line every k_progress_every pages
// with -v 2 or more otherwise; nothing in tests or pipelines.
class Progress {
 public:
  Progress(Io& io, int verbosity)
      // Only the process's real stderr can be a terminal; tests pass string streams.
      : m_io(io), m_tty(&io.err == &std::cerr && isatty(STDERR_FILENO) == 1), m_verbose(verbosity >= 2) {}
  void update(const triage::ScanProgress& p) {
    if (p.pages < 2) return;  // one page is quick: no progress worth showing
    const std::string line = fmt::format("kubectl-ir: listing pods in {}: {} pods, {} pages, {} matches", p.scope, p.pods,
                                         p.pages, p.matches);
    if (m_tty) {
      m_io.err << "\r\033[K" << util::esc(line, util::Cap::detail) << std::flush;
      m_shown = true;
    } else if (m_verbose && p.pages % k_progress_every == 0) {
      m_io.err << util::esc(line, util::Cap::detail) << "\n";
    }
  }
  void done() {
    if (m_shown) m_io.err << "\r\033[K" << std::flush;
    m_shown = false;
  }

 private:
  Io& m_io;
  bool m_tty;
  bool m_verbose;
  bool m_shown = false;
};

}  // namespace

json siblings_json(const SiblingsReport& r, GroupBy group_by) {
  json targets = json::array();
  for (const auto& t : r.targets) {
    targets.push_back({{"digest", t.id.digest},
                       {"kind", t.any_kind ? "given" : triage::to_string(t.id.kind)},
                       {"imageID", t.image_id},
                       {"image", t.image},
                       {"containers", t.containers}});
  }
  std::vector<std::size_t> starts;
  const auto order = grouped_order(r.siblings, group_by);
  json items = json::array();
  for (const auto i : order) items.push_back(pod_json(r.siblings[i], false));
  json groups = json::array();
  for (const auto& g : triage::group_siblings(r.siblings, group_by)) {
    json members = json::array();
    for (const auto i : g.members) members.push_back(r.siblings[i].namespace_name + "/" + r.siblings[i].name);
    groups.push_back({{"key", g.key}, {"count", g.members.size()}, {"pods", std::move(members)}});
  }
  json unknown = json::array();
  for (const auto& p : r.unknown) unknown.push_back(pod_json(p, true));
  json suspect = nullptr;
  if (!r.suspect_name.empty()) suspect = {{"namespace", r.suspect_namespace}, {"name", r.suspect_name}};
  return {{"apiVersion", "kubectl-ir/v1alpha1"},
          {"kind", "SiblingList"},
          {"suspect", suspect},
          {"digests", std::move(targets)},
          {"complete", r.complete()},
          {"partial", r.partial},
          {"partialReason", r.partial_reason},
          {"inconsistent", r.inconsistent},
          {"scope", {{"allNamespaces", r.all_namespaces}, {"namespaces", r.namespaces_listed}, {"denied", r.namespaces_denied}}},
          {"scanned", {{"pods", r.pods_scanned}, {"pages", r.pages}, {"restarts", r.restarts}, {"requests", r.requests}}},
          {"groupBy", group_name(group_by)},
          {"items", std::move(items)},
          {"groups", std::move(groups)},
          {"unknown", std::move(unknown)},
          {"notes", r.notes}};
}

void print_siblings_table(const SiblingsReport& r, GroupBy group_by, util::TimePoint now, std::ostream& out) {
  // The summary: what was searched for, where, and whether the answer is whole.
  for (std::size_t i = 0; i < r.targets.size(); ++i) {
    out << (i == 0 ? "Digest:    " : "           ") << util::esc(target_text(r.targets[i]), util::Cap::detail) << "\n";
  }
  if (!r.suspect_name.empty()) out << "Suspect:   " << util::esc(r.suspect_namespace + "/" + r.suspect_name, util::Cap::detail) << "\n";
  out << "Searched:  " << util::esc(scope_text(r), util::Cap::detail) << "\n";
  const auto groups = triage::group_siblings(r.siblings, group_by);
  const char* unit = group_by == GroupBy::workload ? "workload" : group_by == GroupBy::node ? "node" : "namespace";
  out << fmt::format("Found:     {} {} {}{}\n", plural(r.siblings.size(), "pod", "pods"),
                     group_by == GroupBy::node ? "on" : "in", plural(groups.size(), unit, (std::string(unit) + "s").c_str()),
                     r.unknown.empty() ? "" : "; " + plural(r.unknown.size(), "pod", "pods") + " not started (digest unknown)");
  if (r.partial) out << "Result:    PARTIAL: " << util::esc(r.partial_reason, util::Cap::detail) << "\n";
  if (r.inconsistent) out << "Result:    INCONSISTENT: pods changed during the list may be missing or repeated\n";

  std::set<std::string> archs;
  for (const auto& p : r.siblings) {
    if (!p.architecture.empty()) archs.insert(p.architecture);
  }
  const bool arch_column = archs.size() > 1;  // only worth a column when the matches differ
  const bool digest_column = r.targets.size() > 1;
  if (!r.siblings.empty()) {
    std::vector<std::string> headers{"NAMESPACE", "POD", "WORKLOAD", "NODE"};
    if (arch_column) headers.emplace_back("ARCH");
    headers.insert(headers.end(), {"PHASE", "CONTAINER"});
    if (digest_column) headers.emplace_back("DIGEST");
    headers.emplace_back("AGE");
    Table table(headers);
    for (const auto& g : groups) {
      table.add_break();
      for (const auto i : g.members) {
        const auto& p = r.siblings[i];
        std::vector<std::string> row{p.namespace_name, p.suspect ? p.name + " (suspect)" : p.name, workload_cell(p),
                                     p.node.empty() ? "<none>" : p.node};
        if (arch_column) row.push_back(p.architecture.empty() ? "<unknown>" : p.architecture);
        row.insert(row.end(), {phase_cell(p), containers_cell(p)});
        if (digest_column) {
          std::set<std::string> digests;
          for (const auto& c : p.containers) digests.insert(triage::short_digest(c.id.digest));
          row.push_back(util::join(std::vector<std::string>(digests.begin(), digests.end()), ","));
        }
        row.push_back(age_of(p.created, now));
        table.add_row(std::move(row));
      }
    }
    out << "\n";
    table.print(out);
  }
  if (!r.unknown.empty()) {
    out << "\nNot started (the image digest is known only once a container runs):\n";
    Table table({"NAMESPACE", "POD", "WORKLOAD", "NODE", "PHASE", "CONTAINER", "IMAGE", "AGE"});
    for (const auto& p : r.unknown) {
      std::vector<std::string> images;
      for (const auto& c : p.containers) images.push_back(c.image + (c.pinned ? " (pinned to the digest)" : ""));
      table.add_row({p.namespace_name, p.name, workload_cell(p), p.node.empty() ? "<none>" : p.node, phase_cell(p),
                     containers_cell(p), util::join(images, ","), age_of(p.created, now)});
    }
    table.print(out);
  }
  std::vector<std::string> notes = r.notes;
  const auto unresolved = [](const SiblingPod& p) { return !p.workload.resolved; };
  if (std::any_of(r.siblings.begin(), r.siblings.end(), unresolved) ||
      std::any_of(r.unknown.begin(), r.unknown.end(), unresolved)) {
    notes.emplace_back("a WORKLOAD ending in \"?\" is the last owner that could be read: the chain may go higher");
  }
  if (!notes.empty()) {
    out << "\nNotes:\n";
    for (const auto& n : notes) out << "  - " << util::esc(n, util::Cap::detail) << "\n";
  }
}

Command setup_siblings(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<SiblingsCliOptions>();
  CLI::App* app = add_command(
      root, "siblings", "Find every pod running the same image digest, in all namespaces",
      {
          "kubectl ir siblings web-7d4b9c8f6-x2k9p -n shop",
          "kubectl ir siblings web-7d4b9c8f6-x2k9p -n shop --group-by node -o yaml",
          "kubectl ir siblings --digest sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31",
          "kubectl ir siblings web-7d4b9c8f6-x2k9p -n shop -o name | xargs -n1 kubectl ir isolate",
      },
      "Pods are compared by the image digest their container runtime reports (imageID), never by\n"
      "repository or tag: a mirror's copy of the image matches, a re-pushed tag does not. A config id\n"
      "(docker://sha256:...) only matches a config id. The suspect's containers and init containers\n"
      "are searched for; its ephemeral (debug) containers only when named with -c. Containers that\n"
      "have not started have no digest yet: those naming the same repository (or pinned to the\n"
      "digest) are listed separately as unknown.\n"
      "\n"
      "-o name prints NAMESPACE/pod/NAME, one per line: siblings span namespaces, so the namespace is\n"
      "part of the name (kubectl's pod/NAME would drop it). POD may be given in that form too.\n"
      "\n"
      "Without permission to list pods in all namespaces, the namespaces that can be listed are\n"
      "searched (all of them if namespaces can be listed; else the suspect's and -n's) and the\n"
      "result is marked partial. Exit status: 0 complete, 3 partial or inconsistent (the output says\n"
      "why), 1 failure, 2 usage.");
  app->add_option("POD", o->pod, "The suspect pod: NAME, pod/NAME or NAMESPACE/pod/NAME");
  app->add_option("--digest", o->digest, "Search for this digest instead of a pod's (sha256:<hex> or an imageID)");
  app->add_option("-c,--container", o->container, "Only this container of the suspect (default: all but ephemeral)");
  app->add_option("-o,--output", o->output, "Output format: table (default), json, yaml, name")
      ->check(CLI::IsMember({"table", "json", "yaml", "name"}));
  app->add_option("--group-by", o->group_by, "Group by workload (default), namespace or node")
      ->check(CLI::IsMember({"workload", "namespace", "node"}));
  app->add_flag("-A,--all-namespaces", o->all_namespaces, "Search all namespaces (always the case; for kubectl habit)");
  app->add_option("--chunk-size", o->chunk_size, "Pods per page when listing (as kubectl's --chunk-size)")
      ->check(CLI::Range(1, 10000));
  return {app, [o, &global](Io& io) { return run_siblings(*o, global, io); }};
}

int run_siblings(const SiblingsCliOptions& o, const GlobalOptions& global, Io& io) {
  // complete and validate before any network traffic
  const auto usage = [&io](const std::string& message) {
    print_error(io, Error(Errc::usage, message).with_hint("kubectl ir siblings --help shows the usage"));
    return k_exit_usage;
  };
  auto format = parse_output_format(o.output, {OutputFormat::table, OutputFormat::json, OutputFormat::yaml, OutputFormat::name});
  if (!format) return usage(format.error().message);
  const auto group = group_names().find(o.group_by);
  if (group == group_names().end()) return usage("invalid --group-by \"" + o.group_by + "\": want workload, namespace or node");
  if (o.pod.empty() == o.digest.empty()) {
    return usage(o.pod.empty() ? "give the suspect POD or --digest sha256:..." : "give either a POD or --digest, not both");
  }
  if (!o.container.empty() && o.pod.empty()) return usage("-c/--container needs the suspect POD");
  PodRef ref;
  if (!o.pod.empty()) {
    auto parsed = parse_pod_ref(o.pod);
    if (!parsed) return usage(parsed.error().message);
    ref = *parsed;
    if (!ref.namespace_name.empty() && !global.kube.namespace_name.empty() && ref.namespace_name != global.kube.namespace_name) {
      return usage(fmt::format("the pod names namespace \"{}\" but -n says \"{}\"", ref.namespace_name, global.kube.namespace_name));
    }
  }

  auto session = open_session(global.kube, io);
  if (!session) return exit_with(io, session.error());
  const std::string context_namespace = (*session)->config.namespace_name;
  triage::SiblingsOptions so;
  so.namespace_name = ref.namespace_name.empty() ? context_namespace : ref.namespace_name;
  so.pod = ref.name;
  so.container = o.container;
  so.digest = o.digest;
  so.fallback_namespaces = {context_namespace};
  so.chunk_size = o.chunk_size;
  so.cancel = io.cancel;
  Progress progress(io, global.kube.verbosity);
  so.on_progress = [&progress](const triage::ScanProgress& p) { progress.update(p); };

  auto report = triage::find_siblings(*(*session)->client, so);
  progress.done();
  if (!report) return exit_with(io, report.error());
  const GroupBy by = group->second;
  switch (*format) {
    case OutputFormat::json: io.out << to_json(siblings_json(*report, by)); break;
    case OutputFormat::yaml: io.out << to_yaml(siblings_json(*report, by)); break;
    case OutputFormat::name:
      for (const auto i : grouped_order(report->siblings, by)) {
        const auto& p = report->siblings[i];
        io.out << util::esc(pod_name_ref(p.namespace_name, p.name), util::Cap::detail) << "\n";
      }
      if (!report->unknown.empty()) {
        std::vector<std::string> names;
        for (const auto& p : report->unknown) names.push_back(pod_name_ref(p.namespace_name, p.name));
        print_warning(io, fmt::format("not listed: {} not started, so {} digest is unknown: {}",
                                      plural(names.size(), "pod has", "pods have"), names.size() == 1 ? "its" : "their",
                                      util::join(names, " ")));
      }
      break;
    case OutputFormat::table: print_siblings_table(*report, by, (*session)->clock.now(), io.out); break;
  }
  if (!report->complete()) {
    if (report->partial) print_warning(io, "partial result: " + report->partial_reason);
    if (report->inconsistent) {
      print_warning(io, "inconsistent result: the list resumed on a newer state of the cluster after its continue token "
                        "expired; run the command again for a consistent answer");
    }
    return k_exit_partial;
  }
  return k_exit_ok;
}

}  // namespace ir::cli
