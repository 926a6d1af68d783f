#pragma once
#include "cmd/command.hpp"

namespace ir::cli {

// kubectl ir baseline create (POD... | deployment/NAME) -o FILE: profiles healthy pods into a
// baseline file for drift --baseline. Exit 0 when every pod chosen was profiled, 3 when some
// failed, 1 when none could be (no file is written then), 2 for usage errors.
Command setup_baseline(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
