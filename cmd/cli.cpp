#include "cmd/cli.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/baseline.hpp"
#include "cmd/collect.hpp"
#include "cmd/command.hpp"
#include "cmd/completion.hpp"
#include "cmd/doctor.hpp"
#include "cmd/drill.hpp"
#include "cmd/drift.hpp"
#include "cmd/exec.hpp"
#include "cmd/isolate.hpp"
#include "cmd/errors.hpp"
#include "cmd/report_cmd.hpp"
#include "cmd/run.hpp"
#include "cmd/siblings.hpp"
#include "cmd/sign.hpp"
#include "cmd/upload.hpp"
#include "cmd/verify.hpp"
#include "cmd/version.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

constexpr const char* k_description =
    "kubectl-ir: forensic triage of a suspicious pod — contain it, collect its volatile state with a chain of\n"
    "custody, and find every pod that runs the same image.";

// Global flags that take a value as the next word ("--kubeconfig FILE"), so that word is not
// taken for the command.
bool takes_value(const std::string& flag) {
  static const std::vector<std::string> k_flags = {"--kubeconfig", "--context", "--cluster", "--user", "-n", "--namespace",
                                                   "-s", "--server", "--token", "--as", "--as-group",
                                                   "--certificate-authority", "--request-timeout", "-v", "--v"};
  return std::find(k_flags.begin(), k_flags.end(), flag) != k_flags.end();
}

// The command word: the first argument that is neither a flag nor a global flag's value.
std::optional<std::string> command_word(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") return std::nullopt;
    if (a.empty() || a[0] != '-') return a;
    if (a.find('=') == std::string::npos && takes_value(a)) ++i;
  }
  return std::nullopt;
}

// An unknown command, with "did you mean" when one is close.
std::optional<Error> unknown_command(const std::vector<std::string>& args, const std::vector<Command>& commands) {
  const auto word = command_word(args);
  if (!word) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c.app->get_name());
  if (std::find(names.begin(), names.end(), *word) != names.end()) return std::nullopt;
  Error err(Errc::usage, "unknown command " + util::quoted(*word, util::Cap::word));
  const auto guess = util::closest_match(*word, names, 3);
  return err.with_hint(guess.empty() ? "kubectl ir --help lists the commands"
                                     : "did you mean \"" + guess + "\"? (kubectl ir --help lists the commands)");
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
    commands.push_back(setup_report(app, global));
    commands.push_back(setup_sign(app, global));
    commands.push_back(setup_upload(app, global));
    commands.push_back(setup_drift(app, global));
    commands.push_back(setup_baseline(app, global));
    for (auto& c : commands) c.app->fallthrough();

    // Shell completion (kubectl_complete-ir and the scripts of `completion`): the words after
    // "kubectl ir", the last one being completed.
    if (!args.empty() && args.front() == "__complete") {
      print_completion(complete(app, std::vector<std::string>(args.begin() + 1, args.end()), io), io);
      return k_exit_ok;
    }

    if (auto unknown = unknown_command(args, commands)) return exit_with(io, *unknown, k_exit_usage);
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
    try {
      app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
      io.out << app.help();  // "Usage: kubectl ir isolate [OPTIONS] POD": the root's name, then the command's
      return k_exit_ok;
    } catch (const CLI::CallForAllHelp&) {
      io.out << app.help("", CLI::AppFormatMode::All);
      return k_exit_ok;
    } catch (const CLI::ParseError& e) {
      const auto* sub = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
      print_error(io, Error(Errc::usage, e.what())
                          .with_hint(sub == nullptr ? "kubectl ir --help shows the usage"
                                                    : "kubectl ir " + sub->get_name() + " --help shows its usage"));
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
