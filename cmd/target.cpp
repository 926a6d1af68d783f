#include "cmd/target.hpp"

#include "cmd/exit_codes.hpp"
#include "cmd/output.hpp"

#include <fmt/format.h>

#include "kube/api.hpp"
#include "util/strings.hpp"
#include "cmd/errors.hpp"

namespace ir::cli {

std::optional<PodTarget> open_target(const std::string& pod_arg, const GlobalOptions& global, Io& io, int& code) {
  auto ref = parse_pod_ref(pod_arg);
  if (!ref) {
    print_error(io, ref.error());
    code = k_exit_usage;
    return std::nullopt;
  }
  auto session = open_session(global.kube, io);
  if (!session) {
    print_error(io, session.error());
    code = exit_code_for(session.error());
    return std::nullopt;
  }
  PodTarget t{std::move(*session), ref->namespace_name, ref->name};
  if (t.namespace_name.empty()) t.namespace_name = t.session->config.namespace_name;
  return t;
}

Error hint_other_namespaces(kube::Client& client, const Error& error, const std::string& pod, const std::string& ns) {
  if (error.code != Errc::not_found || !error.hint.empty()) return error;
  kube::ListOptions lo;
  lo.field_selector = "metadata.name=" + pod;
  lo.limit = 10;
  auto pager = kube::list_pods(client, lo);
  auto page = pager.next();
  if (!page || !*page) return error;
  std::vector<std::string> found;
  for (const auto& p : (*page)->list.value("items", nlohmann::json::array())) {
    const std::string other = p.value("metadata", nlohmann::json::object()).value("namespace", "");
    if (!other.empty() && other != ns) found.push_back(other);
  }
  if (found.empty()) return error;
  return error.with_hint(fmt::format("a pod named \"{}\" exists in namespace{} {}: add -n {}", util::esc(pod, util::Cap::name),
                                     found.size() == 1 ? "" : "s", util::esc(util::join(found, ", "), util::Cap::detail),
                                     util::esc(found.front(), util::Cap::name)));
}

}  // namespace ir::cli
