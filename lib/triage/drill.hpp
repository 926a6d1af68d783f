#pragma once
// kubectl ir drill: the fire drill a team runs before the incident. In a temporary namespace (or
// one it is given, where it creates only objects carrying its own label) it starts a canary server
// and a canary client, proves the client reaches the server, isolates the client and proves on the
// wire that its egress (and with `ingress` its ingress) is blocked, collects the client and
// verifies the bundle, releases it and proves connectivity is back, then deletes everything it
// created — also after a failure or Ctrl-C. Each capability the responder will need is a row of a
// readiness table: measured, timed, ready or not, required or not.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "triage/isolate.hpp"  // ActionLog
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::triage {

struct DrillOptions {
  std::string namespace_name;     // "" = a temporary namespace "kubectl-ir-drill-<id>", deleted at the end
  std::string drill_id;           // 1-12 of [a-z0-9]: names and labels everything the drill creates
  std::string image = "busybox";  // the canaries' image (needs sh, httpd, nc, sleep, cat): air-gapped mirrors
  bool ingress = false;           // also prove ingress is blocked
  std::vector<std::string> check_namespaces;  // where to look for policies that would defeat a quarantine
  std::chrono::seconds start_timeout{60};     // canary pods (and the debug container) running
  std::chrono::milliseconds settle{10'000};   // how long the network may take to apply a change
  std::string work_dir;                       // an empty directory for the drill's bundle (deleted by the caller)
  std::string case_id;                        // the drill's case (quarantine label, journal)
  std::string actor;
  const util::CancelToken* cancel = nullptr;
  std::function<void(const std::string&)> progress;  // one line per step (may be empty)
};

enum class RowState { ready, not_ready, skipped };
// "ready", "NOT ready", "skipped".
const char* to_string(RowState state);

struct DrillRow {
  std::string check;     // stable key: rbac, pods, exec, ephemeral, logs, egress, ingress, collect, release,
                         // competing:<namespace>, cleanup
  std::string title;     // for the table
  bool required = true;  // a required row that is not ready fails the drill
  RowState state = RowState::skipped;
  std::string detail;
  double seconds = 0;
};

struct DrillReport {
  std::string namespace_name;
  bool namespace_created = false;
  std::vector<DrillRow> rows;
  std::vector<std::string> created;  // "namespace/x", "pod/ns/x", ... in order
  std::vector<std::string> removed;
  std::vector<std::string> left_behind;  // what cleanup could not remove (and why)
  bool cancelled = false;
  double seconds = 0;
  // Every required row is ready (and the drill was not cancelled).
  [[nodiscard]] bool ready() const;
};

// Why `ns` may not host a drill ("" when it may): kube-system and the other kube-* namespaces are
// the cluster's own.
std::string drill_namespace_refusal(const std::string& ns);

// Runs the drill. Fails only for invalid options (Errc::usage: a refused namespace, a bad id);
// everything else — a missing permission, an image that cannot be pulled, a cluster that does not
// enforce NetworkPolicy, Ctrl-C — is a row, and cleanup runs whatever happened before it. Every
// object created and removed is logged ("drill.create", "drill.delete") as it happens.
Result<DrillReport> run_drill(kube::Client& client, kube::Connector& connector, util::Clock& clock,
                              const DrillOptions& options, const ActionLog& log);

}  // namespace ir::triage
