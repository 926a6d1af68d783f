#include "cmd/version.hpp"

#include <memory>

#include <nlohmann/json.hpp>

#include "build_info.hpp"
#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "kube/api.hpp"
#include "util/strings.hpp"

namespace ir::cli {

Command setup_version(CLI::App& root, const GlobalOptions& global) {
  auto options = std::make_shared<VersionOptions>();
  CLI::App* app = root.add_subcommand("version", "Print the client and server versions");
  app->footer(
      "Examples:\n"
      "  kubectl ir version\n"
      "  kubectl ir version --client -o json\n");
  app->add_flag("--client", options->client_only, "Print the client version only (no server call)");
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [options, &global](Io& io) { return run_version(*options, global, io); }};
}

int run_version(const VersionOptions& options, const GlobalOptions& global, Io& io) {
  nlohmann::json out = {{"clientVersion", {{"version", build::k_version}, {"gitCommit", build::k_git_commit}}}};
  std::string server_line;
  if (!options.client_only) {
    // A short default timeout: `version` must answer quickly even when the server does not.
    auto session = open_session(global.kube, io, std::chrono::seconds(5));
    if (!session) {
      print_warning(io, "server version: " + session.error().message);
    } else if (auto v = kube::get_server_version(*(*session)->client); !v) {
      print_warning(io, "server version: " + v.error().message);
    } else {
      out["serverVersion"] = {{"gitVersion", v->git_version},
                              {"major", std::to_string(v->major)},
                              {"minor", std::to_string(v->minor)},
                              {"platform", v->platform}};
      server_line = util::esc(v->git_version, util::Cap::word);
    }
  }
  if (options.output == "json") {
    io.out << to_json(out);
  } else {
    io.out << "Client Version: " << build::k_version << " (commit " << build::k_git_commit << ")\n";
    if (!server_line.empty()) io.out << "Server Version: " << server_line << "\n";
  }
  return k_exit_ok;
}

}  // namespace ir::cli
