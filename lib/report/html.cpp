// The HTML page. Layout: a static part (head with the Content-Security-Policy, the summary, the
// custody header, the acquisition log), written here with util::escape_html on every value; then
// one <script type="application/json" id="ir-data"> block with the tables' data, written with
// util::append_script_json_string (nothing inside can close the script element); then the inline
// script (assets/report.js) that renders the tables from it with textContent only.
//
// The CSP allows exactly the inline script and style of this build by their SHA-256
// ('sha256-<base64>', CSP Level 2 §4.2.3), and nothing else: default-src 'none' forbids every
// fetch, connection, frame, font, form target and plugin; img-src data: is not even needed.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include "report/assets.hpp"
#include "report/report.hpp"
#include "report/time.hpp"
#include "util/crypto.hpp"
#include "util/escape.hpp"

namespace ir::report {

namespace {

using util::Text;

// Model strings are visible forms already: escaping them as Text::escaped adds nothing but the
// entities (and stays safe should one not be).
std::string h(std::string_view s) {
  return util::escape_html(s, Text::escaped);
}

// The CSP source for inline content: 'sha256-' + base64 of the raw digest.
std::string csp_hash(std::string_view content) {
  const std::string hex = util::sha256_hex(content);
  std::string raw;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return "'sha256-" + util::base64_encode(raw) + "'";
}

// Buffers output and hands it to the sink in large writes.
class Out {
 public:
  explicit Out(util::Sink& sink) : m_sink(sink) {}
  std::string& buf() { return m_buf; }
  Out& operator<<(std::string_view s) {
    m_buf += s;
    return *this;
  }
  Result<void> maybe_flush() {
    if (m_buf.size() < (1U << 20)) return {};
    return flush();
  }
  Result<void> flush() {
    m_bytes += m_buf.size();
    auto r = m_sink.write(m_buf);
    m_buf.clear();
    return r;
  }
  [[nodiscard]] std::uint64_t bytes() const { return m_bytes + m_buf.size(); }

 private:
  util::Sink& m_sink;
  std::string m_buf;
  std::uint64_t m_bytes = 0;
};

// Counts what passes to `inner`.
class CountingSink final : public util::Sink {
 public:
  explicit CountingSink(util::Sink& inner) : m_inner(inner) {}
  Result<void> write(std::string_view data) override {
    m_bytes += data.size();
    m_sha.update(data);
    return m_inner.write(data);
  }
  Result<void> finish() override { return m_inner.finish(); }
  [[nodiscard]] std::uint64_t bytes() const { return m_bytes; }
  // The SHA-256 of everything written (the page, hashed as it is written: no read back).
  [[nodiscard]] std::string sha256() { return m_sha.hex_digest(); }

 private:
  util::Sink& m_inner;
  std::uint64_t m_bytes = 0;
  util::Sha256 m_sha;
};

// ,"key":"value": one string member of an object after its first.
void js_member(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  util::append_script_json_string(out, value);
}

void row(Out& o, std::string_view key, const std::string& value) {
  if (value.empty()) return;
  o << "<tr><th scope=\"row\">" << h(key) << "</th><td>" << h(value) << "</td></tr>\n";
}

const char* severity_class(Severity s) {
  return to_string(s);
}

// --- the static part ---------------------------------------------------------------------------

void write_head(Out& o, const Model& m, std::string_view css, std::string_view js) {
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src " << csp_hash(js)
    << "; style-src " << csp_hash(css) << "; img-src data:; base-uri 'none'; form-action 'none'\">\n"
    << "<meta name=\"referrer\" content=\"no-referrer\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<meta name=\"generator\" content=\"kubectl-ir report\">\n"
    << "<title>"
    << h("kubectl-ir report: " + m.namespace_name + "/" + m.pod + (m.case_id.empty() ? "" : " (" + m.case_id + ")"))
    << "</title>\n<style>" << css << "</style>\n</head>\n";
}

void write_verification(Out& o, const Model& m) {
  if (m.verified()) {
    o << "<div class=\"banner ok\" id=\"verification\" data-verified=\"true\"><strong>Evidence verified:</strong> all "
      << std::to_string(m.entries_checked) << " artifacts match the manifest's SHA-256. Bundle SHA-256 <code>"
      << h(m.bundle_sha256) << "</code></div>\n";
    return;
  }
  o << "<div class=\"banner bad\" id=\"verification\" data-verified=\"false\"><strong>Evidence NOT verified:</strong> "
    << std::to_string(m.problems.size())
    << " problem(s); what this page shows from the entries named below cannot be trusted. "
    << "Bundle SHA-256 <code>" << h(m.bundle_sha256) << "</code><ul>";
  for (std::size_t i = 0; i < m.problems.size() && i < 50; ++i) o << "<li>" << h(m.problems[i]) << "</li>";
  if (m.problems.size() > 50) o << "<li>" << std::to_string(m.problems.size() - 50) << " more</li>";
  o << "</ul></div>\n";
}

void write_summary(Out& o, const Model& m, const Options& options) {
  o << "<section id=\"summary\"><h2>Summary</h2>\n<div class=\"cols\"><table class=\"kv\">\n";
  row(o, "Case", m.case_id);
  row(o, "Pod", m.namespace_name + "/" + m.pod);
  row(o, "UID", m.uid);
  row(o, "Node", m.node);
  row(o, "Workload", m.workload);
  row(o, "Pod IP", m.pod_ip);
  row(o, "Phase", m.phase);
  for (const auto& [c, id] : m.images) row(o, "Image (" + c + ")", id);
  o << "</table><table class=\"kv\">\n";
  row(o, "Collected", m.started + (m.ended.empty() ? "" : " to " + m.ended));
  row(o, "Examiner", m.examiner);
  row(o, "Caller identity", m.caller);
  row(o, "Result", m.result);
  row(o, "Playbook", m.playbook);
  row(o, "Command", m.command);
  row(o, "Cluster", m.context + (m.server.empty() ? "" : " (" + m.server + ")"));
  row(o, "Host", m.host);
  row(o, "Collected with", m.tool);
  row(o, "Who and when from", m.acquisition_source);
  o << "</table></div>\n";

  o << "<h3>Isolation</h3>\n";
  if (m.isolation.empty()) {
    o << "<p class=\"muted\" id=\"isolation-none\">The journal records no isolation of this pod.</p>\n";
  } else {
    o << "<table class=\"grid\" "
         "id=\"isolation\"><thead><tr><th>Time</th><th>Pod</th><th>Direction</th><th>Verdict</th><th>Why</th></tr></"
         "thead><tbody>\n";
    for (const auto& i : m.isolation) {
      const char* cls = i.state == "contained"                                ? "ok"
                        : i.state == "not requested" || i.state == "released" ? "muted"
                                                                              : "bad";
      o << "<tr><td>" << h(i.time) << "</td><td>" << h(i.pod) << "</td><td>" << h(i.direction) << "</td><td class=\""
        << cls << "\">" << h(i.state) << "</td><td>" << h(i.reason) << "</td></tr>\n";
    }
    o << "</tbody></table>\n";
  }

  o << "<h3>Top findings</h3>\n";
  if (m.findings.empty()) {
    o << "<p class=\"muted\">No findings"
      << (m.findings_from_analysis ? "." : " (and the bundle has no analysis/indicators.json).") << "</p>\n";
  } else {
    o << "<ol class=\"findings\" id=\"top-findings\">\n";
    for (std::size_t i = 0; i < m.findings.size() && i < 10; ++i) {
      const Finding& f = m.findings[i];
      o << "<li><span class=\"sev " << severity_class(f.severity) << "\">" << to_string(f.severity) << "</span> <code>"
        << h(f.rule) << "</code> "
        << h((f.pod.empty() ? "" : f.pod + ": ") + (f.container.empty() ? "" : "[" + f.container + "] ") + f.summary)
        << (f.seen_in.empty() ? "" : " <span class=\"muted\">(" + h(f.seen_in) + ")</span>")
        << (f.source == "report" ? " <span class=\"muted\">(report's own check)</span>" : "") << "</li>\n";
    }
    o << "</ol>\n";
    if (m.findings.size() > 10) o << "<p>" << std::to_string(m.findings.size() - 10) << " more under Findings.</p>\n";
  }

  std::vector<const Step*> bad;
  for (const auto& s : m.steps) {
    if (s.status != "ok" && s.status != "skipped") bad.push_back(&s);
  }
  o << "<h3>Steps</h3>\n";
  if (m.steps.empty() && m.not_collected.empty()) {
    o << "<p class=\"muted\" id=\"steps-none\">The bundle records no step outcomes.</p>\n";
  } else if (bad.empty() && m.not_collected.empty()) {
    o << "<p class=\"ok\" id=\"steps-ok\">" << std::to_string(m.steps.size()) << " steps, all ok.</p>\n";
  } else {
    o << "<ul class=\"bad\" id=\"steps-bad\">\n";
    for (const Step* s : bad) {
      o << "<li><strong>" << h(s->name) << (s->container.empty() ? "" : " [" + h(s->container) + "]") << ": "
        << h(s->status) << "</strong>" << (s->detail.empty() ? "" : " — " + h(s->detail)) << "</li>\n";
    }
    for (const auto& n : m.not_collected) o << "<li>not collected: " << h(n) << "</li>\n";
    o << "</ul>\n";
  }
  if (!m.notes.empty() || !m.analysis_gaps.empty()) {
    o << "<details class=\"notes\" id=\"notes\"><summary>" << std::to_string(m.notes.size() + m.analysis_gaps.size())
      << " notes on what the bundle lacks or what was cut</summary><ul>\n";
    for (const auto& n : m.notes) o << "<li>" << h(n) << "</li>\n";
    for (const auto& g : m.analysis_gaps) o << "<li>analysis could not judge: " << h(g) << "</li>\n";
    o << "</ul></details>\n";
  }
  (void)options;
  o << "</section>\n";
}

void write_sections(Out& o, const Model& m, const Options& options) {
  const auto section = [&](const char* id, const char* title, const char* intro) {
    o << "<section id=\"" << id << "\"><h2>" << title << "</h2>\n";
    if (intro[0] != '\0') o << "<p class=\"muted\">" << intro << "</p>\n";
    o << "<div class=\"view\" data-view=\"" << id << "\"></div></section>\n";
  };
  section("findings", "Findings",
          "From the bundle's analysis documents (analysis/indicators.json, analysis/drift.json), or the report's own "
          "checks when "
          "there are none.");
  section("processes", "Process tree",
          "Parent and child processes of each container from the /proc walk (ps where there was none). Marked ones "
          "carry the rule "
          "that fired. Start times marked ≈ are estimated from /proc ticks, counted from the container's start.");
  section("connections", "Connections",
          "Sockets from /proc/net, linked to the processes holding them; remote ends named where the "
          "bundle's API state knows the address.");
  section("files", "Files", "The container's file system listing, newest first. Sort by a column, filter by path.");
  section("timeline", "Timeline",
          "Pod events, container starts and exits, log lines (bounded), process starts, file modifications and the "
          "journal of what "
          "the responders did, on one axis (UTC).");
  section("blast", "Blast radius", "Pods that run the same image digest, or that the suspect was compared with.");
  o << "<section id=\"custody\"><h2>Custody</h2>\n<table class=\"kv\">\n";
  row(o, "Bundle", m.bundle_name);
  row(o, "Bundle SHA-256", m.bundle_sha256);
  row(o, "Verification",
      m.verified() ? fmt::format("every hash matched ({} artifacts)", m.entries_checked)
                   : fmt::format("{} problem(s)", m.problems.size()));
  o << "</table>\n";
  if (!options.after_seal.empty()) {
    // Not in the bundle: it was sealed before these happened. The caller names where they are
    // recorded (the case journal).
    o << "<h3>After sealing</h3>\n<p>" << h(options.after_seal_source) << "</p>\n<table class=\"kv\" id=\"after-seal\">\n";
    for (const auto& n : options.after_seal) row(o, n.action, n.detail);
    o << "</table>\n";
  }
  if (!m.acquisition_log.empty()) {
    o << "<details open><summary>acquisition.log</summary><pre id=\"acquisition-log\">";
    // Line by line: h() would write the line breaks as \x0a.
    std::size_t start = 0;
    while (start < m.acquisition_log.size()) {
      const auto nl = m.acquisition_log.find('\n', start);
      o << h(std::string_view(m.acquisition_log)
                 .substr(start, nl == std::string::npos ? std::string::npos : nl - start))
        << "\n";
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    o << "</pre></details>\n";
  }
  o << "<h3>Manifest</h3><div class=\"view\" data-view=\"custody\"></div></section>\n";
}

// --- the data block ----------------------------------------------------------------------------

// The common prefix of a and b, cut back to a UTF-8 character boundary: {bytes, UTF-16 units}
// (the script slices strings in UTF-16 code units).
std::pair<std::size_t, std::size_t> common_prefix(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  const std::size_t max = std::min(a.size(), b.size());
  while (n < max && a[n] == b[n]) ++n;
  while (n > 0 && n < b.size() && (static_cast<unsigned char>(b[n]) & 0xC0U) == 0x80U) --n;
  std::size_t units = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(b[i]);
    if ((c & 0xC0U) != 0x80U) units += c >= 0xF0U ? 2 : 1;
  }
  return {n, units};
}

Result<void> write_files(Out& o, const Model& m) {
  std::map<std::string, std::string> hashes(m.file_hashes.begin(), m.file_hashes.end());
  std::map<std::string, std::vector<std::size_t>> marks;  // "c:path" -> findings
  for (std::size_t i = 0; i < m.findings.size(); ++i) {
    const Finding& f = m.findings[i];
    if (!f.pod.empty() || f.path.empty()) continue;
    for (std::size_t c = 0; c < m.containers.size(); ++c) {
      if (f.container.empty() || f.container == m.containers[c]) marks[std::to_string(c) + ":" + f.path].push_back(i);
    }
  }
  std::vector<std::uint32_t> order(m.files.size());
  std::iota(order.begin(), order.end(), 0U);
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const FileEntry& x = m.files[a];
    const FileEntry& y = m.files[b];
    return x.container != y.container ? x.container < y.container : x.path < y.path;
  });
  // Columns rather than rows (JSON.parse and the script allocate one array per column, not one per
  // file), sorted by container and path, each path written as the length of the prefix it shares
  // with the one before (in UTF-16 code units, as the script slices strings) and the rest.
  std::string& out = o.buf();
  const auto column = [&](const char* name, auto&& write_one) -> Result<void> {
    out += ",\"";
    out += name;
    out += "\":[";
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (i > 0) out += ',';
      write_one(m.files[order[i]], i);
      IR_CHECK(o.maybe_flush());
    }
    out += ']';
    return {};
  };
  out += "\"files\":{\"n\":" + std::to_string(order.size());
  std::vector<std::size_t> suffix_at(order.size());
  IR_CHECK(column("pre", [&](const FileEntry& f, std::size_t i) {
    std::size_t bytes = 0;
    std::size_t units = 0;
    if (i > 0 && m.files[order[i - 1]].container == f.container)
      std::tie(bytes, units) = common_prefix(m.files[order[i - 1]].path, f.path);
    suffix_at[i] = bytes;
    out += std::to_string(units);
  }));
  IR_CHECK(column(
      "suf", [&](const FileEntry& f, std::size_t i) { util::append_script_json_string(out, std::string_view(f.path).substr(suffix_at[i])); }));
  out += ",\"type\":\"";
  for (const std::uint32_t index : order) {
    const char t = m.files[index].type;
    out += (t >= 'a' && t <= 'z') ? t : '?';
  }
  out += '"';
  IR_CHECK(column("size", [&](const FileEntry& f, std::size_t) { out += std::to_string(f.size); }));
  IR_CHECK(column("mode", [&](const FileEntry& f, std::size_t) { out += std::to_string(f.mode); }));
  IR_CHECK(column("uid", [&](const FileEntry& f, std::size_t) { out += std::to_string(f.uid); }));
  IR_CHECK(column("gid", [&](const FileEntry& f, std::size_t) { out += std::to_string(f.gid); }));
  IR_CHECK(column("mtime",
                  [&](const FileEntry& f, std::size_t) { out += f.mtime_known ? std::to_string(f.mtime) : "null"; }));
  if (m.containers.size() > 1)
    IR_CHECK(column("c", [&](const FileEntry& f, std::size_t) { out += std::to_string(f.container); }));
  // The few files with more to say: [index, {"t": link target, "x": 1 (flagged), "h": sha256, "m": [findings]}].
  out += ",\"extra\":[";
  bool first = true;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const FileEntry& f = m.files[order[i]];
    const std::string key = std::to_string(f.container) + ":" + f.path;
    const auto hash = hashes.find(key);
    const auto mark = marks.find(key);
    if (f.target.empty() && !f.flagged && hash == hashes.end() && mark == marks.end()) continue;
    out += first ? "[" : ",[";
    first = false;
    out += std::to_string(i) + ",{";
    bool any = false;
    const auto sep = [&] {
      if (any) out += ',';
      any = true;
    };
    if (!f.target.empty()) {
      sep();
      out += "\"t\":";
      util::append_script_json_string(out, f.target);
    }
    if (f.flagged) {
      sep();
      out += "\"x\":1";
    }
    if (hash != hashes.end()) {
      sep();
      out += "\"h\":";
      util::append_script_json_string(out, hash->second);
    }
    if (mark != marks.end()) {
      sep();
      out += "\"m\":[";
      for (std::size_t k = 0; k < mark->second.size(); ++k)
        out += (k == 0 ? "" : ",") + std::to_string(mark->second[k]);
      out += ']';
    }
    out += "}]";
    IR_CHECK(o.maybe_flush());
  }
  out += "]}";
  return {};
}

Result<void> write_data(Out& o, const Model& m, const Options& options) {
  std::string& out = o.buf();
  const auto str_array = [&](const std::vector<std::string>& v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ',';
      util::append_script_json_string(out, v[i]);
    }
    out += ']';
  };
  const auto idx_array = [&](const std::vector<std::size_t>& v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : ",") + std::to_string(v[i]);
    out += ']';
  };
  out += "{\"v\":1,\"pod\":";
  util::append_script_json_string(out, m.namespace_name + "/" + m.pod);
  out += ",\"timelineFiles\":" + std::to_string(options.timeline_files);
  out += ",\"containers\":";
  str_array(m.containers);

  out += ",\"findings\":[";
  for (std::size_t i = 0; i < m.findings.size(); ++i) {
    const Finding& f = m.findings[i];
    out += i == 0 ? "{" : ",{";
    out += "\"id\":";
    util::append_script_json_string(out, f.id);
    js_member(out, "kind", f.kind);
    js_member(out, "rule", f.rule);
    js_member(out, "sev", to_string(f.severity));
    js_member(out, "c", f.container);
    js_member(out, "summary", f.summary);
    js_member(out, "source", f.source);
    js_member(out, "pod", f.pod);
    js_member(out, "seen", f.seen_in);
    out += ",\"pid\":" + (f.pid ? std::to_string(*f.pid) : std::string("null"));
    js_member(out, "path", f.path);
    js_member(out, "remote", f.remote);
    out += '}';
  }
  out += ']';

  out += ",\"procs\":[";
  for (std::size_t i = 0; i < m.processes.size(); ++i) {
    const Process& p = m.processes[i];
    out += i == 0 ? "{" : ",{";
    out += "\"c\":";
    util::append_script_json_string(out, p.container);
    out += ",\"pid\":" + std::to_string(p.pid) + ",\"ppid\":" + std::to_string(p.ppid);
    js_member(out, "user", p.user);
    js_member(out, "comm", p.comm);
    js_member(out, "cmd", p.cmdline);
    js_member(out, "exe", p.exe);
    js_member(out, "sha", p.exe_sha256);
    js_member(out, "cwd", p.cwd);
    js_member(out, "state", p.state);
    js_member(out, "start", p.started);
    out += p.start_basis == StartBasis::estimated ? ",\"est\":1" : ",\"est\":0";
    out += ",\"flags\":";
    str_array(p.flags);
    out += ",\"f\":";
    idx_array(p.findings);
    out += '}';
    IR_CHECK(o.maybe_flush());
  }
  out += ']';

  out += ",\"conns\":[";
  for (std::size_t i = 0; i < m.connections.size(); ++i) {
    const Connection& c = m.connections[i];
    out += i == 0 ? "{" : ",{";
    out += "\"c\":";
    util::append_script_json_string(out, c.container);
    js_member(out, "proto", c.proto);
    js_member(out, "state", c.state);
    js_member(out, "local", c.local);
    js_member(out, "remote", c.remote);
    js_member(out, "name", c.remote_name);
    out += ",\"pids\":[";
    for (std::size_t k = 0; k < c.pids.size(); ++k) out += (k == 0 ? "" : ",") + std::to_string(c.pids[k]);
    out += "],\"f\":";
    idx_array(c.findings);
    out += '}';
    IR_CHECK(o.maybe_flush());
  }
  out += ']';

  out += ',';
  IR_CHECK(write_files(o, m));

  // Events: [time_us, kind, message, source (index into "sources"), container, estimated].
  std::vector<std::string> sources;
  std::map<std::string, std::size_t> source_index;
  out += ",\"kinds\":[";
  for (int k = 0; k <= static_cast<int>(EventKind::collection); ++k) {
    if (k > 0) out += ',';
    util::append_script_json_string(out, timestamp_desc(static_cast<EventKind>(k)));
  }
  out += "],\"events\":[";
  for (std::size_t i = 0; i < m.events.size(); ++i) {
    const Event& e = m.events[i];
    auto [it, added] = source_index.emplace(e.source, sources.size());
    if (added) sources.push_back(e.source);
    out += i == 0 ? "[" : ",[";
    out += std::to_string(e.time_us) + "," + std::to_string(static_cast<int>(e.kind)) + ",";
    util::append_script_json_string(out, e.message);
    out += "," + std::to_string(it->second) + ",";
    util::append_script_json_string(out, e.container);
    out += e.estimated ? ",1]" : ",0]";
    IR_CHECK(o.maybe_flush());
  }
  out += "],\"sources\":";
  str_array(sources);

  out += ",\"siblings\":[";
  for (std::size_t i = 0; i < m.siblings.size(); ++i) {
    const Sibling& s = m.siblings[i];
    out += i == 0 ? "{" : ",{";
    out += "\"ns\":";
    util::append_script_json_string(out, s.namespace_name);
    js_member(out, "name", s.name);
    js_member(out, "workload", s.workload);
    js_member(out, "node", s.node);
    js_member(out, "phase", s.phase);
    js_member(out, "relation", s.relation);
    js_member(out, "actions", s.actions);
    out += s.evidence ? ",\"evidence\":1}" : ",\"evidence\":0}";
  }
  out += "],\"digest\":";
  util::append_script_json_string(out, m.siblings_digest);

  // Artifacts: [path, size, sha256, method, source, collected_at, truncated, note, problem].
  out += ",\"artifacts\":[";
  for (std::size_t i = 0; i < m.artifacts.size(); ++i) {
    const ArtifactRow& a = m.artifacts[i];
    out += i == 0 ? "[" : ",[";
    util::append_script_json_string(out, a.path);
    out += "," + std::to_string(a.size) + ",";
    util::append_script_json_string(out, a.sha256);
    out += ',';
    util::append_script_json_string(out, a.method);
    out += ',';
    util::append_script_json_string(out, a.source);
    out += ',';
    util::append_script_json_string(out, a.collected_at);
    out += a.truncated ? ",1," : ",0,";
    util::append_script_json_string(out, a.note);
    out += ',';
    util::append_script_json_string(out, a.problem);
    out += ']';
    IR_CHECK(o.maybe_flush());
  }
  out += "]}";
  return {};
}

}  // namespace

Summary summarize(const Model& model) {
  Summary s;
  s.bundle_sha256 = model.bundle_sha256;
  s.verified = model.verified();
  s.problems = model.problems.size();
  s.processes = model.processes.size();
  s.connections = model.connections.size();
  s.files = model.files.size();
  s.events = model.events.size();
  s.findings = model.findings.size();
  return s;
}

Result<void> render_html(const Model& m, const Options& options, util::Sink& sink) {
  const std::string_view css = assets::report_css();
  const std::string_view js = assets::report_js();
  Out o(sink);
  write_head(o, m, css, js);
  o << "<body>\n<header><h1>Incident report: " << h(m.namespace_name + "/" + m.pod) << "</h1>\n<p class=\"sub\">"
    << h((m.case_id.empty() ? std::string("no case id") : "case " + m.case_id) + " · bundle " + m.bundle_name)
    << "</p>\n";
  write_verification(o, m);
  o << "<nav><a href=\"#summary\">Summary</a> <a href=\"#findings\">Findings</a> <a href=\"#processes\">Processes</a> "
       "<a href=\"#connections\">Connections</a> <a href=\"#files\">Files</a> <a href=\"#timeline\">Timeline</a> "
       "<a href=\"#blast\">Blast radius</a> <a href=\"#custody\">Custody</a></nav>\n</header>\n<main>\n";
  o << "<noscript><p class=\"banner bad\">The tables below are drawn by this page's own inline script (no network); "
       "with scripts "
       "off, only the summary and the custody header are shown.</p></noscript>\n";
  write_summary(o, m, options);
  write_sections(o, m, options);
  o << "</main>\n<footer>";
  o << h("Written by " + (options.tool.empty() ? std::string("kubectl-ir") : options.tool) +
         (options.generated_at.empty() ? "" : " at " + options.generated_at) +
         " from the bundle alone. Everything shown from the pod is text, never markup.");
  o << "</footer>\n<script type=\"application/json\" id=\"ir-data\">";
  IR_CHECK(write_data(o, m, options));
  o << "</script>\n<script>" << js << "</script>\n</body>\n</html>\n";
  return o.flush();
}

std::string page_path_for(const std::string& bundle) {
  for (const std::string_view ext : {".tar.gz", ".tgz"}) {
    if (bundle.size() > ext.size() && bundle.compare(bundle.size() - ext.size(), ext.size(), ext) == 0) {
      return bundle.substr(0, bundle.size() - ext.size()) + ".html";
    }
  }
  return bundle + ".html";
}

Result<Summary> write_html(const std::string& bundle_path, const std::string& out_path, const Options& options) {
  IR_TRY(model, read_bundle(bundle_path, options.read));
  const std::string partial = out_path + ".partial";
  IR_TRY_CTX(file, util::FileSink::create(partial), "write " + out_path);
  CountingSink counted(*file);
  auto written = render_html(model, options, counted);
  if (written) written = counted.finish();
  file.reset();
  if (!written) {
    std::remove(partial.c_str());
    return unexpected(written.error().context("write " + out_path));
  }
  if (std::rename(partial.c_str(), out_path.c_str()) != 0) {
    const int e = errno;
    std::remove(partial.c_str());
    return fail(Errc::io, "write " + out_path + ": " + std::strerror(e));
  }
  Summary s = summarize(model);
  s.bytes = counted.bytes();
  s.sha256 = counted.sha256();
  return s;
}

}  // namespace ir::report
