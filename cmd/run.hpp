#pragma once
#include <string>
#include <vector>

#include "cmd/command.hpp"

namespace ir::cli {

struct RunCliOptions {
  std::string playbook;            // a shipped playbook's name or a file path
  std::string pod;                 // NAME, pod/NAME or NAMESPACE/pod/NAME (--pod)
  std::string pod_positional;      // the same, as the second argument
  std::vector<std::string> params;  // k=v
  std::string case_id;
  std::string resume;              // case id of an earlier run to resume
  std::string output;              // bundle path
  std::string examiner;
  int parallel = 4;
  bool dry_run = false;
};

// kubectl ir run PLAYBOOK: validates the playbook, then runs its steps (lib/playbook). Exit 0 when
// every step ended ok (or was skipped), 3 when a step with on_error: continue failed (or Ctrl-C),
// 1 when a step aborted the run, 2 for an invalid playbook or parameters.
Command setup_run(CLI::App& root, const GlobalOptions& global);

// kubectl ir playbooks list | show NAME: the playbooks shipped in the binary.
Command setup_playbooks(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
