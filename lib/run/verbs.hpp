#pragma once
// The verb table: every playbook step type declared once — its options (bound to the fields of
// the verb's options struct: types, defaults, validation, help), its outputs and its handler on
// the triage functions. The playbook validator (step_types()), the runner (make_verbs()) and the
// CLI (isolate_options(), collect_options(): one flag per option) all read this one table.
//
// Evidence: every run has one bundle (the case's for this run). collect writes the playbook's own
// pod at the bundle's top level (pod/, logs/, containers/) and any other pod under
// pods/<namespace>/<pod>/; exec and logs steps write under steps/<step id>/. Workers of a parallel
// for_each share the bundle through a lock (one streaming entry at a time).
//
// drift writes its snapshots under steps/<step id>/ (other pods' under steps/<step id>/pods/<ns>/
// <pod>/ as well), its indicators beside them, and the pod's analysis/drift.json where the pod's
// evidence is (the top, or pods/<ns>/<pod>/): one drift step per pod per run. baseline writes
// steps/<step id>/baseline.json.
//
// Dry run: isolate, release, label, annotate and cordon go to the API server with dryRun=All;
// siblings runs (it only reads); collect and drift read the pod and report their plan; exec,
// logs, baseline and wait do nothing and say so.
//
// Outcomes: a verb that ran but did not reach its goal returns outcome partial with the reason —
// isolate when a direction asked for is not contained, collect when evidence is missing, siblings
// when the search was partial — so such a step is never "ok" (runner.hpp).

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "evidence/bundle.hpp"
#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "playbook/options.hpp"
#include "playbook/step_types.hpp"
#include "run/runner.hpp"
#include "triage/collect.hpp"
#include "triage/drift.hpp"
#include "triage/isolate.hpp"
#include "util/clock.hpp"

namespace ir::run {

// The bundle of a run, shared by its workers. Wraps a writer the caller finishes.
class SharedBundle {
 public:
  explicit SharedBundle(evidence::BundleWriter& inner) : m_inner(inner) {}
  // A writer that prefixes every entry name with `prefix` ("" or ending in '/') and locks the
  // shared one: add() waits for the lock; open_entry() holds a stream lock until its sink is
  // committed or destroyed. finish() is refused (the owner finishes the real writer).
  std::unique_ptr<evidence::BundleWriter> view(const std::string& prefix);

  struct Locks {
    std::mutex calls;
    std::mutex stream;
  };

 private:
  evidence::BundleWriter& m_inner;
  Locks m_locks;
};

// A collection a verb made, reported to the run so the bundle's acquisition record names every
// pod whose evidence it holds. Called from for_each workers too (serialised by the caller).
using SubjectFn = std::function<void(const evidence::Subject&, const std::vector<std::string>& not_collected)>;

// The steps `sign` and `upload` act on files that exist when the step runs (an earlier run's
// bundle, a path given), never on the run's own bundle (not finished while steps run: run's
// --sign-key/--upload and the playbook's top-level report:/upload: handle it after sealing). They act
// through these hooks, which cmd/ provides (the key's passphrase, the S3 credentials and the tool's
// version come from its environment); an empty hook makes the step fail saying so.
struct CustodyHooks {
  // Signs the bundle at `path` with the PEM key at `key` (B.sig, B.intoto.jsonl beside it), after
  // verifying it against its manifest. Returns custody::to_json(SignedFiles), or the error.
  std::function<Result<nlohmann::json>(const std::string& path, const std::string& key)> sign;
  // Uploads `paths`, in order, to `destination` (s3://BUCKET/PREFIX). Returns an array of
  // custody::outcome_json (one per file, each "uploaded" or with its error), or an error for the
  // whole (no credentials, a malformed destination).
  std::function<Result<nlohmann::json>(const std::vector<std::string>& paths, const std::string& destination)> upload;
};

struct VerbEnv {
  kube::Client& client;
  kube::Connector& connector;
  util::Clock& clock;
  SharedBundle* bundle = nullptr;  // null in a dry run
  std::string actor;               // for isolate's annotations
  // Journal of the actions the verbs take (isolate's writes, collect's ephemeral container ...).
  JournalFn journal;
  std::function<void(const std::string&)> progress;
  SubjectFn subject;               // may be empty
  // Connections of their own for the parallel snapshots of drift and baseline (may be empty:
  // one at a time on `client`).
  triage::ConnectionFactory connect;
  CustodyHooks custody;            // for the steps sign and upload; may be empty
};

// Every step type (the verbs and for_each), in documentation order.
const std::vector<playbook::StepType>& step_type_table();
// A view of step_type_table(), for parse_playbook and run_playbook.
playbook::StepTypes step_types();

// The verbs over one API connection. The env's references must outlive it.
std::unique_ptr<Verbs> make_verbs(VerbEnv env);

// The options of isolate, collect and drift as the table declares them, for the CLI's flags.
const playbook::OptionSet<triage::IsolateOptions>& isolate_options();
const playbook::OptionSet<triage::CollectOptions>& collect_options();
const playbook::OptionSet<triage::DriftOptions>& drift_options();

}  // namespace ir::run
