#pragma once
// The prologue of every command that acts on one pod: parse the pod argument, open the session,
// settle the namespace (the argument's, else -n, else the kubeconfig context's).

#include <memory>
#include <optional>
#include <string>

#include "cmd/command.hpp"

namespace ir::cli {

struct PodTarget {
  std::unique_ptr<Session> session;
  std::string namespace_name;
  std::string pod;
};

// Prints the error and sets `code` (usage or the session's failure) when it returns nullopt.
std::optional<PodTarget> open_target(const std::string& pod_arg, const GlobalOptions& global, Io& io, int& code);

// `error` (from reading pod `pod` in `ns`) with a hint naming the namespaces where a pod of that
// name exists, when it is a 404 and the caller may list pods across namespaces; else `error`.
Error hint_other_namespaces(kube::Client& client, const Error& error, const std::string& pod, const std::string& ns);

}  // namespace ir::cli
