#pragma once
// The prologue of every command that acts on one pod: parse the pod argument, open the session,
// settle the namespace (the argument's, else -n, else the kubeconfig context's).

#include <memory>
#include <optional>
#include <string>

#include "cmd/command.hpp"

namespace ir::cli {

struct Target {
  std::unique_ptr<Session> session;
  std::string namespace_name;
  std::string pod;
};

// Prints the error and sets `code` (usage or the session's failure) when it returns nullopt.
std::optional<Target> open_target(const std::string& pod_arg, const GlobalOptions& global, Io& io, int& code);

}  // namespace ir::cli
