#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct VersionOptions {
  bool client_only = false;
  std::string output;  // "" or "json"
};

// kubectl ir version [--client] [-o json]: client version and commit; the server's when reachable.
// -o json also names the build: commit, tree state, date, platform, compiler, dependency versions.
Command setup_version(CLI::App& root, const GlobalOptions& global);
int run_version(const VersionOptions& options, const GlobalOptions& global, Io& io);

}  // namespace ir::cli
