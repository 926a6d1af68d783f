#pragma once
// One command in a container, its output kept as evidence: stdout streams into a bundle entry
// (committed with the exit status and whether it was cut), stderr — when there is any — becomes
// "<entry>.stderr". The one sequence shared by collect's inspection commands and the playbook's
// exec step.

#include <cstdint>
#include <optional>
#include <string>

#include "evidence/bundle.hpp"
#include "exec/session.hpp"
#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "util/cancel.hpp"
#include "util/sink.hpp"

namespace ir::triage {

// What to do with the stdout entry of a command that exits non-zero.
enum class OnFailure { store, drop };

struct ExecEntrySpec {
  exec::ExecRequest request;
  exec::ExecLimits limits;
  std::string entry;              // bundle entry for stdout; "" = not stored (a probe, or a tee only)
  evidence::ArtifactMeta meta;    // source and method; exit status and truncation are filled in
  std::size_t keep = 0;           // bytes of stdout kept in memory too (for parsing)
  util::Sink* tee = nullptr;      // also receives stdout (a parser, a digest); finish()ed at the end
  OnFailure on_failure = OnFailure::store;  // drop: a command that exits non-zero leaves no entry (a probe)
  std::size_t max_stderr_kept = 64 * 1024;
};

// What one command produced.
struct ExecCapture {
  std::optional<Error> error;                  // the command did not run (or its outcome is unknown)
  std::optional<exec::ExecResult> result;
  std::string stdout_copy;                     // the first `keep` bytes of stdout, when asked
  bool stdout_copy_complete = true;            // false: stdout was longer than `keep`
  std::string stderr_text;                     // up to max_stderr_kept bytes
  bool stored = false;                         // the stdout entry was added to the bundle
  std::uint64_t bytes = 0;                     // stdout bytes kept
  std::optional<evidence::Artifact> artifact;  // the stdout entry's manifest record, when stored
  [[nodiscard]] bool not_found() const { return error && error->code == Errc::exec_not_found; }
  [[nodiscard]] bool ok() const { return result && result->completed() && result->exit_code == 0; }
  // "ok", "exit 1: <stderr's first line>", "stdout limit reached after 16777216 bytes", the error...
  [[nodiscard]] std::string summary() const;
};

// Runs the command. Never fails as a whole: what went wrong is in the capture (an exec error: no
// entry; a bundle error: `error` set after the command ran). Cancelled before it starts: `error`
// is Errc::cancelled and nothing runs.
ExecCapture exec_to_entry(kube::Client& client, kube::Connector& connector, evidence::BundleWriter& bundle,
                          const ExecEntrySpec& spec, const util::CancelToken* cancel);

}  // namespace ir::triage
