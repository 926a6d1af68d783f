#pragma once
// The analysis documents of a bundle (lib/forensics/README.md, "The analysis documents"):
// `analysis/indicators.json` (single-pod indicators, indicators.hpp) and `analysis/drift.json`
// (comparison with siblings or a baseline file, drift.hpp), their findings, and the short lines
// the CLI prints about them.
//
// Every string in a finding came from a pod (parsed records, already escaped by the parsers, see
// procfs.hpp) or from the caller: consumers escape them again for their medium (terminal, HTML,
// Markdown). Nothing here unescapes or acts on them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace ir::forensics {

// In sort order: critical first.
enum class Severity { critical, high, medium, low, info };
// "critical", "high", "medium", "low", "info".
const char* to_string(Severity severity);
// The inverse of to_string; anything else (a document from a newer or a hostile writer) is info.
Severity parse_severity(std::string_view name);

enum class FindingKind { process, listening_port, connection, file, root_process, environment, config };
// "process", "listening_port", "connection", "file", "root_process", "environment", "config".
const char* to_string(FindingKind kind);

// What a drift finding was judged against (README: "Baselines").
enum class Relation {
  same_workload,  // replicas of the same owner and pod template (same command, args, env)
  same_digest,    // other workloads running the same image digest: weaker, they may run it differently
  baseline_file,  // a baseline file made before the incident
};
// "same-workload", "same-digest", "baseline-file".
const char* to_string(Relation relation);
// The inverse of to_string; nullopt for anything else.
std::optional<Relation> parse_relation(std::string_view text);

// A cluster address the API could name: a Service's cluster IP or a pod's IP.
struct AddressName {
  std::string name;   // shown in findings: "service kube-system/kube-dns", "pod shop/db-0"
  std::string group;  // what drift matches on instead of the address, so that replicas talking to
                      // different pods of one workload agree ("statefulset shop/db"); "" = name
};
// IP text (dotted quad or RFC 5952, as the procfs parsers print it; an IPv4-mapped IPv6 address is
// looked up as its IPv4 form) → name. Supplied by the caller, who knows the cluster.
using AddressNames = std::unordered_map<std::string, AddressName>;

// The name for `ip`, or nullptr.
const AddressName* find_address(const AddressNames& names, std::string_view ip);

// How many of the compared members have what the suspect has.
struct SeenIn {
  std::size_t count = 0;
  std::size_t of = 0;
};

// One thing that is wrong (or odd) about the pod.
struct Finding {
  std::string id;  // "F1", ...: set by finalize()
  FindingKind kind = FindingKind::process;
  std::string rule;  // indicators: the rule id ("exe-in-tmp"); drift: "drift.<kind>[.<what>]"
  Severity severity = Severity::medium;
  std::string container;
  std::string summary;  // one line: "pid 3 /tmp/.x/kworkerds runs from /tmp"
  // Kind-specific keys consumers link on: pid → process tree, path → files, remote/port →
  // connections (README: "Finding").
  nlohmann::json subject = nlohmann::json::object();
  std::string artifact;  // bundle path of the artifact it comes from ("" none)
  // The record it comes from: the fields the analysis read, plus "index" (0-based position in the
  // artifact's record array) or "line" (1-based line of a JSON Lines artifact) to find it whole.
  nlohmann::json record = nlohmann::json::object();
  std::optional<SeenIn> seen_in;           // drift only
  std::optional<Relation> judged_against;  // drift only
};

// The pod a document is about.
struct PodRef {
  std::string namespace_name;
  std::string name;
  std::string uid;
};

enum class DocumentKind { indicators, drift };
enum class BaselineSource { siblings, baseline_file, none };
// "siblings", "baseline-file", "none".
const char* to_string(BaselineSource source);
enum class MemberStatus { ok, failed };

// One pod compared against (a live sibling, or a pod a baseline file was made from).
struct Member {
  std::string namespace_name;
  std::string name;
  std::string node;
  Relation relation = Relation::same_workload;
  MemberStatus status = MemberStatus::ok;
  std::string reason;  // why it failed ("" when ok)
};

// What a drift document was compared against.
struct BaselineInfo {
  BaselineSource source = BaselineSource::none;
  std::string digest;                  // the image digest compared ("" unknown)
  std::optional<std::string> file;     // baseline-file only: the file as the user named it
  std::optional<std::string> created;  // baseline-file only: RFC 3339
  std::size_t quorum = 1;              // a finding is what fewer than `quorum` members share
  std::vector<Member> members;
};

// One row of the indicator rule table.
struct RuleInfo {
  std::string id;
  Severity severity = Severity::medium;
  std::string description;
};

// An analysis document. finalize() before to_json().
struct AnalysisDocument {
  DocumentKind kind = DocumentKind::indicators;
  PodRef pod;
  std::string generated_at;              // RFC 3339, from the caller's clock
  std::optional<BaselineInfo> baseline;  // drift only
  std::vector<RuleInfo> rules;           // indicators only
  std::vector<Finding> findings;
  std::vector<std::string> gaps;  // what could not be judged, one sentence each
};

// Sorts the findings (severity, critical first; then kind; then summary; then rule, container and
// subject, so equal inputs give equal output) and numbers them F1, F2, ... in that order. Removes
// duplicate gap sentences, keeping the first.
void finalize(AnalysisDocument& document);

// The document as JSON, exactly per the contract in lib/forensics/README.md ("format":
// "kubectl-ir-analysis/v1", counts computed from the findings). Never throws.
nlohmann::json to_json(const AnalysisDocument& document);

// The JSON of one finding (as inside to_json).
nlohmann::json to_json(const Finding& finding);

// Short lines for a CLI summary, most notable first, at most `max_lines` (the last says how many
// more findings there are when they do not fit). Findings about one process (same container and
// pid) are merged into one line with the addresses it talks to: "pid 3 /tmp/.x/kworkerds →
// 198.51.100.7:3333 (high: exe-in-tmp, mining-pool-port, miner-cmdline)"; others are "<severity>:
// <summary>". Raw text from the pod: the caller escapes it (util::escape_for_terminal).
std::vector<std::string> summary_lines(const std::vector<Finding>& findings, std::size_t max_lines = 8);

}  // namespace ir::forensics
