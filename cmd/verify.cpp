#include "cmd/verify.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cmd/errors.hpp"
#include "evidence/bundle.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {



// "<entry>: <problem>", or the problem alone for the bundle as a whole.
std::string describe(const evidence::VerifyProblem& p) { return p.entry.empty() ? p.problem : p.entry + ": " + p.problem; }

// Entry names in a hostile bundle may hold any bytes: dump() replaces invalid UTF-8 with U+FFFD
// instead of throwing.
std::string dump(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

Command setup_verify(CLI::App& root, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* app = root.add_subcommand("verify", "Check an evidence bundle against its manifest (no cluster needed)");
  app->footer(
      "Examples:\n"
      "  kubectl ir verify case-20261121-163229-7f3a.tar.gz\n"
      "  kubectl ir verify evidence/web-7d4b9.tar.gz -o json | jq '.problems'\n"
      "\nRecomputes the SHA-256 and size of every entry and compares them with manifest.json; reports\n"
      "entries that changed, are missing, are not in the manifest, appear twice or have unsafe names,\n"
      "and prints the SHA-256 of the bundle itself (compare it with the one printed at collection).\n"
      "Exit 0 when everything matches, 1 otherwise.");
  app->add_option("BUNDLE", options->bundle, "The bundle (.tar.gz) to verify")->required();
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [options](Io& io) { return run_verify(*options, io); }};
}

int run_verify(const VerifyOptions& options, Io& io) {
  const bool json = options.output == "json";
  const auto report = evidence::verify_bundle(options.bundle);
  if (!report) {
    // File-system errors already start with the path ("x.tar.gz: No such file or directory"):
    // say it once, as "verify x.tar.gz: No such file or directory".
    Error e = report.error();
    if (const std::string prefix = options.bundle + ": "; e.message.rfind(prefix, 0) == 0) {
      e.message.erase(0, prefix.size());
    }
    e = e.context("verify " + options.bundle);
    if (json) io.out << dump({{"bundle", options.bundle}, {"ok", false}, {"error", e.message}}) << "\n";
    print_error(io, e);
    return k_exit_failure;
  }
  if (json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : report->problems) problems.push_back({{"entry", p.entry}, {"problem", p.problem}});
    io.out << dump({{"bundle", options.bundle},
                    {"sha256", report->bundle_sha256},
                    {"ok", report->ok()},
                    {"entries", report->entries_checked},
                    {"problems", std::move(problems)}})
           << "\n";
  } else {
    io.out << "bundle: " << util::esc(options.bundle, util::Cap::path) << "\n";
    io.out << "sha256: " << report->bundle_sha256 << "\n";
    if (report->ok()) {
      io.out << "entries: " << report->entries_checked << " verified\n";
    } else {
      io.out << fmt::format("entries: {} checked, {} problem(s)\n", report->entries_checked, report->problems.size());
      for (const auto& p : report->problems) io.out << "problem: " << util::esc(describe(p), util::Cap::detail) << "\n";
    }
  }
  if (!report->ok()) {
    // print_error escapes the message (entry names come from the bundle).
    print_error(io, Error(Errc::failure, fmt::format("verify {}: {} problem(s): {}", options.bundle,
                                                     report->problems.size(), describe(report->problems.front()))));
    return k_exit_failure;
  }
  return k_exit_ok;
}

}  // namespace ir::cli
