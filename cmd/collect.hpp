#pragma once
#include <string>
#include <vector>

#include "cmd/command.hpp"

namespace ir::cli {

// The flags of collect that are not options of the verb (those come from the verb table:
// lib/run/verbs.hpp collect_options()).
struct CollectCliOptions {
  std::string pod;
  std::string case_id;
  std::string examiner;
  std::string output;   // -o: table (default), json or yaml; a path ending in .tar.gz/.tgz is taken as --bundle
  std::string bundle;   // --bundle/-O: the bundle path; "" = <case>_<ns>_<pod>_<time>.tar.gz here
  bool dry_run = false;
};

// kubectl ir collect POD: volatile evidence into one bundle (lib/triage/collect.hpp). Exit 0 when
// everything was collected, 3 when the bundle is partial (evidence is missing: a step failed,
// something was refused or could not be collected), 130 on Ctrl-C (what was collected is sealed),
// 1 when no bundle could be made, 2 for usage errors.
Command setup_collect(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
