#include "cmd/exec.hpp"

#include <memory>

#include <fmt/format.h>

#include "cmd/errors.hpp"
#include "evidence/case.hpp"
#include "exec/session.hpp"
#include "util/sink.hpp"

namespace ir::cli {

namespace {
constexpr std::uint64_t k_terminal_default_limit = 64ULL * 1024 * 1024;
constexpr std::size_t k_max_stdin = 16 * 1024 * 1024;
}  // namespace

Command setup_exec(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<ExecOptions>();
  CLI::App* app = add_command(
      root, "exec", "Run a command in the pod's container, journaled to the case",
      {
          "kubectl ir exec web-7d4b9 -n shop -- ps -ef",
          "kubectl ir exec web-7d4b9 -n shop -c app --case case-42 -o /tmp/proc-net-tcp -- cat /proc/net/tcp",
          "kubectl ir exec web-7d4b9 -n shop --max-bytes 1Mi -- find / -xdev",
      },
      "Terminal output has control characters escaped; -o writes the raw bytes to a file. The\n"
      "command, time, exit code and SHA-256 of the output are appended to the case journal.\n"
      "The remote exit code becomes kubectl-ir's; 3 when the output was truncated or cut.\n"
      "Bounds: --max-bytes of stdout, 16Mi of stderr, --timeout for the whole stream, --idle-timeout\n"
      "without any output, --request-timeout (default 30s) to connect and get the upgrade answer.");
  app->add_option("POD", o->pod, "The pod")->required();
  app->add_option("-c,--container", o->container, "Container (default: the pod's default container)");
  app->add_option("--case", o->case_id, "Case id to journal under (default: a new case)");
  app->add_option("-o,--output-file", o->output_file, "Write raw stdout bytes to this file");
  app->add_option("--max-bytes", o->max_bytes, "Stop after this much stdout (e.g. 64Mi; default 64Mi on a terminal)");
  app->add_option("--timeout", o->timeout, "Total time limit (e.g. 5m; 0 = none)");
  app->add_option("--idle-timeout", o->idle_timeout, "Give up after this long without output");
  app->add_flag("-i,--stdin", o->stdin, "Pass stdin to the command (needs Kubernetes 1.30+)");
  app->add_option("COMMAND", o->command, "The command and its arguments, after --")->required();
  return {app, [o, &global](Io& io) { return run_exec_command(*o, global, io); }};
}

int run_exec_command(const ExecOptions& o, const GlobalOptions& global, Io& io) {
  // complete and validate before any network traffic
  exec::ExecLimits limits;
  const auto total = util::parse_duration(o.timeout);
  const auto idle = util::parse_duration(o.idle_timeout);
  if (!total || !idle) {
    return exit_with(io, Error(Errc::usage, "invalid --timeout or --idle-timeout: want a duration like 30s or 5m"));
  }
  limits.total_timeout = *total;
  if (idle->count() > 0) limits.idle_timeout = *idle;
  if (!o.max_bytes.empty()) {
    const auto max = parse_byte_size(o.max_bytes);
    if (!max) {
      return exit_with(
          io, Error(Errc::usage, "invalid --max-bytes \"" + o.max_bytes + "\": want e.g. 1048576, 64Mi or 1Gi"));
    }
    limits.max_stdout = *max;
  } else if (o.output_file.empty()) {
    limits.max_stdout = k_terminal_default_limit;
  }
  std::string stdin_data;
  if (o.stdin) {
    if (io.in == nullptr) return exit_with(io, Error(Errc::usage, "--stdin: no standard input available"));
    // Read at most one byte past the bound: a huge pipe must not be buffered whole.
    std::vector<char> buf(k_max_stdin + 1);
    io.in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
    stdin_data.assign(buf.data(), static_cast<std::size_t>(io.in->gcount()));
    if (stdin_data.size() > k_max_stdin) {
      return exit_with(io, Error(Errc::usage, fmt::format("stdin larger than {} bytes", k_max_stdin)));
    }
  }

  auto session = open_session(global.kube, io);
  if (!session) return exit_with(io, session.error());
  auto& s = **session;
  auto opened = open_case(io, s, o.case_id);
  if (!opened) return exit_with(io, opened.error());
  evidence::Case& journal = **opened;

  // stdout: raw to the file, or escaped to the terminal; hashed either way (the raw bytes).
  std::unique_ptr<util::Sink> file;
  std::unique_ptr<util::Sink> terminal_out;
  util::OstreamSink stdout_fd(io.out);
  util::OstreamSink stderr_fd(io.err);
  util::Sink* out_target = nullptr;
  if (!o.output_file.empty()) {
    auto f = util::FileSink::create(o.output_file);
    if (!f) return exit_with(io, f.error().context("output file"), k_exit_failure);
    file = std::move(*f);
    out_target = file.get();
  } else {
    terminal_out = std::make_unique<util::TerminalSink>(stdout_fd);
    out_target = terminal_out.get();
  }
  util::TerminalSink terminal_err(stderr_fd);
  util::HashingSink out(*out_target);
  util::HashingSink err(terminal_err);

  const exec::ExecRequest request{s.config.namespace_name, o.pod, o.container, o.command};
  const auto started = s.clock.now();
  auto result = exec::run_exec(*s.client, *s.connector, request, out, err, stdin_data, limits, io.cancel);
  (void)out.finish();
  (void)err.finish();

  nlohmann::json entry = {{"namespace", s.config.namespace_name},
                          {"pod", o.pod},
                          {"container", o.container},
                          {"command", o.command},
                          {"started", util::format_rfc3339(started)},
                          {"context", s.config.context_name},
                          {"server", s.config.server}};
  int code = k_exit_ok;
  if (!result) {
    entry["error"] = result.error().message;
    code = exit_code_for(result.error());
  } else {
    entry["protocol"] = result->protocol;
    entry["end"] = exec::to_string(result->end);
    if (!result->detail.empty()) entry["detail"] = result->detail;
    entry["exit_code"] = result->completed() ? nlohmann::json(result->exit_code) : nlohmann::json(nullptr);
    entry["stdout"] = {{"bytes_received", result->out.received}, {"bytes_kept", result->out.kept},
                       {"sha256", out.hex_digest()}};
    entry["stderr"] = {{"bytes_received", result->err.received}, {"bytes_kept", result->err.kept},
                       {"sha256", err.hex_digest()}};
    if (!o.output_file.empty()) entry["output_file"] = o.output_file;
    code = result->completed() ? result->exit_code : k_exit_partial;
    if (result->end == exec::EndReason::cancelled) code = k_exit_interrupted;
  }
  if (auto j = journal.log("exec", entry); !j) print_warning(io, "journal: " + j.error().message);

  if (!result) {
    print_error(io, result.error());
  } else if (!result->completed()) {
    print_error(io, Error(Errc::failure, fmt::format("exec in {}/{}: {}", s.config.namespace_name, o.pod,
                                                     result->detail))
                        .with_hint("the remote exit code is unknown; what arrived was kept and journaled in " +
                                   journal.journal().path()));
  }
  return code;
}

}  // namespace ir::cli
