#include "cmd/baseline.hpp"

#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "build_info.hpp"
#include "cmd/errors.hpp"
#include "cmd/output.hpp"
#include "kube/api.hpp"
#include "triage/drift.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

struct BaselineCliOptions {
  std::vector<std::string> targets;  // POD... or KIND/NAME
  std::string output;                // the file to write (required)
  std::size_t max_pods = 5;
  std::size_t parallel = 4;
  std::vector<std::string> paths{"/tmp", "/var/tmp", "/dev/shm", "/root", "/home"};
  std::string max_file_bytes;
  std::string timeout;
  bool ephemeral = false;
  std::string debug_image = "busybox";
  bool ptrace = false;
};

// A workload kind as kubectl spells it (deployment, deploy, deployments ...) → its singular name.
std::optional<std::string> workload_kind(std::string kind) {
  kind = util::to_lower(kind);
  static const std::map<std::string, std::string> k_kinds = {
      {"deployment", "deployment"},   {"deployments", "deployment"}, {"deploy", "deployment"},
      {"statefulset", "statefulset"}, {"statefulsets", "statefulset"}, {"sts", "statefulset"},
      {"daemonset", "daemonset"},     {"daemonsets", "daemonset"},   {"ds", "daemonset"},
      {"replicaset", "replicaset"},   {"replicasets", "replicaset"}, {"rs", "replicaset"}};
  const auto it = k_kinds.find(kind);
  if (it == k_kinds.end()) return std::nullopt;
  return it->second;
}

// The targets: pods ("NAME", "pod/NAME", "NS/pod/NAME") or one workload ("deployment/NAME").
Result<triage::BaselineTarget> parse_targets(const std::vector<std::string>& args, const std::string& default_ns) {
  triage::BaselineTarget t;
  for (const auto& a : args) {
    const auto slash = a.find('/');
    if (slash != std::string::npos && a.find('/', slash + 1) == std::string::npos) {
      if (auto kind = workload_kind(a.substr(0, slash))) {
        if (!t.workload_kind.empty() || !t.pods.empty() || args.size() > 1) {
          return fail(Errc::usage, "give one workload, or pods, not both");
        }
        t.workload_kind = *kind;
        t.workload_name = a.substr(slash + 1);
        if (t.workload_name.empty()) return fail(Errc::usage, util::quoted(a, util::Cap::field) + ": no name");
        continue;
      }
    }
    IR_TRY(ref, parse_pod_ref(a));
    if (!ref.namespace_name.empty()) {
      if (!t.namespace_name.empty() && t.namespace_name != ref.namespace_name) {
        return fail(Errc::usage, "the pods of one baseline must be in one namespace");
      }
      t.namespace_name = ref.namespace_name;
    }
    t.pods.push_back(ref.name);
  }
  if (t.namespace_name.empty()) t.namespace_name = default_ns;
  return t;
}

int run_baseline_create(const BaselineCliOptions& o, const GlobalOptions& global, Io& io) {
  if (o.output.empty() || o.output == "-") {
    return exit_with(io, Error(Errc::usage, "-o FILE is required (the baseline file to write)"));
  }
  if (o.parallel < 1 || o.max_pods < 1) {
    return exit_with(io, Error(Errc::usage, "--parallel and --max-pods must be at least 1"));
  }
  triage::BaselineOptions options;
  options.max_pods = o.max_pods;
  options.snapshot.parallel = o.parallel;
  options.snapshot.paths = o.paths;
  options.snapshot.ephemeral = o.ephemeral;
  options.snapshot.debug_image = o.debug_image;
  options.snapshot.ptrace = o.ptrace;
  if (!o.max_file_bytes.empty()) {
    const auto n = util::parse_byte_size(o.max_file_bytes);
    if (!n) {
      return exit_with(
          io, Error(Errc::usage, "invalid --max-file-bytes " + util::quoted(o.max_file_bytes, util::Cap::word)));
    }
    options.snapshot.max_file_bytes = *n;
  }
  if (!o.timeout.empty()) {
    const auto d = util::parse_duration(o.timeout);
    if (!d || d->count() < 1000) {
      return exit_with(io, Error(Errc::usage, "invalid --timeout " + util::quoted(o.timeout, util::Cap::word) +
                                                  ": want a duration like 2m"));
    }
    options.snapshot.command_timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  for (const auto& p : o.paths) {
    if (p.empty() || p[0] != '/' || p.find("/../") != std::string::npos) {
      return exit_with(io, Error(Errc::usage, "invalid --path " + util::quoted(p, util::Cap::field) +
                                                  ": want an absolute path without \"..\""));
    }
  }
  auto session = open_session(global.kube, io);
  if (!session) return exit_with(io, session.error());
  auto& s = **session;
  auto target = parse_targets(o.targets, s.config.namespace_name.empty() ? "default" : s.config.namespace_name);
  if (!target) return exit_with(io, target.error(), k_exit_usage);
  options.target = *target;
  options.subject = target->workload_kind.empty() ? "pods " + util::join(target->pods, " ")
                                                  : target->workload_kind + "/" + target->workload_name;
  options.generator = std::string("kubectl-ir ") + build::k_version;
  io.err << fmt::format("baseline: {} in {} → {}\n", util::esc(options.subject, util::Cap::detail), util::esc(target->namespace_name),
                        util::esc(o.output, util::Cap::path));
  std::mutex progress_mutex;
  triage::DriftEnv env{*s.client, *s.connector, s.clock, nullptr, "", nullptr, nullptr, {},
                       [&io, &progress_mutex](const std::string& line) {
                         std::lock_guard lock(progress_mutex);
                         io.err << "baseline: " << line << "\n" << std::flush;
                       },
                       io.cancel, worker_connections(global.kube, io)};
  auto report = triage::create_baseline(env, options);
  if (!report) return exit_with(io, report.error());
  for (const auto& sk : report->skipped) {
    io.err << "skipped: " << util::esc(sk.namespace_name + "/" + sk.name, util::Cap::name) << ": " << util::esc(sk.reason, util::Cap::detail) << "\n";
  }
  for (const auto& n : report->notes) io.err << "note:    " << util::esc(n, util::Cap::detail) << "\n";
  const auto outcome = report->outcome();
  if (outcome == util::Outcome::interrupted) {
    io.err << "kubectl-ir: interrupted: no baseline written\n";
    return k_exit_interrupted;
  }
  if (outcome == util::Outcome::failed) {
    return exit_with(io, Error(Errc::failure, "baseline: no pod could be profiled: nothing written"));
  }
  if (auto w = util::write_file_atomic(o.output, report->text, 0644); !w) {
    return exit_with(io, w.error().context("writing " + o.output), k_exit_failure);
  }
  Table t({"POD", "NODE", "RELATION", "STATUS", "REASON"});
  for (const auto& m : report->profile.members) {
    t.add_row({m.namespace_name + "/" + m.name, m.node, forensics::to_string(m.relation),
               m.status == forensics::MemberStatus::ok ? "ok" : "failed", m.reason});
  }
  std::ostringstream table;
  t.print(table);
  io.err << table.str();
  io.out << fmt::format("{}  {} pods, image {}, created {}\n", o.output, std::count_if(report->profile.members.begin(), report->profile.members.end(), [](const auto& m) {
                          return m.status == forensics::MemberStatus::ok;
                        }),
                        report->profile.digest.empty() ? "?" : report->profile.digest, report->meta.created);
  return outcome == util::Outcome::ok ? k_exit_ok : k_exit_partial;
}

}  // namespace

Command setup_baseline(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<BaselineCliOptions>();
  CLI::App* app =
      add_command(root, "baseline", "Profile healthy pods into a baseline file for drift --baseline",
                  {
                      "kubectl ir baseline create deployment/web -n shop -o web-baseline.json",
                      "kubectl ir baseline create web-7d4b9c8f6-b8lqz web-7d4b9c8f6-m4hzt -n shop -o web-baseline.json",
                      "kubectl ir drift web-7d4b9c8f6-x2k9p -n shop --baseline web-baseline.json",
                  },
                  "Made before an incident, a baseline is what catches a compromise of every replica at once\n"
                  "(live siblings would all agree). Pods not Ready, on NotReady nodes, or running other image\n"
                  "digests than the rest are skipped; a workload's pods are spread over nodes (--max-pods).");
  app->require_subcommand(1);
  CLI::App* create =
      add_command(*app, "create", "Profile pods (or a workload's pods) into FILE",
                  {
                      "kubectl ir baseline create deployment/web -n shop -o web-baseline.json",
                      "kubectl ir baseline create shop/pod/web-7d4b9c8f6-b8lqz -o web-baseline.json --max-pods 3",
                  });
  create->add_option("TARGET", o->targets, "Pods (NAME, pod/NAME, NAMESPACE/pod/NAME) or one workload (deployment/NAME, statefulset/NAME, daemonset/NAME, replicaset/NAME)")
      ->required();
  create->add_option("-o,--output", o->output, "The baseline file to write (required)")->required();
  create->add_option("--max-pods", o->max_pods, "A workload's pods profiled at most (default 5)");
  create->add_option("--parallel", o->parallel, "Snapshots at once, each on its own connection (default 4)");
  create->add_option("--path", o->paths, "Root whose files are hashed (repeatable; default /tmp /var/tmp /dev/shm /root /home)");
  create->add_option("--max-file-bytes", o->max_file_bytes, "Larger files are listed, not hashed (default 64Mi)");
  create->add_option("--timeout", o->timeout, "Time limit of one command in a container (default 2m)");
  create->add_flag("--ephemeral", o->ephemeral, "For shell-less images: read through a debug container (added to every pod)");
  create->add_option("--debug-image", o->debug_image, "Image of the debug container (default busybox)");
  create->add_flag("--ptrace", o->ptrace, "Give the debug container SYS_PTRACE");
  return {app, [o, &global, create](Io& io) {
            if (!create->parsed()) return static_cast<int>(k_exit_usage);
            return run_baseline_create(*o, global, io);
          }};
}

}  // namespace ir::cli
