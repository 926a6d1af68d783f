#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct DoctorOptions {
  std::string output;  // "" (table) or "json"
};

// kubectl ir doctor [-o json]: reachability, server version, identity and an RBAC table of what
// each kubectl-ir command needs. Exit 0 only when every required permission is allowed.
Command setup_doctor(CLI::App& root, const GlobalOptions& global);
int run_doctor(const DoctorOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
