#pragma once
// The shape of a subcommand: setup_<name>() registers its flags on the root app and returns the
// parsed-options holder and a run function (complete → validate → run).

#include <functional>
#include <string>
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

// Output formats for -o on commands that print data.
enum class OutputFormat { table, json, yaml, name };

}  // namespace ir::cli
