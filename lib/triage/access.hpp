#pragma once
// RBAC preflight for commands that write: before the first write, one SelfSubjectAccessReview per
// permission the plan needs, so that a missing permission stops the command with nothing changed
// instead of half-way (a quarantine label on the pod and no policy).

#include <string>
#include <vector>

#include "kube/api.hpp"

namespace ir::triage {

struct AccessCheck {
  std::vector<kube::ResourceAttributes> missing;  // not allowed (explicitly denied or no rule allows it)
  std::string unchecked;                          // why the reviews could not be made ("" = every need was reviewed)
};

// Reviews each of `needs` in order (a need listed twice is asked once): namespaced needs from one
// SelfSubjectRulesReview per namespace, the rest (and all of them where that review is not served,
// refused or incomplete) by a SelfSubjectAccessReview each. Never fails as a whole: when an
// access review itself fails (not served, forbidden, server unreachable) it stops asking and says
// why in `unchecked`; `missing` keeps what was found before.
AccessCheck check_access(kube::Client& client, const std::vector<kube::ResourceAttributes>& needs);

// "create networkpolicies.networking.k8s.io in namespace shop", "patch nodes at cluster scope".
std::string describe_access(const kube::ResourceAttributes& need);

// A preflight that let the command go ahead.
struct Preflight {
  std::string unchecked;  // why the permissions could not be checked ("" = every one is granted)

  // The warning for the user when they could not be checked, else "".
  [[nodiscard]] std::string warning() const;
  // An error from a later step: when the permissions were not checked and `e` has no hint, with a
  // hint saying so (what was written before the failure was written unchecked).
  [[nodiscard]] Error explain(Error e) const;
};

// Runs check_access for the command described by `what` ("isolate shop/web-1"). Missing
// permissions are an Errc::forbidden error naming every one of them, with a hint at the
// ClusterRole in scripts/rbac/. Reviews that could not be made are no error: the command goes
// ahead (Preflight::unchecked says why) and a missing permission fails the write that needs it.
Result<Preflight> preflight(kube::Client& client, const std::string& what,
                            const std::vector<kube::ResourceAttributes>& needs);

}  // namespace ir::triage
