#include "cmd/cli.hpp"

#include <algorithm>
#include <exception>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/collect.hpp"
#include "cmd/command.hpp"
#include "cmd/completion.hpp"
#include "cmd/doctor.hpp"
#include "cmd/drill.hpp"
#include "cmd/exec.hpp"
#include "cmd/isolate.hpp"
#include "cmd/report.hpp"
#include "cmd/run.hpp"
#include "cmd/siblings.hpp"
#include "cmd/verify.hpp"
#include "cmd/version.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

constexpr const char* k_description =
    "kubectl-ir: forensic triage of a suspicious pod — contain it, collect its volatile state with a chain of\n"
    "custody, and find every pod that runs the same image.";

// "did you mean" for a mistyped subcommand: the first argument that is not a flag.
std::string suggest_command(const std::vector<std::string>& args, const std::vector<Command>& commands) {
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c.app->get_name());
  for (const auto& a : args) {
    if (a.empty() || a[0] == '-') continue;
    if (std::find(names.begin(), names.end(), a) != names.end()) return {};
    return util::closest_match(a, names, 3);
  }
  return {};
}

// argv with credentials masked: "--token X", "--token=X" become "--token ***".
std::vector<std::string> mask_secrets(const std::vector<std::string>& args) {
  std::vector<std::string> out{"kubectl", "ir"};
  bool mask_next = false;
  for (const auto& a : args) {
    if (mask_next) {
      out.emplace_back("***");
      mask_next = false;
    } else if (a == "--token") {
      out.push_back(a);
      mask_next = true;
    } else if (a.rfind("--token=", 0) == 0) {
      out.emplace_back("--token=***");
    } else {
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace

int run(const std::vector<std::string>& args, Io& io) {
  try {
    CLI::App app{k_description, "kubectl ir"};
    app.require_subcommand(1);
    app.fallthrough();
    app.set_help_all_flag("--help-all", "Show help for every command");
    GlobalOptions global;
    add_kube_flags(app, global.kube);
    global.command_line = mask_secrets(args);

    std::vector<Command> commands;
    commands.push_back(setup_version(app, global));
    commands.push_back(setup_doctor(app, global));
    commands.push_back(setup_drill(app, global));
    commands.push_back(setup_exec(app, global));
    commands.push_back(setup_collect(app, global));
    commands.push_back(setup_run(app, global));
    commands.push_back(setup_playbooks(app, global));
    commands.push_back(setup_completion(app, global));
    commands.push_back(setup_isolate(app, global));
    commands.push_back(setup_release(app, global));
    commands.push_back(setup_siblings(app, global));
    commands.push_back(setup_verify(app, global));
    for (auto& c : commands) c.app->fallthrough();

    // Shell completion (kubectl_complete-ir and the scripts of `completion`): the words after
    // "kubectl ir", the last one being completed.
    if (!args.empty() && args.front() == "__complete") {
      print_completion(complete(app, std::vector<std::string>(args.begin() + 1, args.end()), io), io);
      return k_exit_ok;
    }

    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
    try {
      app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
      std::ostringstream help;
      const auto* sub = app.get_subcommands().empty() ? &app : app.get_subcommands().front();
      io.out << app.help(sub == &app ? "" : sub->get_name());
      return k_exit_ok;
    } catch (const CLI::CallForAllHelp&) {
      io.out << app.help("", CLI::AppFormatMode::All);
      return k_exit_ok;
    } catch (const CLI::ParseError& e) {
      Error err(Errc::usage, e.what());
      if (const auto guess = suggest_command(args, commands); !guess.empty()) {
        err = Error(Errc::usage, "unknown command \"" + util::escape_for_terminal(args.front(), 64) + "\"")
                  .with_hint("did you mean \"" + guess + "\"? (kubectl ir --help lists the commands)");
      } else {
        err = err.with_hint("kubectl ir --help shows the usage");
      }
      print_error(io, err);
      return k_exit_usage;
    }
    for (auto& c : commands) {
      if (c.app->parsed()) return c.run(io);
    }
    io.out << app.help();
    return k_exit_usage;
  } catch (const std::exception& e) {
    print_error(io, Error(Errc::failure, std::string("internal error: ") + e.what()));
    return k_exit_failure;
  }
}

}  // namespace ir::cli
