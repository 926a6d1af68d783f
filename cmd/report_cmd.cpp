#include "cmd/report_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include <fmt/format.h>

#include "build_info.hpp"
#include "cmd/errors.hpp"
#include "report/report.hpp"
#include "util/clock.hpp"
#include "util/escape.hpp"
#include "util/sink.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

// Runs `render` into stdout ("" or "-") or into a file written whole or not at all (a partial file
// renamed when complete, mode 0600: it holds evidence).
Result<void> write_output(const std::string& path, Io& io, const std::function<Result<void>(util::Sink&)>& render) {
  if (path.empty() || path == "-") {
    util::OstreamSink out(io.out);
    IR_CHECK(render(out));
    return out.finish();
  }
  const std::string partial = path + ".partial";
  IR_TRY(file, util::FileSink::create(partial));
  auto r = render(*file);
  if (r) r = file->finish();
  if (r && std::rename(partial.c_str(), path.c_str()) != 0) r = fail(Errc::io, path + ": " + std::strerror(errno));
  if (!r) std::remove(partial.c_str());
  return r;
}

}  // namespace

Command setup_report(CLI::App& root, const GlobalOptions& /*global*/) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* app =
      add_command(root, "report",
                  "Write what a person reads of an evidence bundle: an HTML page, Markdown or a Timesketch timeline "
                  "(no cluster needed)",
                  {
                      "kubectl ir report case-20261205-101500-ab12_shop_web-1_20261205T101500Z.tar.gz   # -> "
                      "...T101500Z.html beside it",
                      "kubectl ir report case.tar.gz -o /tmp/case.html",
                      "kubectl ir report case.tar.gz --format md               # a summary for a ticket or chat",
                      "kubectl ir report case.tar.gz --format timesketch -o case.jsonl   # import into Timesketch",
                  },
                  "The bundle is verified first (every SHA-256 against the manifest) and the page says whether it\n"
                  "matched. The page is one self-contained file: no network request, opens from disk, prints.\n"
                  "Exit 0 when written from a bundle that verifies, 1 otherwise (the page is still written).");
  app->add_option("bundle", options->bundle, "The bundle (.tar.gz)")->required();
  app->add_option("-o,--output", options->output,
                  "Where to write: a file, or - for stdout (default: html beside the bundle as <name>.html, md and "
                  "timesketch to stdout)");
  app->add_option("--format", options->format, "html (default), md, timesketch")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ReportFormat>{
              {"html", ReportFormat::html}, {"md", ReportFormat::md}, {"timesketch", ReportFormat::timesketch}},
          CLI::ignore_case));
  app->add_option("--max-files", options->max_files, "File listing entries shown at most")
      ->check(CLI::Range(1, 10'000'000));
  app->add_option("--max-log-lines", options->max_log_lines,
                  "Log lines per log on the timeline (the first and last half)")
      ->check(CLI::Range(0, 10'000'000));
  app->add_option("--timeline-files", options->timeline_files, "Newest file mtimes on the page's timeline by default")
      ->check(CLI::Range(0, 10'000'000));
  return {app, [options](Io& io) { return run_report(*options, io); }};
}

int run_report(const ReportOptions& options, Io& io) {
  report::Options ro;
  ro.read.max_files = options.max_files;
  ro.read.max_log_lines = options.max_log_lines;
  ro.timeline_files = options.timeline_files;
  ro.tool = std::string("kubectl-ir ") + build::k_version + " (" + build::k_git_commit + ")";
  ro.generated_at = util::format_rfc3339(util::RealClock().now());
  const std::string what = "report " + options.bundle;

  report::Summary summary;
  std::string written_to;
  if (options.output == options.bundle) {
    print_error(
        io, Error(Errc::usage, what + ": the output would replace the bundle").with_hint("give another file with -o"));
    return k_exit_usage;
  }
  if (options.format == ReportFormat::html && options.output != "-") {
    written_to = options.output.empty() ? report::page_path_for(options.bundle) : options.output;
    auto s = report::write_html(options.bundle, written_to, ro);
    if (!s) return exit_with(io, s.error().context(what));
    summary = *s;
    io.out << written_to << "\n";
  } else {
    auto model = report::read_bundle(options.bundle, ro.read);
    if (!model) return exit_with(io, model.error().context(what));
    summary = report::summarize(*model);
    const auto r = write_output(options.output, io, [&](util::Sink& out) -> Result<void> {
      switch (options.format) {
        case ReportFormat::md:
          return out.write(report::render_markdown(*model));
        case ReportFormat::timesketch:
          return report::render_timesketch(*model, out);
        case ReportFormat::html:
          return report::render_html(*model, ro, out);
      }
      return {};
    });
    if (!r) return exit_with(io, r.error().context(what), k_exit_failure);
    written_to = options.output.empty() || options.output == "-" ? "stdout" : options.output;
  }
  io.err << fmt::format("report: {}: {} processes, {} connections, {} files, {} events, {} findings\n",
                        util::esc(written_to, util::Cap::path), summary.processes, summary.connections, summary.files,
                        summary.events, summary.findings);
  io.err << "bundle sha256: " << summary.bundle_sha256 << "\n";
  if (!summary.verified) {
    print_error(
        io, Error(Errc::failure, fmt::format("{}: the bundle does not verify ({} problem(s)); the report says which",
                                             what, summary.problems))
                .with_hint("kubectl ir verify " + options.bundle + " lists them"));
    return k_exit_failure;
  }
  return k_exit_ok;
}

}  // namespace ir::cli
