#pragma once
// How errors and warnings reach the user: one line "kubectl-ir: error: <what>: <why>", an optional
// "hint: " line, everything escaped (messages may carry server- or pod-supplied bytes).

#include <string>

#include "cmd/exit_codes.hpp"
#include "cmd/io.hpp"
#include "util/result.hpp"

namespace ir::cli {

void print_error(Io& io, const Error& error);
void print_warning(Io& io, const std::string& message);

// The exit code for an error that ends a command (usage → 2, cancelled → 130, else 1).
int exit_code_for(const Error& error);

// Prints `error` and returns the exit code that ends the command: exit_code_for(error), or `code`
// when given (e.g. usage for a bad flag value whatever the error's own kind).
// For `if (!r) return exit_with(io, r.error());`.
int exit_with(Io& io, const Error& error);
int exit_with(Io& io, const Error& error, int code);

}  // namespace ir::cli
