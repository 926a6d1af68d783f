#pragma once
// The one table of kubectl-ir's exit codes (documented in README.md "Exit codes").

namespace ir::cli {

enum ExitCode : int {
  k_exit_ok = 0,           // everything asked for was done
  k_exit_failure = 1,      // the command failed (API error, unreachable server, bad config, ...)
  k_exit_usage = 2,        // bad flags or arguments
  k_exit_partial = 3,      // done in part: a bundle or result was produced but some steps failed
  k_exit_findings = 4,     // drift: done, and findings are present (the pod differs from its baseline
                           // or an indicator fired); whether the comparison was complete, the output says
  k_exit_interrupted = 130,  // Ctrl-C (128 + SIGINT)
};

}  // namespace ir::cli
