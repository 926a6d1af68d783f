#include "triage/access.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::triage {

AccessCheck check_access(kube::Client& client, const std::vector<kube::ResourceAttributes>& needs) {
  AccessCheck check;
  std::vector<kube::ResourceAttributes> asked;
  // One SelfSubjectRulesReview per namespace answers every namespaced need there in one request;
  // where it cannot (not served, refused, incomplete), a SelfSubjectAccessReview per need does.
  std::map<std::string, std::optional<kube::RulesReview>> reviews;
  for (const auto& need : needs) {
    if (std::find(asked.begin(), asked.end(), need) != asked.end()) continue;
    asked.push_back(need);
    if (!need.namespace_name.empty()) {
      auto it = reviews.find(need.namespace_name);
      if (it == reviews.end()) {
        auto review = kube::rules_review(client, need.namespace_name);
        it = reviews.emplace(need.namespace_name, review ? std::optional(std::move(*review)) : std::nullopt).first;
      }
      if (it->second) {
        if (kube::rules_allow(it->second->rules, need)) continue;
        if (!it->second->incomplete) {
          check.missing.push_back(need);
          continue;
        }
      }
    }
    auto decision = kube::access_review(client, need);
    if (!decision) {
      check.unchecked = decision.error().message;
      break;
    }
    if (!decision->allowed) check.missing.push_back(need);
  }
  return check;
}

std::string describe_access(const kube::ResourceAttributes& need) {
  return fmt::format("{} {} {}", need.verb, kube::qualified_resource(need),
                     need.namespace_name.empty() ? "at cluster scope" : "in namespace " + need.namespace_name);
}

std::string Preflight::warning() const {
  if (unchecked.empty()) return {};
  return "could not check permissions before writing (" + unchecked +
         "): going ahead; a missing permission fails the write that needs it";
}

Error Preflight::explain(Error e) const {
  if (unchecked.empty() || !e.hint.empty()) return e;
  return e.with_hint("permissions could not be checked before writing (" + unchecked +
                     "): what was written before this failure is still in place");
}

Result<Preflight> preflight(kube::Client& client, const std::string& what,
                            const std::vector<kube::ResourceAttributes>& needs) {
  AccessCheck check = check_access(client, needs);
  if (!check.missing.empty()) {
    std::vector<std::string> names;
    for (const auto& m : check.missing) names.push_back(describe_access(m));
    return unexpected(Error(Errc::forbidden, fmt::format("{}: missing permission{}: {}", what,
                                                         names.size() == 1 ? "" : "s", util::join(names, ", ")))
                          .with_hint("nothing was changed; the ClusterRole in scripts/rbac/kubectl-ir-clusterrole.yaml "
                                     "grants what kubectl-ir needs (kubectl ir doctor checks it)"));
  }
  return Preflight{std::move(check.unchecked)};
}

}  // namespace ir::triage
