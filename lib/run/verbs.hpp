#pragma once
// The real playbook verbs, on the triage functions: isolate, release, collect, siblings, exec,
// label, annotate, cordon, logs, wait. Each returns the outputs playbook.hpp declares for it.
//
// Evidence: every run has one bundle (the case's for this run). collect writes the playbook's own
// pod at the bundle's top level (pod/, logs/, containers/) and any other pod under
// pods/<namespace>/<pod>/; exec and logs steps write under steps/<step id>/. Workers of a parallel
// for_each share the bundle through a lock (one streaming entry at a time).
//
// Dry run: isolate, release, label, annotate and cordon go to the API server with dryRun=All;
// siblings runs (it only reads); collect reads the pod and reports its plan; exec, logs and wait
// do nothing and say so.

#include <memory>
#include <mutex>
#include <string>

#include "evidence/bundle.hpp"
#include "kube/client.hpp"
#include "kube/connection.hpp"
#include "run/runner.hpp"
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

struct VerbEnv {
  kube::Client& client;
  kube::Connector& connector;
  util::Clock& clock;
  SharedBundle* bundle = nullptr;  // null in a dry run
  std::string actor;               // for isolate's annotations
  // Journal of the actions the verbs take (isolate's writes, collect's ephemeral container ...).
  JournalFn journal;
  std::function<void(const std::string&)> progress;
};

// The verbs over one API connection. The env's references must outlive it.
std::unique_ptr<Verbs> make_verbs(VerbEnv env);

}  // namespace ir::run
