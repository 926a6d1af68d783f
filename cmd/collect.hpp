#pragma once
#include <string>
#include <vector>

#include "cmd/command.hpp"

namespace ir::cli {

struct CollectCliOptions {
  std::string pod;
  std::vector<std::string> containers;
  std::string case_id;
  std::string examiner;
  std::string output;            // bundle path; "" = <case>_<ns>_<pod>_<time>.tar.gz here
  std::string fs = "listing";    // none | listing | archive
  std::vector<std::string> paths;  // replace the default roots when given
  std::string max_log_bytes = "16Mi";
  std::string max_file_bytes = "64Mi";
  std::string max_archive_bytes = "4Gi";
  std::string timeout = "2m";    // one inspection command
  bool ephemeral = false;
  std::string debug_image = "busybox";
  bool ptrace = false;
  bool dry_run = false;
};

// kubectl ir collect POD: volatile evidence into one bundle (lib/triage/collect.hpp). Exit 0 when
// everything was collected, 3 when the bundle is partial (a step failed, something could not be
// collected, Ctrl-C), 1 when no bundle could be made, 2 for usage errors.
Command setup_collect(CLI::App& root, const GlobalOptions& global);
int run_collect(const CollectCliOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
