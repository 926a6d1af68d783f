#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

struct VerifyOptions {
  std::string bundle;  // path of the .tar.gz
  std::string output;  // "" (report) or "json"
};

// kubectl ir verify BUNDLE [-o json]: recomputes the SHA-256 of every entry of an evidence bundle
// and compares it with its manifest.json. Needs no cluster. Exit 0 when everything matches, 1 on
// any problem or when the file is not a readable bundle.
Command setup_verify(CLI::App& root, const GlobalOptions& global);
int run_verify(const VerifyOptions& options, Io& io);

}  // namespace ir::cli
