#include "cmd/version.hpp"

#include <memory>

// Only for their version macros: the versions this binary was compiled against.
#include <CLI/Version.hpp>
#include <archive.h>
#include <curl/curlver.h>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <openssl/opensslv.h>
#include <zlib.h>

#include "build_info.hpp"
#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "kube/api.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

#define IR_STRINGIFY_VALUE(x) #x
#define IR_STRINGIFY(x) IR_STRINGIFY_VALUE(x)

// GOOS/GOARCH names, as kubectl and krew spell platforms.
constexpr const char* k_platform =
#if defined(__linux__) && defined(__x86_64__)
    "linux/amd64";
#elif defined(__linux__) && defined(__aarch64__)
    "linux/arm64";
#elif defined(__linux__)
    "linux/unknown";
#else
    "unknown";
#endif

constexpr const char* k_compiler =
#if defined(__clang__)
    "clang " __clang_version__;
#elif defined(__GNUC__)
    "gcc " __VERSION__;
#else
    "unknown";
#endif

// The build, as `version -o json` names it: what went into this binary, from the compiler's and the
// libraries' own macros (yaml-cpp and simdjson have none that is cheap to include: CMake's package
// versions stand in, cmake/IrVersion.cmake). The shared libraries shipped beside the binary are
// these versions or compatible ones; the SBOM beside the release archive lists the exact packages.
nlohmann::json client_build() {
  const std::string fmt_version = std::to_string(FMT_VERSION / 10000) + "." + std::to_string(FMT_VERSION / 100 % 100) +
                                  "." + std::to_string(FMT_VERSION % 100);
  const std::string json_version = std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                   std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                   std::to_string(NLOHMANN_JSON_VERSION_PATCH);
  return {
      {"version", build::k_version},
      {"gitCommit", build::k_git_commit},
      {"gitTreeState", build::k_git_tree_state},
      {"buildDate", build::k_build_date},
      {"buildType", build::k_build_type},
      {"platform", k_platform},
      {"compiler", k_compiler},
      {"cppStandard", IR_STRINGIFY(__cplusplus)},
      {"dependencies",
       {{"CLI11", CLI11_VERSION},
        {"curl", LIBCURL_VERSION},
        {"fmt", fmt_version},
        {"libarchive", ARCHIVE_VERSION_ONLY_STRING},
        {"nlohmann-json", json_version},
        {"OpenSSL", OPENSSL_VERSION_STR},
        {"simdjson", build::k_simdjson_version},
        {"yaml-cpp", build::k_yaml_cpp_version},
        {"zlib", ZLIB_VERSION}}},
  };
}

}  // namespace

Command setup_version(CLI::App& root, const GlobalOptions& global) {
  auto options = std::make_shared<VersionOptions>();
  CLI::App* app = add_command(root, "version", "Print the client and server versions",
                              {
                                  "kubectl ir version",
                                  "kubectl ir version --client -o json",
                              });
  app->add_flag("--client", options->client_only, "Print the client version only (no server call)");
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [options, &global](Io& io) { return run_version(*options, global, io); }};
}

int run_version(const VersionOptions& options, const GlobalOptions& global, Io& io) {
  nlohmann::json out = {{"clientVersion", client_build()}};
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
