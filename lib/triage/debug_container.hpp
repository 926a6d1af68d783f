#pragma once
// A debug (ephemeral) container added to a pod: it shares the pod's network namespace (and, with a
// target, the target container's PID namespace), runs a trusted image, and can never be removed
// from the pod spec: it only exits when its `sleep` ends. Callers journal its addition.
// (collect --ephemeral has its own, richer variant in collect_container.cpp; this is the minimal
// call isolate --verify --ephemeral and the drill need.)

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::triage {

struct DebugContainerOptions {
  std::string namespace_name;
  std::string pod;
  std::string image = "busybox";
  std::string name_prefix = "kubectl-ir-";  // a random 6-hex suffix is added
  std::string target_container;             // "" = none: the network namespace is shared all the same
  std::optional<std::int64_t> run_as_user;  // nullopt: unprivileged (65534, runAsNonRoot)
  std::chrono::seconds lifetime{600};       // its `sleep`
  std::chrono::seconds start_timeout{60};
};

// Adds the container (strategic-merge PATCH of pods/ephemeralcontainers) and waits until it runs.
// With no run_as_user it runs as nobody with every capability dropped, no privilege escalation and
// the runtime's default seccomp profile (what PodSecurity "restricted" admits). Returns its name.
// Errors: the PATCH's (forbidden, not found, ...); Errc::failure when it cannot start (image pull
// errors, with the kubelet's reason) — the container stays in the spec all the same;
// Errc::timeout after start_timeout; Errc::cancelled.
Result<std::string> add_debug_container(kube::Client& client, const DebugContainerOptions& options, util::Clock& clock,
                                        const util::CancelToken* cancel = nullptr);

}  // namespace ir::triage
