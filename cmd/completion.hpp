#pragma once
// Shell completion. `kubectl ir <TAB>` works through kubectl's plugin completion (1.26+): kubectl
// runs `kubectl_complete-ir ARGS...` (shipped beside the binary; it runs `kubectl-ir __complete
// ARGS...`) and reads Cobra's completion protocol: one candidate per line ("value\tdescription"),
// then ":<directive>". `kubectl ir completion bash|zsh` prints a script for calling kubectl-ir
// directly.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/command.hpp"

namespace ir::cli {

// Cobra's ShellCompDirective values.
inline constexpr int k_directive_default = 0;        // the shell may complete file names
inline constexpr int k_directive_no_file_comp = 4;

struct Completion {
  std::vector<std::string> candidates;  // "value" or "value\tdescription"
  int directive = k_directive_no_file_comp;
};

// Candidates for the last of `words` (the words after "kubectl ir"; the last may be ""), from the
// CLI definition in `root` (verbs, flags), the shipped playbooks and, for pod and namespace
// arguments, the cluster (a short list call; nothing when it fails).
Completion complete(const CLI::App& root, const std::vector<std::string>& words, Io& io);

// Prints `completion` in Cobra's protocol.
void print_completion(const Completion& completion, Io& io);

// kubectl ir completion bash|zsh.
Command setup_completion(CLI::App& root, const GlobalOptions& global);

}  // namespace ir::cli
