#pragma once
// kubectl ir report: what a person reads of an evidence bundle. Three renderings of one
// report::Model (model.hpp), read from the bundle alone while it is verified:
//   - HTML: one self-contained page (CSS and script inline, no network request of any kind, a
//     Content-Security-Policy that allows only its own script and style by hash). The summary and
//     custody header are static HTML; the tables (process tree, connections, files, timeline,
//     siblings, manifest) are rendered by the inline script from one <script type="application/json">
//     block, with textContent only and in pages, so 100,000 files do not become 100,000 rows.
//   - Markdown: a short summary for a ticket or a chat.
//   - Timesketch: the timeline as JSON Lines (message, datetime, timestamp_desc on every line).
// Every pod-supplied string is escaped for its medium (util/escape.hpp).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "report/model.hpp"
#include "util/result.hpp"
#include "util/sink.hpp"

namespace ir::report {

// One line of the page's Custody section about the bundle after it was sealed (signed,
// uploaded): what the command that wrote the bundle did next, known to it and not to the bundle.
struct CustodyNote {
  std::string action;  // "Signed", "Uploaded", "Upload failed" ...
  std::string detail;  // one line; escaped when written
};

struct Options {
  ReadOptions read;
  std::vector<CustodyNote> after_seal;  // shown under "After sealing" in the Custody section
  std::string after_seal_source;        // where they are recorded, shown above them (one line)
  std::string generated_at;           // RFC 3339, shown at the foot of the page; "" shows nothing
  std::string tool;                   // "kubectl-ir v0.1.0 (6b43b5c)", likewise
  std::size_t timeline_files = 1000;  // the newest file mtimes put on the HTML timeline by default
};

// What was written, for the caller to print.
struct Summary {
  std::string bundle_sha256;
  bool verified = false;     // every hash matched the manifest
  std::size_t problems = 0;  // verification problems
  std::size_t processes = 0;
  std::size_t connections = 0;
  std::size_t files = 0;
  std::size_t events = 0;  // timeline events (file mtimes excepted)
  std::size_t findings = 0;
  std::uint64_t bytes = 0;  // of the output written
  std::string sha256;       // of the page written (write_html), hex; "" otherwise
};

// The counts of a Model (bytes left 0).
Summary summarize(const Model& model);

// The HTML page of `model` into `out` (not finished). Fails only when `out` fails.
Result<void> render_html(const Model& model, const Options& options, util::Sink& out);

// The Markdown summary of `model`: case, subject, verification, isolation, top findings, failed
// steps and one custody line. Never fails.
std::string render_markdown(const Model& model);

// The timeline of `model` as Timesketch JSON Lines into `out` (not finished): one object per
// event and per file mtime, each with "message", "datetime" (ISO 8601, UTC, microseconds),
// "timestamp_desc", and "data_type", "source_artifact", "container", "case", "pod". Fails only
// when `out` fails.
Result<void> render_timesketch(const Model& model, util::Sink& out);

// The page's default place beside a bundle: "dir/case.tar.gz" -> "dir/case.html" (".tgz" likewise;
// any other name gets ".html" appended). Never fails.
std::string page_path_for(const std::string& bundle_path);

// The one call for commands that write a page beside a bundle: reads and verifies
// `bundle_path`, renders the page into "<out_path>.partial" (mode 0600: it holds evidence) and
// renames it to `out_path` (replacing an older page). Fails when the bundle cannot be read (see
// read_bundle) or the page cannot be written (Errc::io; no partial file is left). A bundle whose
// hashes do not all match still gets its page, saying so: check Summary::verified.
Result<Summary> write_html(const std::string& bundle_path, const std::string& out_path, const Options& options = {});

}  // namespace ir::report
