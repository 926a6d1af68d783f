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
  bool verify = false;
  std::string probe;
  bool ephemeral = false;
  std::string debug_image = "busybox";
  std::string verify_timeout = "10s";
  bool dry_run = false;
  std::string output;  // "" (summary), json, yaml
};

// kubectl ir isolate POD: quarantine label + deny-egress NetworkPolicy, and a verdict per
// direction. Exit 0 when every requested direction is contained, 3 when one is not (or cannot be
// told), 1 on failure.
Command setup_isolate(CLI::App& root, const GlobalOptions& global);
int run_isolate(const IsolateCliOptions& options, const GlobalOptions& global, Io& io);

struct ReleaseCliOptions {
  std::string pod;  // "" with --case: every pod and policy of the case in the namespace
  std::string case_id;
  bool dry_run = false;
  std::string output;
};

// kubectl ir release POD | --case CASE: undo exactly what isolate did (also what --exclusive left
// on other policies after the pod is gone: the case comes from --case or the local journals).
Command setup_release(CLI::App& root, const GlobalOptions& global);
int run_release(const ReleaseCliOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
