#pragma once
#include <string>

#include "cmd/command.hpp"

namespace ir::cli {

// The flags of drift that are not options of the verb (those come from the verb table:
// lib/run/verbs.hpp drift_options()).
struct DriftCliOptions {
  std::string pod;
  std::string case_id;
  std::string examiner;
  std::string output;  // -o: table (default), json or yaml
  std::string bundle;  // --bundle/-O: keep the snapshots and analysis in this bundle ("": none, read-only)
};

// kubectl ir drift POD: what the pod has that its healthy siblings (or a baseline file) do not,
// and the single-pod indicators (lib/triage/drift.hpp). Read-only unless -O names a bundle. Exit 0
// when nothing was found and the comparison was complete, 4 when findings are present, 3 when
// nothing was found but the comparison is incomplete, 1 on failure, 2 for usage errors, 130 on
// Ctrl-C.
Command setup_drift(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
