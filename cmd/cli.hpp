#pragma once
// The CLI entry point, a library function so tests drive kubectl-ir in-process.

#include <string>
#include <vector>

#include "cmd/io.hpp"

namespace ir::cli {

// Parses `args` (without argv[0]) and runs the chosen command. Returns the process exit code
// (cmd/exit_codes.hpp). Never throws: this is the one final catch.
int run(const std::vector<std::string>& args, Io& io);

}  // namespace ir::cli
