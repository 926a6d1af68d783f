#pragma once
#include <string>
#include <vector>

#include "cmd/command.hpp"
#include "cmd/custody_flags.hpp"

namespace ir::cli {

struct RunCliOptions {
  std::string playbook;            // a shipped playbook's name or a file path
  std::string pod;                 // NAME, pod/NAME or NAMESPACE/pod/NAME (--pod)
  std::string pod_positional;      // the same, as the second argument
  std::vector<std::string> params;  // k=v
  std::string case_id;
  std::string resume;              // case id of an earlier run to resume
  std::string output;              // -o: table (default), json or yaml; a path ending in .tar.gz is taken as --bundle
  std::string bundle;              // --bundle/-O: the bundle path
  std::string examiner;
  int parallel = 4;
  bool dry_run = false;
  CustodyFlags custody;            // --report, --sign-key, --upload ...; the playbook's report:/upload: too
};

// kubectl ir run PLAYBOOK: validates the playbook, then runs its steps (lib/run). The result follows
// the worst step: exit 0 when every step reached its goal (or was skipped), 3 when a step did not
// (partial: not contained, evidence missing) or failed with on_error: continue, 1 when a step
// aborted the run, 130 on Ctrl-C (the bundle is sealed), 2 for an invalid playbook or parameters.
Command setup_run(CLI::App& root, const GlobalOptions& global);

// kubectl ir playbooks list | show NAME: the playbooks shipped in the binary.
Command setup_playbooks(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
