#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct IsolateCliOptions {
  std::string pod;
  std::string case_id;
  bool ingress = false;
  bool allow_dns = false;
  std::vector<std::string> allow_egress;
  bool exclusive = false;
  bool detach = false;
  bool cordon = false;
  bool admin_policy = false;
  std::string probe;
  bool dry_run = false;
  std::string output;  // "" (summary), json, yaml
};

// kubectl ir isolate POD: quarantine label + deny-egress NetworkPolicy, and a verdict per
// direction. Exit 0 when every requested direction is contained, 3 when one is not (or cannot be
// told), 1 on failure.
Command setup_isolate(CLI::App& root, const GlobalOptions& global);
int run_isolate(const IsolateCliOptions& options, const GlobalOptions& global, Io& io);

struct ReleaseCliOptions {
  std::string pod;
  bool dry_run = false;
  std::string output;
};

// kubectl ir release POD: undo exactly what isolate did.
Command setup_release(CLI::App& root, const GlobalOptions& global);
int run_release(const ReleaseCliOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
