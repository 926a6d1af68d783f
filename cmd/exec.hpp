#pragma once
#include "cmd/command.hpp"
#include "util/strings.hpp"

namespace ir::cli {

struct ExecOptions {
  std::string pod;
  std::string container;
  std::string case_id;        // "" = a new case
  std::string output_file;    // raw stdout bytes go here instead of the terminal
  std::string max_bytes;      // stdout limit ("64Mi", "1G", plain bytes); "" = none with -o, 64Mi on a terminal
  std::string timeout = "0";  // total; 0 = none
  std::string idle_timeout = "5m";
  bool stdin = false;
  std::vector<std::string> command;
};

// kubectl ir exec POD [-c C] [--case ID] [-o FILE] -- CMD ARGS...: a journaled exec. Terminal
// output is escaped; the remote exit code becomes kubectl-ir's.
Command setup_exec(CLI::App& root, const GlobalOptions& global);
int run_exec_command(const ExecOptions& options, const GlobalOptions& global, Io& io);

using util::parse_byte_size;

}  // namespace ir::cli
