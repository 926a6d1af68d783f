#pragma once
// Internal to collect (collect.cpp, collect_api.cpp, collect_container.cpp): the shared state of
// one collection and the helper that runs one command into bundle entries. Not a public header.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/session.hpp"
#include "triage/collect.hpp"
#include "triage/exec_entry.hpp"
#include "util/sink.hpp"

namespace ir::triage::collect_detail {

// What the RBAC preflight may find refused, each the permission of one kind of evidence.
enum class Access { exec, logs, events, node, network_policies, owners, ephemeral };

// One collection in progress.
struct Ctx {
  CollectEnv& env;
  const CollectOptions& options;
  CollectReport& report;
  std::string byte_order = "little";  // of the node's kernel, for /proc/net addresses
  // Permissions the preflight found refused: what each would have needed ("create pods/exec in
  // namespace shop"). Nothing refused is attempted.
  std::map<Access, std::string> denied;
  // What each container's steps parsed, for the notable lines: container -> walk records, sockets.
  std::map<std::string, nlohmann::json> walk;
  std::map<std::string, nlohmann::json> sockets;

  [[nodiscard]] bool cancelled() const;
  // True when `a` was not refused; else adds the not_collected line saying so (once) and returns
  // false (the caller records its step as failed, without trying).
  bool allowed(Access a, const std::string& container = "");
  // Appends the step, prints its progress line and journals anything that is not ok.
  void record(StepRecord step);
  void progress(const std::string& line) const;
  // Adds an entry from memory, folding a failure into `step` (status failed, detail).
  void add(StepRecord& step, const std::string& name, std::string_view data, const evidence::ArtifactMeta& meta);
};

// Where commands for one container run: in the container itself, or in a debug container that
// reads it through /proc/<pid>/root.
struct ExecTarget {
  std::string container;       // the container whose evidence this is
  std::string exec_container;  // where the commands run
  evidence::Method method = evidence::Method::exec;  // exec | ephemeral
  std::string root;            // "" or "/proc/1/root": prefix of the container's files
  std::string dir;             // "containers/<safe name>/"
};

// What one command produced.
using Captured = ExecCapture;

struct CommandSpec {
  std::vector<std::string> argv;
  std::string entry;        // bundle entry for stdout ("" = not stored)
  std::string source;       // for the manifest; "" = the argv, escaped
  std::size_t keep = 0;     // bytes of stdout to keep in memory (for parsing)
  util::Sink* tee = nullptr;  // also receives stdout (a parser, a digest)
  std::uint64_t max_stdout = 0;  // 0 = options.max_output_bytes
  std::chrono::seconds timeout{0};  // 0 = options.command_timeout
  OnFailure on_failure = OnFailure::store;  // drop: a failed probe leaves no entry
};

// Runs one command of `target`; stdout streams into its entry (committed with exit status and
// truncation), stderr, when not empty, becomes "<entry>.stderr".
Captured run_command(Ctx& ctx, const ExecTarget& target, const CommandSpec& spec);

// The steps.
// Asks (one SelfSubjectRulesReview, a SelfSubjectAccessReview for the node) for what each kind of
// evidence needs, and fills ctx.denied with what is refused.
void preflight_collect(Ctx& ctx, const nlohmann::json& pod, const std::vector<std::string>& containers);
// After Ctrl-C: a not_collected line for every part of the plan that has no record, or was cut.
void account_for_interruption(Ctx& ctx, const std::vector<std::string>& containers);
// The notable lines (CollectReport::notable) from ctx.walk and ctx.sockets.
std::vector<std::string> notable_evidence(const Ctx& ctx);
void collect_api_state(Ctx& ctx, const nlohmann::json& pod);
void collect_logs(Ctx& ctx, const nlohmann::json& pod);
void collect_container(Ctx& ctx, const nlohmann::json& pod, const std::string& container);

// Entry-name helpers: "containers/<safe>/".
std::string container_dir(const std::string& container);

// The manifest's source of a command run for `target`: "exec web: cat /proc/net/tcp", or
// "exec kubectl-ir-1a2b3c (target app): ..." through a debug container.
std::string exec_source(const ExecTarget& target, const std::string& command);

// An API object or parsed artifact as a bundle entry: indented JSON and a final newline.
std::string pretty(const nlohmann::json& j);

// The argv as it is shown in a manifest ("exec web: cat /proc/net/tcp"), escaped and bounded.
std::string describe_argv(const std::vector<std::string>& argv);

}  // namespace ir::triage::collect_detail
