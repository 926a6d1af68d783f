#pragma once
// The case lifecycle, written once for every command that acts on an incident: a Case is one
// incident's journal (append-only, `<cases dir>/<case id>/journal.jsonl`) and, for the commands
// that collect, one evidence bundle. The life of a collection:
//
//   auto c = Case::open(dir, id, clock, common);      // the journal; entries carry `common`
//   c->open_bundle(path);                             // <path>.partial, renamed when sealed
//   ... collect into c->bundle(), journal with c->log() ...
//   auto sealed = c->seal("collect", acquirer, input); // acquisition.json + .log, journal.jsonl,
//                                                      // manifest; the bundle's SHA-256, journaled
//
// Sealing happens on every path, failures and Ctrl-C included: what was collected is always a
// valid bundle, and the acquisition record says how far the collection got (result, what was not
// collected and why). The journal is written and flushed entry by entry, so it survives a crash.
//
// Formats: acquisition.json is {"format":"kubectl-ir-acquisition/v1", "case", "examiner", "caller",
// "tool":{"name","version","commit"}, "cluster":{"context","server"}, "host", "command", "started",
// "ended", "result", "subjects":[{"namespace","pod","uid","resourceVersion","node","images":[{
// "container","imageID","digest"}]}], "not_collected":[...], ...command-specific fields}.
// acquisition.log is the same facts as "key: value" lines for a person, then the command's own
// details (collect's step table). Every value from the cluster is escaped in the log.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "evidence/journal.hpp"
#include "util/clock.hpp"
#include "util/outcome.hpp"
#include "util/result.hpp"

namespace ir::evidence {

// Who acquired, with what, from where: the facts of an acquisition that are not about a pod.
struct Acquirer {
  std::string examiner;      // --examiner, else the API identity
  std::string caller;        // the API identity ("" when the server does not say)
  std::string tool_version;  // "0.1.0"
  std::string tool_commit;   // "6b43b5c"
  std::string context;       // kubeconfig context ("" in-cluster)
  std::string server;
  std::string host;          // where kubectl-ir ran
  std::string command_line;  // argv, credentials masked
  util::TimePoint started{};
};

// One container image of a subject.
struct ImageRecord {
  std::string container;
  std::string image_id;  // status imageID as reported ("" not started)
  std::string digest;    // "sha256:..." normalised from it ("" when none)
};

// A pod whose evidence a bundle holds.
struct Subject {
  std::string namespace_name;
  std::string pod;
  std::string uid;
  std::string resource_version;
  std::string node;
  std::vector<ImageRecord> images;
};

// What seal() records about the acquisition.
struct SealInput {
  util::Outcome result = util::Outcome::ok;  // of the collection as a whole
  std::vector<Subject> subjects;
  std::vector<std::string> not_collected;    // what is missing and why
  std::string details;                       // the command's own text, appended to acquisition.log
  nlohmann::json extra = nlohmann::json::object();  // the command's own fields in acquisition.json
};

// A sealed bundle.
struct Sealed {
  std::string path;
  std::string sha256;
  std::size_t artifacts = 0;  // manifest entries
};

// "complete", "partial" or "interrupted": how acquisition records and summaries name a result.
const char* result_name(util::Outcome outcome);

// The acquisition.json document (exposed for tests and for readers of older bundles).
nlohmann::json acquisition_json(const std::string& case_id, const Acquirer& acquirer, const SealInput& input,
                                util::TimePoint ended);

// The acquisition.log text for the same facts.
std::string acquisition_log(const std::string& case_id, const Acquirer& acquirer, const SealInput& input,
                            util::TimePoint ended);

class Case {
 public:
  // Opens (creating directories and file as needed) the journal of `case_id` under `cases_dir`.
  // `common` fields are added to every entry (namespace, pod, actor...). Fails with Errc::io.
  static Result<std::unique_ptr<Case>> open(const std::string& cases_dir, const std::string& case_id, util::Clock& clock,
                                            nlohmann::json common = nlohmann::json::object());

  [[nodiscard]] const std::string& id() const { return m_journal.case_id(); }
  [[nodiscard]] const Journal& journal() const { return m_journal; }
  [[nodiscard]] util::Clock& clock() const { return m_clock; }

  // Appends {"action", common..., fields...} to the journal. Thread-safe. Errc::io when the entry
  // could not be written durably (the caller warns; the command goes on).
  Result<void> log(const std::string& action, const nlohmann::json& fields);

  // A logging function for code that journals through a callback (triage's ActionLog): failures
  // are handed to `on_failure` (may be empty: ignored).
  [[nodiscard]] std::function<void(const std::string&, const nlohmann::json&)> logger(
      std::function<void(const Error&)> on_failure) ;

  // Creates the case's bundle at `path` (see create_bundle: never overwrites). At most once.
  Result<void> open_bundle(const std::string& path);
  // The open bundle, or nullptr before open_bundle / after seal.
  [[nodiscard]] BundleWriter* bundle() const { return m_bundle.get(); }
  [[nodiscard]] const std::string& bundle_path() const { return m_bundle_path; }

  // Seals the bundle: adds acquisition.json, acquisition.log and the case journal (journal.jsonl,
  // after journaling "<verb>.end"), finishes the archive (manifest, fsync, rename) and journals
  // "<verb>.sealed" with the SHA-256. A failure to add the acquisition files or the journal does
  // not stop sealing: it is journaled and returned in `problems`. Fails (Errc::io...) only when the
  // archive cannot be finished; what was collected then stays in "<path>.partial" (the error's
  // hint says so). Called once, after open_bundle.
  struct SealResult {
    Sealed sealed;
    std::vector<std::string> problems;  // acquisition files or journal that could not be added
    // The acquisition.json entry as sealed ("" when it could not be added): what a signature's
    // predicate is made from right after sealing, without reading the bundle back.
    std::string acquisition_json;
  };
  Result<SealResult> seal(const std::string& verb, const Acquirer& acquirer, const SealInput& input);

 private:
  Case(Journal journal, util::Clock& clock, nlohmann::json common)
      : m_journal(std::move(journal)), m_clock(clock), m_common(std::move(common)) {}
  Journal m_journal;
  util::Clock& m_clock;
  nlohmann::json m_common;
  std::mutex m_mutex;  // journal appends from for_each workers
  std::unique_ptr<BundleWriter> m_bundle;
  std::string m_bundle_path;
};

// Journal entries gathered before the case they belong to is known (isolate: a pod already
// isolated keeps its case), written in order by flush() once it is. Thread-safe.
class PendingLog {
 public:
  // The callback that gathers entries.
  [[nodiscard]] std::function<void(const std::string&, const nlohmann::json&)> logger();
  // Appends every gathered entry to `c`, in order, then forgets them. Returns the first failure.
  Result<void> flush(Case& c);
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex m_mutex;
  std::vector<std::pair<std::string, nlohmann::json>> m_entries;
};

}  // namespace ir::evidence
