#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

// The flags of isolate that are not options of the verb (those come from the verb table:
// lib/run/verbs.hpp isolate_options()).
struct IsolateCliOptions {
  std::string pod;
  std::string case_id;
  bool dry_run = false;
  std::string output;  // "" (summary), json, yaml
};

// kubectl ir isolate POD: quarantine label + deny-egress NetworkPolicy, and a verdict per
// direction. Exit 0 when every requested direction is contained, 3 when one is not (or cannot be
// told), 1 on failure.
Command setup_isolate(CLI::App& root, const GlobalOptions& global);

struct ReleaseCliOptions {
  std::string pod;  // "" with --case: every pod and policy of the case in the namespace
  std::string case_id;
  bool dry_run = false;
  std::string output;
};

// kubectl ir release POD | --case CASE: undo exactly what isolate did (also what --exclusive left
// on other policies after the pod is gone: the case comes from --case or the local journals).
Command setup_release(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
