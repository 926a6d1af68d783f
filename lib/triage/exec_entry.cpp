#include "triage/exec_entry.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::triage {

std::string ExecCapture::summary() const {
  if (error) return error->message;
  if (!result) return "not run";
  if (!result->completed()) return result->detail;
  if (result->exit_code != 0) {
    std::string s = fmt::format("exit {}", result->exit_code);
    const auto first_line = stderr_text.substr(0, stderr_text.find('\n'));
    if (!first_line.empty()) s += ": " + util::esc(first_line, util::Cap::field);
    return s;
  }
  return "ok";
}

ExecCapture exec_to_entry(kube::Client& client, kube::Connector& connector, evidence::BundleWriter& bundle,
                          const ExecEntrySpec& spec, const util::CancelToken* cancel) {
  ExecCapture cap;
  evidence::ArtifactMeta meta = spec.meta;
  if (cancel != nullptr && cancel->cancelled()) {
    cap.error = Error(Errc::cancelled, "cancelled before it ran");
    return cap;
  }
  std::unique_ptr<evidence::EntrySink> entry;
  if (!spec.entry.empty()) {
    auto e = bundle.open_entry(spec.entry, meta);
    if (!e) {
      cap.error = e.error().context("bundle");
      return cap;
    }
    entry = std::move(*e);
  }
  util::NullSink discard;
  util::MemorySink copy(spec.keep);
  std::vector<util::Sink*> outs{entry ? static_cast<util::Sink*>(entry.get()) : &discard};
  if (spec.keep > 0) outs.push_back(&copy);
  if (spec.tee != nullptr) outs.push_back(spec.tee);
  util::TeeSink out(outs);
  util::MemorySink err(spec.max_stderr_kept);

  auto r = exec::run_exec(client, connector, spec.request, out, err, {}, spec.limits, cancel);
  cap.stderr_text = err.data();
  if (!r) {
    cap.error = r.error();
    if (spec.tee != nullptr) (void)spec.tee->finish();
    return cap;  // the entry is dropped: nothing arrived
  }
  cap.result = *r;
  cap.bytes = r->out.kept;
  if (spec.keep > 0) {
    cap.stdout_copy_complete = !copy.overflowed();
    cap.stdout_copy = copy.take();
  }
  if (spec.tee != nullptr) {
    if (auto f = spec.tee->finish(); !f) cap.error = f.error();
  }
  if (!entry) return cap;
  const bool failed = r->completed() && r->exit_code != 0;
  if (failed && spec.on_failure == OnFailure::drop) return cap;
  if (r->completed()) meta.exit_status = r->exit_code;
  meta.truncated = !r->completed() || r->out.truncated();
  meta.note = r->completed() ? "" : r->detail;
  auto c = entry->commit(meta);
  if (!c) {
    cap.error = c.error().context("bundle");
    return cap;
  }
  cap.stored = true;
  cap.artifact = *c;
  if (!cap.stderr_text.empty()) {
    evidence::ArtifactMeta em = meta;
    em.truncated = err.overflowed() || r->err.truncated();
    em.note = "stderr of the command";
    (void)bundle.add(spec.entry + ".stderr", cap.stderr_text, em);
  }
  return cap;
}

}  // namespace ir::triage
