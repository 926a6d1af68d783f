#include "cmd/collect.hpp"

#include <unistd.h>

#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "build_info.hpp"
#include "cmd/exec.hpp"
#include "cmd/output.hpp"
#include "cmd/report.hpp"
#include "cmd/target.hpp"
#include "evidence/bundle.hpp"
#include "kube/api.hpp"
#include "triage/collect.hpp"
#include "triage/isolate.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

std::string esc(const std::string& s, std::size_t max = 256) { return util::escape_for_terminal(s, max); }

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return esc(buf, 255);
}

// "case-..._shop_web-7d4b9_20261121T163229Z.tar.gz"
std::string default_bundle_name(const std::string& case_id, const std::string& ns, const std::string& pod,
                                util::TimePoint now) {
  return fmt::format("{}_{}_{}_{}.tar.gz", case_id, evidence::safe_component(ns), evidence::safe_component(pod),
                     util::format_compact_utc(now));
}

// Validates and converts the flags (complete → validate, before any network traffic).
Result<triage::CollectOptions> to_options(const CollectCliOptions& o) {
  triage::CollectOptions c;
  c.containers = o.containers;
  const auto fs = triage::parse_fs_mode(o.fs);
  if (!fs) return fail(Errc::usage, "invalid --fs \"" + esc(o.fs, 32) + "\": want listing, archive or none");
  c.fs = *fs;
  if (!o.paths.empty()) {
    for (const auto& p : o.paths) {
      const bool climbs = p.find("/../") != std::string::npos || (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0);
      if (p.empty() || p[0] != '/' || climbs) {
        return fail(Errc::usage, "invalid --path \"" + esc(p, 128) + "\": want an absolute path without \"..\"");
      }
    }
    c.paths = o.paths;
  }
  const std::pair<const std::string*, std::uint64_t*> sizes[] = {
      {&o.max_log_bytes, &c.max_log_bytes}, {&o.max_file_bytes, &c.max_file_bytes}, {&o.max_archive_bytes, &c.max_archive_bytes}};
  const char* names[] = {"--max-log-bytes", "--max-file-bytes", "--max-archive-bytes"};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto v = parse_byte_size(*sizes[i].first);
    if (!v || *v == 0) {
      return fail(Errc::usage, fmt::format("invalid {} \"{}\": want e.g. 16Mi, 1Gi or a number of bytes", names[i],
                                           esc(*sizes[i].first, 32)));
    }
    *sizes[i].second = *v;
  }
  const auto timeout = util::parse_duration(o.timeout);
  if (!timeout || timeout->count() <= 0) return fail(Errc::usage, "invalid --timeout \"" + esc(o.timeout, 32) + "\": want e.g. 2m");
  c.command_timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  if (c.command_timeout.count() == 0) c.command_timeout = std::chrono::seconds(1);
  c.ephemeral = o.ephemeral;
  c.debug_image = o.debug_image;
  c.ptrace = o.ptrace;
  if (c.debug_image.empty()) return fail(Errc::usage, "--debug-image must not be empty");
  return c;
}

json plan_json(const triage::CollectOptions& c, const json& pod, const std::string& case_id, const std::string& bundle) {
  json containers = json::array();
  for (const auto& cs : pod.value("status", json::object()).value("containerStatuses", json::array())) {
    const std::string name = cs.value("name", "");
    if (!c.containers.empty() && std::find(c.containers.begin(), c.containers.end(), name) == c.containers.end()) continue;
    containers.push_back({{"name", name}, {"running", cs.value("state", json::object()).contains("running")},
                          {"imageID", cs.value("imageID", "")}});
  }
  return {{"dryRun", true},
          {"case", case_id},
          {"bundle", bundle},
          {"namespace", c.namespace_name},
          {"pod", c.pod},
          {"containers", containers},
          {"api", json::array({"pod", "owners", "node", "events", "networkpolicies", "logs (current and previous)"})},
          {"perContainer", json::array({"processes (ps, /proc walk)", "network (/proc/net/*, ss|netstat)",
                                        std::string("filesystem (") + triage::to_string(c.fs) + ")"})},
          {"paths", c.paths},
          {"maxFileBytes", c.max_file_bytes},
          {"ephemeral", c.ephemeral ? json("only for a shell-less container: image " + c.debug_image) : json(false)},
          {"note", "a dry run reads the pod only: no exec, no bundle, no change"}};
}

void print_summary(const triage::CollectReport& r, Io& io) {
  Table t({"STEP", "CONTAINER", "STATUS", "METHOD", "ARTIFACTS", "DETAIL"});
  for (const auto& s : r.steps) {
    t.add_row({s.step, s.container.empty() ? "-" : s.container, s.status, s.method, std::to_string(s.artifacts),
               util::escape_for_terminal(s.detail, 100)});
  }
  std::ostringstream out;
  t.print(out);
  io.err << out.str();
  for (const auto& n : r.not_collected) io.err << "not collected: " << esc(n, 600) << "\n";
}

}  // namespace

Command setup_collect(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<CollectCliOptions>();
  CLI::App* app = root.add_subcommand("collect", "Snapshot a pod's volatile state into an evidence bundle");
  app->footer(
      "Examples:\n"
      "  kubectl ir collect web-7d4b9c8f6-x2k9p -n shop\n"
      "  kubectl ir collect web-7d4b9c8f6-x2k9p -n shop --case case-42 --fs archive --path /tmp --path /var/www\n"
      "  kubectl ir collect payments-api-6c8f5d7b4-q7r2n -n shop --ephemeral --debug-image busybox:1.36\n"
      "\nOrder: API state (pod, owners, node, events, network policies, logs), then per container\n"
      "processes, network, filesystem. Nothing is written into the container. The bundle is written\n"
      "to <path>.partial and renamed when complete; its SHA-256 is printed on stdout\n"
      "(\"<sha256>  <path>\") and journaled. Exit 0: complete; 3: partial (see the summary); 1: no bundle.");
  app->add_option("pod", o->pod, "The pod (NAME, pod/NAME or NAMESPACE/pod/NAME)")->required();
  app->add_option("-c,--container", o->containers, "Only this container (repeatable; default: all)");
  app->add_option("--case", o->case_id, "Case id (default: the pod's case if isolated, else a new one)");
  app->add_option("--examiner", o->examiner, "Who collects (default: the API identity)");
  app->add_option("-o,--output", o->output, "Bundle path (default: <case>_<ns>_<pod>_<time>.tar.gz)");
  app->add_option("--fs", o->fs, "Filesystem: listing (list + hash), archive (also tar the paths), none");
  app->add_option("--path", o->paths, "Root to hash/archive (repeatable; default /tmp /var/tmp /dev/shm /root /home)");
  app->add_option("--max-log-bytes", o->max_log_bytes, "Per log, current and previous (default 16Mi)");
  app->add_option("--max-file-bytes", o->max_file_bytes, "Larger files are listed, not hashed (default 64Mi)");
  app->add_option("--max-archive-bytes", o->max_archive_bytes, "Bytes hashed/archived per container (default 4Gi)");
  app->add_option("--timeout", o->timeout, "Time limit of one command in the container (default 2m)");
  app->add_flag("--ephemeral", o->ephemeral, "For a shell-less image: add a debug container and collect through it");
  app->add_option("--debug-image", o->debug_image, "Image of the debug container (default busybox)");
  app->add_flag("--ptrace", o->ptrace, "Give the debug container SYS_PTRACE (to read other users' processes)");
  app->add_flag("--dry-run", o->dry_run, "Print the plan; no exec, no bundle, no change");
  return {app, [o, &global](Io& io) { return run_collect(*o, global, io); }};
}

int run_collect(const CollectCliOptions& o, const GlobalOptions& global, Io& io) {
  auto options = to_options(o);
  if (!options) {
    print_error(io, options.error());
    return k_exit_usage;
  }
  int code = k_exit_ok;
  auto target = open_target(o.pod, global, io, code);
  if (!target) return code;
  auto& s = *target->session;
  options->namespace_name = target->namespace_name;
  options->pod = target->pod;

  const auto started = s.clock.now();
  auto pod = triage::read_target_pod(*s.client, options->namespace_name, options->pod);
  if (!pod) {
    print_error(io, pod.error());
    return exit_code_for(pod.error());
  }
  auto chosen = choose_case(o.case_id, &*pod, started);
  if (!chosen) {
    print_error(io, chosen.error().context("--case"));
    return k_exit_usage;
  }
  const std::string case_id = *chosen;
  const std::string bundle_path = o.output.empty() ? default_bundle_name(case_id, options->namespace_name, options->pod, started)
                                                   : o.output;
  if (o.dry_run) {
    io.out << to_yaml(plan_json(*options, *pod, case_id, bundle_path));
    return k_exit_ok;
  }

  const std::string caller = caller_identity(s);
  const std::string examiner = actor_name(s, o.examiner);

  auto journal = open_journal(io, s, case_id);
  if (!journal) {
    print_error(io, journal.error());
    return exit_code_for(journal.error());
  }
  auto bundle = evidence::create_bundle(bundle_path, s.clock);
  if (!bundle) {
    print_error(io, bundle.error().context("bundle"));
    return k_exit_failure;
  }
  const json common = {{"namespace", options->namespace_name}, {"pod", options->pod}, {"bundle", bundle_path}};
  auto journal_append = [&](const std::string& action, const json& fields) {
    json f = common;
    f.update(fields);
    if (auto r = journal->append(action, f); !r) print_warning(io, "journal: " + r.error().message);
  };
  journal_append("collect.start", {{"examiner", examiner}, {"fs", o.fs}, {"paths", options->paths},
                                   {"uid", pod->value("metadata", json::object()).value("uid", "")}});

  io.err << fmt::format("collect: {}/{} into {} (case {})\n", esc(options->namespace_name), esc(options->pod),
                        esc(bundle_path, 1024), case_id);
  triage::CollectEnv env{*s.client, *s.connector, **bundle, s.clock, journal_append,
                         [&io](const std::string& line) { io.err << "collect: " << line << "\n" << std::flush; }, io.cancel};
  auto report = triage::collect(env, *options, *pod);
  if (!report) {
    // Nothing was collected but the pod itself: still seal what there is.
    const Error e = report.error();
    print_error(io, e);
    code = e.code == Errc::usage ? k_exit_usage : k_exit_failure;
    report = triage::CollectReport{};
    report->pod = *pod;
    report->not_collected.push_back(e.message);
  }

  triage::AcquisitionInfo info;
  info.case_id = case_id;
  info.examiner = examiner;
  info.caller = caller;
  info.tool_version = std::string(build::k_version) + " (" + std::string(build::k_git_commit) + ")";
  info.context = s.config.context_name;
  info.server = s.config.server;
  info.command_line = util::join(global.command_line, " ");
  info.started = util::format_rfc3339(started);
  info.ended = util::format_rfc3339(s.clock.now());
  info.host = hostname();
  const bool partial = report->partial();
  journal_append("collect.end", {{"result", report->cancelled ? "interrupted" : partial ? "partial" : "complete"},
                                 {"artifacts", (*bundle)->artifacts().size()},
                                 {"not_collected", report->not_collected},
                                 {"ephemeral_containers", report->ephemeral_containers}});

  const evidence::ArtifactMeta local{"kubectl-ir", "local", std::nullopt, false, ""};
  bool sealed_ok = true;
  if (auto a = (*bundle)->add("acquisition.log", triage::render_acquisition_log(info, *options, *report), local); !a) {
    print_warning(io, "acquisition.log: " + a.error().message);
    sealed_ok = false;
  }
  if (auto a = add_case_journal(**bundle, *journal); !a) {
    print_warning(io, "journal.jsonl: " + a.error().message);
    sealed_ok = false;
  }
  auto sha = (*bundle)->finish();
  print_summary(*report, io);
  if (!sha) {
    print_error(io, sha.error().context("bundle").with_hint("what was collected is in " + bundle_path + ".partial"));
    journal_append("collect.sealed", {{"error", sha.error().message}});
    return k_exit_failure;
  }
  journal_append("collect.sealed", {{"sha256", *sha}, {"artifacts", (*bundle)->artifacts().size()}});
  io.err << fmt::format("bundle: {} ({} artifacts{})\nsha256: {}\n", esc(bundle_path, 1024), (*bundle)->artifacts().size(),
                        partial ? ", PARTIAL" : "", *sha);
  io.out << *sha << "  " << bundle_path << "\n";
  if (code != k_exit_ok) return code;
  return partial || !sealed_ok ? k_exit_partial : k_exit_ok;
}

}  // namespace ir::cli
