#pragma once
#include <nlohmann/json.hpp>

#include "cmd/command.hpp"
#include "triage/siblings.hpp"
#include "util/clock.hpp"

namespace ir::cli {

struct SiblingsCliOptions {
  std::string pod;        // NAME, pod/NAME or NAMESPACE/pod/NAME; "" with --digest
  std::string container;  // -c
  std::string digest;     // --digest
  std::string output;     // -o: table (default), json, yaml, name
  std::string group_by = "workload";
  bool all_namespaces = false;  // -A: accepted for kubectl habit; all namespaces is the default anyway
  int chunk_size = 500;
};

// kubectl ir siblings POD | --digest sha256:...: every pod running the same image digest, in all
// namespaces. Exit 0 when the result is complete, 3 when it is partial or inconsistent (the output
// says why), 1 on failure, 2 on bad usage.
Command setup_siblings(CLI::App& root, const GlobalOptions& global);
int run_siblings(const SiblingsCliOptions& options, const GlobalOptions& global, Io& io);

// The report as the -o json/yaml document (items in the grouped order).
nlohmann::json siblings_json(const triage::SiblingsReport& report, triage::GroupBy group_by);

// The report as the default table output, ages computed at `now`.
void print_siblings_table(const triage::SiblingsReport& report, triage::GroupBy group_by, util::TimePoint now,
                          std::ostream& out);

}  // namespace ir::cli
