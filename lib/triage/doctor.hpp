#pragma once
// kubectl ir doctor: can this user, on this cluster, run kubectl-ir? Reachability, server version,
// identity, and a SelfSubjectAccessReview for each permission the commands need (each asked once).

#include <optional>
#include <string>
#include <vector>

#include "kube/api.hpp"

namespace ir::triage {

// One permission a kubectl-ir command needs. `optional` ones are only needed with a flag (named in
// `needed_for`) and do not fail the doctor.
struct Permission {
  std::string command;     // isolate, release, collect, siblings, exec, run
  std::string verb;
  std::string group;
  std::string resource;
  std::string subresource;
  bool cluster_scope = false;  // checked at cluster scope instead of in the namespace
  bool optional = false;
  std::string needed_for;      // what it is for ("--cordon", "owner chain", ...)
};

// The permissions of every kubectl-ir command, in display order.
const std::vector<Permission>& required_permissions();

struct PermissionCheck {
  Permission permission;
  std::string namespace_name;  // "" at cluster scope
  bool allowed = false;
  std::string reason;          // the authorizer's reason, or the error if the review failed
};

struct DoctorReport {
  std::string server;
  std::string context;
  std::string namespace_name;
  std::optional<kube::ServerVersion> version;
  std::optional<Error> version_error;        // set when /version failed (unreachable, TLS, 401, ...)
  std::optional<kube::UserInfo> identity;
  std::string identity_note;                 // why identity is unknown, when it is
  std::vector<PermissionCheck> checks;
  // True when the server answered and every non-optional permission is allowed.
  [[nodiscard]] bool ok() const;
};

// Runs every check against `namespace_name`; never fails as a whole: each failure is recorded in
// the report (an unreachable server stops after the version check).
DoctorReport run_doctor(kube::Client& client, const std::string& namespace_name);

}  // namespace ir::triage
