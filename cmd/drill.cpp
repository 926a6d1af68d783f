#include "cmd/drill.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "evidence/journal.hpp"
#include "triage/drill.hpp"
#include "util/crypto.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

json report_json(const triage::DrillReport& r, const std::string& case_id) {
  json rows = json::array();
  for (const auto& row : r.rows) {
    rows.push_back({{"check", row.check},
                    {"title", row.title},
                    {"required", row.required},
                    {"state", triage::to_string(row.state)},
                    {"ready", row.state == triage::RowState::ready},
                    {"seconds", row.seconds},
                    {"detail", row.detail}});
  }
  return {{"ready", r.ready()},
          {"case", case_id},
          {"namespace", r.namespace_name},
          {"namespaceCreated", r.namespace_created},
          {"seconds", r.seconds},
          {"cancelled", r.cancelled},
          {"checks", rows},
          {"created", r.created},
          {"removed", r.removed},
          {"leftBehind", r.left_behind}};
}

void print_table(const triage::DrillReport& r, const std::string& case_id, Io& io) {
  Table t({"CHECK", "REQUIRED", "STATUS", "SECONDS", "DETAIL"});
  for (const auto& row : r.rows) {
    t.add_row({row.title, row.required ? "yes" : "no", triage::to_string(row.state),
               row.state == triage::RowState::skipped ? "" : fmt::format("{:.1f}", row.seconds), row.detail});
  }
  t.print(io.out);
  const char* verdict = r.cancelled ? "INTERRUPTED" : r.ready() ? "READY" : "NOT READY";
  io.out << fmt::format("drill: {} in {:.1f}s (case {}; journal of what was created and removed)\n", verdict, r.seconds,
                        util::esc(case_id, util::Cap::word));
}

// A fresh private directory for the drill's bundle: $TMPDIR or /tmp.
Result<std::string> make_work_dir(Io& io) {
  std::string base = io.getenv("TMPDIR").value_or("/tmp");
  if (base.empty()) base = "/tmp";
  std::string tmpl = base + "/kubectl-ir-drill-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return fail(Errc::io, "drill: cannot create a directory in " + base);
  return tmpl;
}

}  // namespace

Command setup_drill(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<DrillCliOptions>();
  CLI::App* app = add_command(
      root, "drill", "Fire drill: prove on this cluster that isolate, collect and release work",
      {
          "kubectl ir drill                           # in a temporary namespace, deleted afterwards",
          "kubectl ir drill --ingress --check-namespace shop -o json",
          "kubectl ir drill -n ir-drills --image registry.internal/mirror/busybox:1.36",
      },
      "It creates a canary server and client, proves the client reaches the server, isolates the client and\n"
      "proves on the wire that its egress (and ingress) is blocked, collects it and verifies the bundle,\n"
      "releases it and proves connectivity is back, then deletes everything it created (also on failure and\n"
      "Ctrl-C). With -n it creates only objects labelled kubectl-ir/drill in that namespace.\n"
      "\n"
      "Exit status: 0 every required check ready, 3 one is not, 2 usage, 130 interrupted.");
  app->add_option("--image", o->image, "Canary image (needs sh, httpd, nc): a mirror on air-gapped clusters")
      ->capture_default_str();
  app->add_flag("--ingress", o->ingress, "Also prove that a quarantine blocks ingress");
  app->add_option("--check-namespace", o->check_namespaces,
                  "Also check RBAC there, and list the policies there that would defeat a quarantine (repeatable)");
  app->add_option("--timeout", o->timeout, "How long the canary pods may take to run")->capture_default_str();
  app->add_option("--settle", o->settle, "How long the network may take to apply a policy change")
      ->capture_default_str();
  app->add_option("-o,--output", o->output, "Output: json (default: a table)")->check(CLI::IsMember({"json"}));
  return {app, [o, &global](Io& io) { return run_drill(*o, global, io); }};
}

int run_drill(const DrillCliOptions& o, const GlobalOptions& global, Io& io) {
  const std::string& ns = global.kube.namespace_name;  // only an explicit -n: never the context's namespace
  if (const std::string why = triage::drill_namespace_refusal(ns); !why.empty()) {
    print_error(io,
                Error(Errc::usage, "drill: " + why).with_hint("leave out -n: the drill makes a temporary namespace"));
    return k_exit_usage;
  }
  for (const auto& c : o.check_namespaces) {
    if (c.empty() || c.size() > 63 ||
        c.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      print_error(io, Error(Errc::usage, "invalid --check-namespace " + util::quoted(c, util::Cap::word)));
      return k_exit_usage;
    }
  }
  const auto timeout = util::parse_duration(o.timeout);
  const auto settle = util::parse_duration(o.settle);
  if (!timeout || !settle || timeout->count() < 1000) {
    return exit_with(io, Error(Errc::usage, "invalid --timeout or --settle: want durations such as 60s, 10s"));
  }
  // The session's requests ignore Ctrl-C: after one, the drill skips what is left and must still
  // be able to delete what it created. The drill itself (and every exec) watches io.cancel.
  util::CancelToken never;
  Io session_io{io.out, io.err, io.getenv, &never, io.in};
  auto session = open_session(global.kube, session_io);
  if (!session) return exit_with(io, session.error());
  auto& s = **session;
  const std::string case_id = evidence::new_case_id(s.clock.now());
  auto journal = open_case(io, s, case_id);
  if (!journal) return exit_with(io, journal.error());
  auto work = make_work_dir(io);
  if (!work) return exit_with(io, work.error());
  triage::DrillOptions opts;
  opts.namespace_name = ns;
  opts.drill_id = util::to_lower(util::sha256_hex(util::random_bytes(8)).substr(0, 6));
  opts.image = o.image;
  opts.ingress = o.ingress;
  opts.check_namespaces = o.check_namespaces;
  opts.start_timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  opts.settle = *settle;
  opts.work_dir = *work;
  opts.case_id = case_id;
  opts.actor = actor_name(s);
  opts.cancel = io.cancel;
  opts.progress = [&io](const std::string& line) {
    io.err << "kubectl-ir: " << util::esc(line, util::Cap::detail) << "\n";
  };
  const json common = {{"context", s.config.context_name}, {"server", s.config.server}, {"actor", opts.actor}};
  auto report =
      triage::run_drill(*s.client, *s.connector, s.clock, opts, [&](const std::string& action, const json& fields) {
        json f = common;
        f.update(fields);
        if (auto r = (*journal)->log(action, f); !r) print_warning(io, "journal: " + r.error().message);
      });
  std::error_code ec;
  std::filesystem::remove_all(*work, ec);
  if (!report) return exit_with(io, report.error());
  for (const auto& l : report->left_behind) print_warning(io, "left behind: " + l);
  if (o.output == "json")
    io.out << to_json(report_json(*report, case_id));
  else
    print_table(*report, case_id, io);
  if (report->cancelled) return k_exit_interrupted;
  return report->ready() ? k_exit_ok : k_exit_partial;
}

}  // namespace ir::cli
