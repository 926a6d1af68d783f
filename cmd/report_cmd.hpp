#pragma once
// kubectl ir report: a bundle a person can read. (cmd/report.hpp is the error printer.)
#include <cstddef>
#include <string>

#include "cmd/command.hpp"

namespace ir::cli {

enum class ReportFormat { html, md, timesketch };

struct ReportOptions {
  std::string bundle;  // the .tar.gz
  std::string output;  // -o: a file, "-" for stdout; "" = html beside the bundle, md/timesketch to stdout
  ReportFormat format = ReportFormat::html;
  std::size_t max_files = 1'000'000;
  std::size_t max_log_lines = 1000;
  std::size_t timeline_files = 1000;
};

// kubectl ir report BUNDLE [-o FILE] [--format html|md|timesketch]: verifies the bundle and writes
// what a person reads of it. Needs no cluster. Exit 0 when written from a bundle whose every hash
// matched; 1 when the bundle cannot be read, the output cannot be written, or the bundle does not
// verify (the page is still written and says so); 2 for bad flags.
Command setup_report(CLI::App& root, const GlobalOptions& global);
int run_report(const ReportOptions& options, Io& io);

}  // namespace ir::cli
