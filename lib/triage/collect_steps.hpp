#pragma once
// Internal to collect (collect.cpp, collect_api.cpp, collect_container.cpp): the shared state of
// one collection and the helper that runs one command into bundle entries. Not a public header.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/session.hpp"
#include "triage/collect.hpp"
#include "util/sink.hpp"

namespace ir::triage::collect_detail {

// One collection in progress.
struct Ctx {
  CollectEnv& env;
  const CollectOptions& options;
  CollectReport& report;
  std::string byte_order = "little";  // of the node's kernel, for /proc/net addresses

  [[nodiscard]] bool cancelled() const;
  // Appends the step, prints its progress line and journals anything that is not ok.
  void record(StepRecord step);
  void progress(const std::string& line) const;
  // Adds an entry from memory, folding a failure into `step` (status failed, detail).
  void add(StepRecord& step, const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta);
};

// Where commands for one container run: in the container itself, or in a debug container that
// reads it through /proc/<pid>/root.
struct Target {
  std::string container;       // the container whose evidence this is
  std::string exec_container;  // where the commands run
  std::string method = "exec"; // "exec" | "ephemeral"
  std::string root;            // "" or "/proc/1/root": prefix of the container's files
  std::string dir;             // "containers/<safe name>/"
};

// What one command produced.
struct Captured {
  std::optional<Error> error;                  // the command did not run (or its outcome is unknown)
  std::optional<exec::ExecResult> result;
  std::string stdout_copy;                     // the first `keep` bytes of stdout, when asked
  bool stdout_copy_complete = true;            // false: stdout was longer than `keep`
  std::string stderr_text;                     // up to 64 KiB
  bool stored = false;                         // the stdout entry was added to the bundle
  std::uint64_t bytes = 0;                     // stdout bytes kept
  [[nodiscard]] bool not_found() const { return error && error->code == Errc::exec_not_found; }
  [[nodiscard]] bool ok() const { return result && result->completed() && result->exit_code == 0; }
  // "exit 1", "stdout limit reached after 16777216 bytes", the error message, ...
  [[nodiscard]] std::string summary() const;
};

struct CommandSpec {
  std::vector<std::string> argv;
  std::string entry;        // bundle entry for stdout ("" = not stored)
  std::string source;       // for the manifest; "" = the argv, escaped
  std::size_t keep = 0;     // bytes of stdout to keep in memory (for parsing)
  util::Sink* tee = nullptr;  // also receives stdout (a parser, a digest)
  std::uint64_t max_stdout = 0;  // 0 = options.max_output_bytes
  std::chrono::seconds timeout{0};  // 0 = options.command_timeout
  // Store stdout even when the command exits non-zero (false: a failed probe leaves no entry).
  bool store_on_failure = true;
};

// Runs one command of `target`; stdout streams into its entry (committed with exit status and
// truncation), stderr, when not empty, becomes "<entry>.stderr".
Captured run_command(Ctx& ctx, const Target& target, const CommandSpec& spec);

// The steps.
void collect_api_state(Ctx& ctx, const nlohmann::json& pod);
void collect_logs(Ctx& ctx, const nlohmann::json& pod);
void collect_container(Ctx& ctx, const nlohmann::json& pod, const std::string& container);

// Entry-name helpers: "containers/<safe>/".
std::string container_dir(const std::string& container);

// The manifest's source of a command run for `target`: "exec web: cat /proc/net/tcp", or
// "exec kubectl-ir-1a2b3c (target app): ..." through a debug container.
std::string exec_source(const Target& target, const std::string& command);

// The argv as it is shown in a manifest ("exec web: cat /proc/net/tcp"), escaped and bounded.
std::string describe_argv(const std::vector<std::string>& argv);

}  // namespace ir::triage::collect_detail
