#pragma once
// The shape of a subcommand: setup_<name>() registers its flags on the root app and returns the
// parsed-options holder and a run function (complete → validate → run).

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/io.hpp"
#include "cmd/connect.hpp"

namespace ir::cli {

// Options every command shares (parsed on the root app).
struct GlobalOptions {
  KubeFlags kube;
  // The command line as given, with the value of --token masked (for acquisition logs).
  std::vector<std::string> command_line;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int(Io&)> run;  // called only if this subcommand was given
};

// Adds the subcommand `name` to `parent` with its one-line `summary` (what the command list shows).
// The footer of its --help says "Examples:" and then each of `examples` on a line of its own,
// indented, and `notes`, when given, after a blank line. Returns the new app (owned by `parent`).
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& summary,
                      std::initializer_list<std::string_view> examples, std::string_view notes = {});

// Output formats for -o on commands that print data.
enum class OutputFormat { table, json, yaml, name };

}  // namespace ir::cli
