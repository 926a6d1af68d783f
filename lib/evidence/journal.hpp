#pragma once
// The case journal: an append-only JSON Lines file of every action kubectl-ir takes for a case
// (exec, isolate, collect, ...), in order. It goes into every evidence bundle of the case. Each
// line is written whole and flushed to disk before the call returns, so a crash loses at most the
// entry being written. Never holds credentials.

#include <string>

#include <nlohmann/json.hpp>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace ir::evidence {

// A new case id: "case-20261121-163229-7f3a" (UTC time and 4 random hex digits).
std::string new_case_id(util::TimePoint now);

// True if `id` is usable as a case id and file name: 1-63 characters of [A-Za-z0-9._-], not
// starting with '.' or '-'.
bool valid_case_id(const std::string& id);

class Journal {
 public:
  // Opens (creating directories and the file as needed, mode 0600) `dir`/journal.jsonl.
  static Result<Journal> open(const std::string& dir, const std::string& case_id, util::Clock& clock);

  // Appends {"time": <UTC RFC 3339>, "case": <id>, "action": <action>, ...fields}. Fails with
  // Errc::io if the line could not be written durably.
  Result<void> append(const std::string& action, const nlohmann::json& fields);

  [[nodiscard]] const std::string& path() const { return m_path; }
  [[nodiscard]] const std::string& case_id() const { return m_case_id; }

 private:
  Journal(std::string path, std::string case_id, util::Clock& clock)
      : m_path(std::move(path)), m_case_id(std::move(case_id)), m_clock(&clock) {}
  std::string m_path;
  std::string m_case_id;
  util::Clock* m_clock;
};

// The case under which pod `ns`/`pod` was last quarantined, from the journals under `cases_dir`
// (<cases_dir>/<case>/journal.jsonl): the latest "label" entry isolate wrote for that pod (not a
// dry run) on `server` ("" = any server). Lets release clean up after a pod that is gone, whose
// labels recorded the case. "" when no journal says; unreadable journals are skipped. Reads at most
// 1000 case directories and 16 MiB of each journal.
std::string find_case_of_pod(const std::string& cases_dir, const std::string& ns, const std::string& pod,
                             const std::string& server);

}  // namespace ir::evidence
