#include "cmd/errors.hpp"

#include "util/strings.hpp"

namespace ir::cli {

namespace {
constexpr std::size_t k_max_line = 4096;
}

void print_error(Io& io, const Error& error) {
  io.err << "kubectl-ir: error: " << util::escape_for_terminal(error.message, k_max_line) << "\n";
  if (!error.hint.empty()) io.err << "hint: " << util::escape_for_terminal(error.hint, k_max_line) << "\n";
}

void print_warning(Io& io, const std::string& message) {
  io.err << "kubectl-ir: warning: " << util::escape_for_terminal(message, k_max_line) << "\n";
}

int exit_code_for(const Error& error) {
  switch (error.code) {
    case Errc::usage: return k_exit_usage;
    case Errc::cancelled: return k_exit_interrupted;
    default: return k_exit_failure;
  }
}

int exit_with(Io& io, const Error& error) {
  return exit_with(io, error, exit_code_for(error));
}

int exit_with(Io& io, const Error& error, int code) {
  print_error(io, error);
  return code;
}

}  // namespace ir::cli
