#include "forensics/analysis.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "forensics/detail.hpp"
#include "util/strings.hpp"

namespace ir::forensics {

using nlohmann::json;

const char* to_string(Severity severity) {
  switch (severity) {
    case Severity::critical:
      return "critical";
    case Severity::high:
      return "high";
    case Severity::medium:
      return "medium";
    case Severity::low:
      return "low";
    case Severity::info:
      return "info";
  }
  return "info";
}

Severity parse_severity(std::string_view name) {
  for (const Severity s : {Severity::critical, Severity::high, Severity::medium, Severity::low}) {
    if (name == to_string(s)) return s;
  }
  return Severity::info;
}

const char* to_string(FindingKind kind) {
  switch (kind) {
    case FindingKind::process:
      return "process";
    case FindingKind::listening_port:
      return "listening_port";
    case FindingKind::connection:
      return "connection";
    case FindingKind::file:
      return "file";
    case FindingKind::root_process:
      return "root_process";
    case FindingKind::environment:
      return "environment";
    case FindingKind::config:
      return "config";
  }
  return "process";
}

const char* to_string(Relation relation) {
  switch (relation) {
    case Relation::same_workload:
      return "same-workload";
    case Relation::same_digest:
      return "same-digest";
    case Relation::baseline_file:
      return "baseline-file";
  }
  return "same-digest";
}

std::optional<Relation> parse_relation(std::string_view text) {
  for (const Relation r : {Relation::same_workload, Relation::same_digest, Relation::baseline_file}) {
    if (text == to_string(r)) return r;
  }
  return std::nullopt;
}

const char* to_string(BaselineSource source) {
  switch (source) {
    case BaselineSource::siblings:
      return "siblings";
    case BaselineSource::baseline_file:
      return "baseline-file";
    case BaselineSource::none:
      return "none";
  }
  return "none";
}

const AddressName* find_address(const AddressNames& names, std::string_view ip) {
  if (names.empty()) return nullptr;
  auto it = names.find(std::string(ip));
  if (it == names.end()) it = names.find(std::string(detail::unmap_ipv4(ip)));
  return it == names.end() ? nullptr : &it->second;
}

// ---- finalize -----------------------------------------------------------------------------------

void finalize(AnalysisDocument& d) {
  // The subject's dump is the last tie-break, so the order never depends on the input order.
  std::vector<std::pair<std::string, Finding>> keyed;
  keyed.reserve(d.findings.size());
  for (auto& f : d.findings) {
    std::string key = f.subject.dump(-1, ' ', false, json::error_handler_t::replace);
    keyed.emplace_back(std::move(key), std::move(f));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    const Finding& x = a.second;
    const Finding& y = b.second;
    if (x.severity != y.severity) return x.severity < y.severity;
    if (x.kind != y.kind) return std::string_view(to_string(x.kind)) < std::string_view(to_string(y.kind));
    if (x.summary != y.summary) return x.summary < y.summary;
    if (x.rule != y.rule) return x.rule < y.rule;
    if (x.container != y.container) return x.container < y.container;
    return a.first < b.first;
  });
  d.findings.clear();
  std::size_t n = 0;
  for (auto& [key, f] : keyed) {
    f.id = fmt::format("F{}", ++n);
    d.findings.push_back(std::move(f));
  }
  std::set<std::string> seen;
  std::vector<std::string> gaps;
  for (auto& g : d.gaps) {
    if (seen.insert(g).second) gaps.push_back(std::move(g));
  }
  d.gaps = std::move(gaps);
}

// ---- JSON ---------------------------------------------------------------------------------------

json to_json(const Finding& f) {
  json j = {{"id", f.id},
            {"kind", to_string(f.kind)},
            {"rule", f.rule},
            {"severity", to_string(f.severity)},
            {"container", f.container},
            {"summary", f.summary},
            {"subject", f.subject.is_object() ? f.subject : json::object()},
            {"evidence", {{"artifact", f.artifact}, {"record", f.record.is_object() ? f.record : json::object()}}}};
  if (f.seen_in) j["seen_in"] = {{"count", f.seen_in->count}, {"of", f.seen_in->of}};
  if (f.judged_against) j["judged_against"] = to_string(*f.judged_against);
  return j;
}

json to_json(const AnalysisDocument& d) {
  json j = {{"format", "kubectl-ir-analysis/v1"},
            {"kind", d.kind == DocumentKind::indicators ? "indicators" : "drift"},
            {"pod", {{"namespace", d.pod.namespace_name}, {"name", d.pod.name}, {"uid", d.pod.uid}}},
            {"generated_at", d.generated_at}};
  if (d.kind == DocumentKind::drift) {
    const BaselineInfo b = d.baseline.value_or(BaselineInfo{});
    json members = json::array();
    for (const auto& m : b.members) members.push_back(detail::member_record<json>(m));
    j["baseline"] = {{"source", to_string(b.source)},
                     {"digest", b.digest},
                     {"file", b.file ? json(*b.file) : json(nullptr)},
                     {"created", b.created ? json(*b.created) : json(nullptr)},
                     {"quorum", b.quorum},
                     {"members", std::move(members)}};
  } else {
    json rules = json::array();
    for (const auto& r : d.rules) {
      rules.push_back({{"id", r.id}, {"severity", to_string(r.severity)}, {"description", r.description}});
    }
    j["rules"] = std::move(rules);
  }
  json findings = json::array();
  std::map<std::string, std::size_t> by_kind;
  std::map<std::string, std::size_t> by_severity;
  for (const auto& f : d.findings) {
    findings.push_back(to_json(f));
    ++by_kind[to_string(f.kind)];
    ++by_severity[to_string(f.severity)];
  }
  j["findings"] = std::move(findings);
  j["counts"] = {{"total", d.findings.size()}, {"by_kind", by_kind}, {"by_severity", by_severity}};
  j["gaps"] = d.gaps;
  return j;
}

// ---- summary lines ------------------------------------------------------------------------------

std::vector<std::string> summary_lines(const std::vector<Finding>& findings, std::size_t max_lines) {
  struct Line {
    Severity severity;
    std::size_t first;  // position of its first finding: keeps finalize()'s order among equals
    std::string text;
  };
  // Findings about one process merge into one line: container + pid.
  struct Group {
    Severity severity = Severity::info;
    std::size_t first = 0;
    std::string label;
    std::vector<std::string> remotes;
    std::vector<std::string> rules;
  };
  std::map<std::pair<std::string, std::int64_t>, Group> groups;
  std::vector<Line> lines;
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    const json& s = f.subject;
    const bool has_pid = s.is_object() && s.contains("pid") && s["pid"].is_number_integer();
    if (!has_pid) {
      lines.push_back({f.severity, i, fmt::format("{}: {}", to_string(f.severity), f.summary)});
      continue;
    }
    const auto pid = s["pid"].get<std::int64_t>();
    auto [it, fresh] = groups.try_emplace({f.container, pid});
    Group& g = it->second;
    if (fresh) {
      g.severity = f.severity;
      g.first = i;
    }
    g.severity = std::min(g.severity, f.severity);
    if (g.label.empty() || (s.contains("exe") && s["exe"].is_string() && g.label.find('/') == std::string::npos)) {
      const std::string what = s.contains("exe") && s["exe"].is_string()     ? s["exe"].get<std::string>()
                               : s.contains("comm") && s["comm"].is_string() ? s["comm"].get<std::string>()
                                                                             : std::string();
      g.label = what.empty() ? fmt::format("pid {}", pid) : fmt::format("pid {} {}", pid, what);
    }
    if (s.contains("remote") && s["remote"].is_string()) {
      const std::string r = s["remote"].get<std::string>();
      if (std::find(g.remotes.begin(), g.remotes.end(), r) == g.remotes.end() && g.remotes.size() < 3)
        g.remotes.push_back(r);
    }
    if (std::find(g.rules.begin(), g.rules.end(), f.rule) == g.rules.end()) g.rules.push_back(f.rule);
  }
  for (auto& [key, g] : groups) {
    std::string text = g.label;
    if (!g.remotes.empty()) text += " → " + util::join(g.remotes, ", ");
    text += fmt::format(" ({}: {})", to_string(g.severity), util::join(g.rules, ", "));
    lines.push_back({g.severity, g.first, std::move(text)});
  }
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    if (a.severity != b.severity) return a.severity < b.severity;
    return a.first < b.first;
  });
  std::vector<std::string> out;
  if (max_lines == 0) return out;
  const bool cut = lines.size() > max_lines;
  const std::size_t keep = cut ? max_lines - 1 : lines.size();
  std::size_t shown_findings = 0;
  for (std::size_t i = 0; i < keep; ++i) out.push_back(lines[i].text);
  if (cut) {
    // Count the findings behind the lines shown, to say how many more there are.
    std::set<std::size_t> firsts;
    for (std::size_t i = 0; i < keep; ++i) firsts.insert(lines[i].first);
    for (std::size_t i = 0; i < findings.size(); ++i) {
      const json& s = findings[i].subject;
      if (s.is_object() && s.contains("pid") && s["pid"].is_number_integer()) {
        const auto& g = groups.at({findings[i].container, s["pid"].get<std::int64_t>()});
        if (firsts.count(g.first) != 0) ++shown_findings;
      } else if (firsts.count(i) != 0) {
        ++shown_findings;
      }
    }
    out.push_back(fmt::format("... and {} more findings", findings.size() - shown_findings));
  }
  return out;
}

}  // namespace ir::forensics
