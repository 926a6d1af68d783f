#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct DrillCliOptions {
  std::string image = "busybox";
  bool ingress = false;
  std::vector<std::string> check_namespaces;
  std::string timeout = "60s";  // canary pods running
  std::string settle = "10s";   // how long the network may take to apply a change
  std::string output;           // "" (table) or json
};

// kubectl ir drill: the fire drill before the incident (triage/drill.hpp). -n picks the namespace
// (default: a temporary one). Exit 0 when every required check is ready, 3 when one is not, 2 for
// a refused namespace, 130 on Ctrl-C (after cleaning up).
Command setup_drill(CLI::App& root, const GlobalOptions& global);
int run_drill(const DrillCliOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
