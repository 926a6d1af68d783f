// The Markdown summary and the Timesketch JSON Lines of a report::Model.

#include <fmt/format.h>

#include "report/report.hpp"
#include "report/time.hpp"
#include "util/escape.hpp"

namespace ir::report {

namespace {

using util::Text;

std::string md(std::string_view s) {
  return util::escape_markdown(s, Text::escaped);
}

std::string mode_text(std::uint32_t mode) {
  return fmt::format("{:04o}", mode & 07777U);
}

const char* type_name(char t) {
  switch (t) {
    case 'f':
      return "file";
    case 'd':
      return "dir";
    case 'l':
      return "symlink";
    case 'b':
      return "block device";
    case 'c':
      return "char device";
    case 'p':
      return "fifo";
    case 's':
      return "socket";
    default:
      return "unknown";
  }
}

}  // namespace

std::string render_markdown(const Model& m) {
  std::string s;
  s += "### kubectl-ir report: " + md(m.namespace_name + "/" + m.pod) + "\n\n";
  std::string who = "- **Case** " + md(m.case_id.empty() ? "unknown" : m.case_id);
  if (!m.node.empty()) who += " · **node** " + md(m.node);
  if (!m.workload.empty()) who += " · **workload** " + md(m.workload);
  s += who + "\n";
  for (const auto& [c, id] : m.images) s += "- **Image** " + md(c) + ": " + md(id) + "\n";
  if (!m.started.empty()) {
    s += "- **Collected** " + md(m.started + (m.ended.empty() ? "" : " to " + m.ended)) + " by " +
         md(m.examiner.empty() ? "unknown" : m.examiner) + (m.result.empty() ? "" : " (" + md(m.result) + ")") + "\n";
  }
  if (m.verified()) {
    s += fmt::format("- **Evidence verified**: all {} artifacts match the manifest\n", m.entries_checked);
  } else {
    s += fmt::format("- **Evidence NOT verified**: {} problem(s), first: {}\n", m.problems.size(),
                     md(m.problems.front()));
  }
  for (const auto& i : m.isolation) {
    s += "- **Isolation** " + md(i.pod) + " " + md(i.direction) + ": **" + md(i.state) + "**" +
         (i.reason.empty() ? "" : " (" + md(i.reason) + ")") + "\n";
  }
  s += "\n**Top findings**";
  if (m.findings.empty()) {
    s += m.findings_from_analysis ? ": none\n" : ": none (no analysis in the bundle)\n";
  } else {
    s += fmt::format(" ({} in all{}):\n\n", m.findings.size(),
                     m.findings_from_analysis ? "" : ", the report's own checks");
    for (std::size_t i = 0; i < m.findings.size() && i < 5; ++i) {
      const Finding& f = m.findings[i];
      s += fmt::format("{}. **{}** {}: {}{}{}\n", i + 1, to_string(f.severity), md(f.rule),
                       f.container.empty() ? "" : "\\[" + md(f.container) + "\\] ",
                       md((f.pod.empty() ? "" : f.pod + ": ") + f.summary),
                       f.seen_in.empty() ? "" : " (" + md(f.seen_in) + ")");
    }
  }
  std::string bad;
  for (const auto& st : m.steps) {
    if (st.status == "ok" || st.status == "skipped") continue;
    bad += "- " + md(st.name) + (st.container.empty() ? "" : " \\[" + md(st.container) + "\\]") + ": **" +
           md(st.status) + "**" + (st.detail.empty() ? "" : ": " + md(st.detail)) + "\n";
  }
  for (const auto& n : m.not_collected) bad += "- not collected: " + md(n) + "\n";
  if (!bad.empty()) s += "\n**Problems**\n\n" + bad;
  s += "\n**Custody**: bundle " + md(m.bundle_name) + " sha256 `" + md(m.bundle_sha256) + "`, " +
       fmt::format("{} artifacts{}", m.entries_checked, m.verified() ? " verified" : ", verification FAILED") +
       (m.case_id.empty() ? "" : ", case " + md(m.case_id)) + ".\n";
  return s;
}

Result<void> render_timesketch(const Model& m, util::Sink& out) {
  std::string buf;
  const std::string pod = m.namespace_name + "/" + m.pod;
  const auto line = [&](std::int64_t time_us, const std::string& message, const char* desc, const char* data_type,
                        const std::string& source, const std::string& container, bool estimated) {
    buf += "{\"message\":";
    util::append_script_json_string(buf, message);
    buf += ",\"datetime\":\"" + format_iso8601_us(time_us) + "\",\"timestamp\":" + std::to_string(time_us) +
           ",\"timestamp_desc\":";
    util::append_script_json_string(buf, desc);
    buf += ",\"data_type\":";
    util::append_script_json_string(buf, data_type);
    buf += ",\"source_artifact\":";
    util::append_script_json_string(buf, source);
    buf += ",\"container\":";
    util::append_script_json_string(buf, container);
    buf += ",\"case\":";
    util::append_script_json_string(buf, m.case_id);
    buf += ",\"pod\":";
    util::append_script_json_string(buf, pod);
    if (estimated) buf += ",\"time_estimated\":true";
    buf += "}\n";
  };
  static constexpr const char* k_data_types[] = {"kubectl-ir:k8s:event", "kubectl-ir:container", "kubectl-ir:log",
                                                 "kubectl-ir:file",      "kubectl-ir:process",   "kubectl-ir:action",
                                                 "kubectl-ir:collection"};
  for (const Event& e : m.events) {
    line(e.time_us, e.message, timestamp_desc(e.kind), k_data_types[static_cast<int>(e.kind)], e.source, e.container,
         e.estimated);
    if (buf.size() >= (1U << 20)) {
      IR_CHECK(out.write(buf));
      buf.clear();
    }
  }
  for (const FileEntry& f : m.files) {
    if (!f.mtime_known) continue;
    const std::string& c = f.container < m.containers.size() ? m.containers[f.container] : std::string();
    std::string message = fmt::format("{} modified: {} ({} bytes, mode {}, uid {}, gid {})", type_name(f.type), f.path,
                                      f.size, mode_text(f.mode), f.uid, f.gid);
    if (!f.target.empty()) message += " -> " + f.target;
    line(f.mtime * 1'000'000, message, timestamp_desc(EventKind::file), "kubectl-ir:file",
         "containers/" + c + "/filesystem/listing.jsonl", c, false);
    if (buf.size() >= (1U << 20)) {
      IR_CHECK(out.write(buf));
      buf.clear();
    }
  }
  if (!buf.empty()) IR_CHECK(out.write(buf));
  return {};
}

}  // namespace ir::report
