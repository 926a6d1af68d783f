#include "cmd/target.hpp"

#include "cmd/exit_codes.hpp"
#include "cmd/output.hpp"
#include "cmd/report.hpp"

namespace ir::cli {

std::optional<Target> open_target(const std::string& pod_arg, const GlobalOptions& global, Io& io, int& code) {
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
  Target t{std::move(*session), ref->namespace_name, ref->name};
  if (t.namespace_name.empty()) t.namespace_name = t.session->config.namespace_name;
  return t;
}

}  // namespace ir::cli
