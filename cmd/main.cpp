// kubectl-ir: the binary is a thin shell around ir::cli::run (cmd/cli.hpp).
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cmd/cli.hpp"

namespace {
ir::util::CancelToken g_cancel;
void on_sigint(int) { g_cancel.cancel(); }
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_sigint);
  std::signal(SIGPIPE, SIG_IGN);
  ir::cli::Io io{std::cout, std::cerr,
                 [](const std::string& name) -> std::optional<std::string> {
                   const char* v = std::getenv(name.c_str());
                   return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
                 },
                 &g_cancel, &std::cin};
  return ir::cli::run(std::vector<std::string>(argv + 1, argv + argc), io);
}
