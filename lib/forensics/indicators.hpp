#pragma once
// Single-pod indicators: what is wrong with a pod on its own, without siblings. One rule table
// (indicator_rules(), also in lib/forensics/README.md); each rule reads one kind of evidence and
// yields findings whose `rule` is its id. Pure: the caller supplies the snapshot and what it knows
// about the pod (declared ports, names of cluster addresses).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forensics/analysis.hpp"
#include "forensics/snapshot.hpp"

namespace ir::forensics {

// One row of the rule table.
struct IndicatorRule {
  const char* id;
  Severity severity;  // of its findings (undeclared-listen: low for a loopback-only listener)
  FindingKind kind;
  const char* description;
  const char* reads;  // the evidence it reads
};

// The rule table, in a fixed order.
const std::vector<IndicatorRule>& indicator_rules();

// Remote ports the mining-pool-port rule flags (README: "Mining pool ports").
const std::vector<std::uint32_t>& mining_pool_ports();

// What the caller knows about the pod besides its snapshot.
struct IndicatorContext {
  // The ports the pod declares; nullopt: take PodSnapshot::declared_ports (and if that is unknown
  // too, undeclared-listen is not judged and a gap says so).
  std::optional<std::vector<DeclaredPort>> declared_ports;
  AddressNames addresses;  // names for remote addresses in summaries and subjects
};

// The findings and what could not be judged (the snapshot's gaps that matter to a rule, and
// rules that could not run).
struct Evaluation {
  std::vector<Finding> findings;
  std::vector<std::string> gaps;
};

// Runs every rule over every container of `pod`. kubectl-ir's own processes (Process::collector)
// are never judged. Socket findings, which every container of a pod sees alike (one network
// namespace), are reported once, under the container whose process holds the socket (else the
// first). Never fails; findings are unsorted (finalize() sorts and numbers them).
Evaluation evaluate(const PodSnapshot& pod, const IndicatorContext& context);

// The analysis/indicators.json document: evaluate() plus the rule table and the snapshot's gaps,
// finalized.
AnalysisDocument indicators_document(const PodSnapshot& pod, const IndicatorContext& context,
                                     const std::string& generated_at);

}  // namespace ir::forensics
